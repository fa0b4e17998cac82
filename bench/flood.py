"""One user flooding a session with metadata must not slow the others (issue #13, item 3).

Starts the real service (uvicorn, SQLite, local executor, rules; rate limits off so the flood is not simply
refused as too many requests) in a subprocess, creates a few "other users'" sessions, then measures the
latency of their ``/status`` and of ``/api/health`` in three phases:

1. quiet: nobody else is doing anything;
2. big values: one client sends three ``PATCH …/metadata`` with a 20 MB ``session_description`` at once;
3. many values: one client sends 300 ``PATCH …/metadata`` with 9,000-character values (4 at a time), so
   its session grows as large as the limits let it.

Prints p50/p99 of each, the ratio to the quiet phase, and what the flood requests were answered.
``--src DIR`` runs another checkout's code (e.g. ``--src ../main/src`` for the numbers before a change).

    .venv/bin/python bench/flood.py [--src DIR]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

VICTIMS = 4
BIG = 20 * 1024 * 1024
MANY = 300
MANY_CHARS = 9_000


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(ms: list[float], q: float) -> float:
    ordered = sorted(ms)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Probe:
    """Polls victims' status and health from two threads until stopped; keeps every latency in ms."""

    def __init__(self, base: str, victims: list[tuple[str, str]]) -> None:
        self.base = base
        self.victims = victims
        self.times: dict[str, list[float]] = collections.defaultdict(list)
        self.errors: collections.Counter[str] = collections.Counter()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _loop(self, name: str, request: Callable[[httpx.Client, int], httpx.Response]) -> None:
        with httpx.Client(base_url=self.base, timeout=60) as http:
            i = 0
            while not self._stop.is_set():
                t = time.perf_counter()
                r = request(http, i)
                self.times[name].append((time.perf_counter() - t) * 1000)
                if r.status_code != 200:
                    self.errors[f"{name} {r.status_code}"] += 1
                i += 1
                time.sleep(0.01)

    def start(self) -> None:
        def status(http: httpx.Client, i: int) -> httpx.Response:
            sid, token = self.victims[i % len(self.victims)]
            return http.get(f"/api/sessions/{sid}/status", headers={"X-Session-Token": token})

        def health(http: httpx.Client, i: int) -> httpx.Response:
            return http.get("/api/health")

        for name, fn in (("status", status), ("health", health)):
            thread = threading.Thread(target=self._loop, args=(name, fn), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> dict[str, list[float]]:
        self._stop.set()
        for thread in self._threads:
            thread.join(120)
        return dict(self.times)


def _session(http: httpx.Client) -> tuple[str, str]:
    r = http.post("/api/sessions")
    r.raise_for_status()
    return r.json()["id"], r.json()["token"]


def _body(value: str) -> bytes:
    """Encoded before a phase starts, so the bench's own JSON encoding does not slow its probes."""
    return json.dumps({"fields": {"session_description": value}}).encode()


def _patch(base: str, sid: str, token: str, body: bytes) -> str:
    with httpx.Client(base_url=base, timeout=600) as http:
        try:
            r = http.patch(
                f"/api/sessions/{sid}/metadata",
                content=body,
                headers={"X-Session-Token": token, "Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            return type(exc).__name__
        return str(r.status_code)


def _phase(base: str, victims: list[tuple[str, str]], work: Callable[[], list[str]]) -> tuple[dict, dict]:
    probe = Probe(base, victims)
    probe.start()
    time.sleep(0.5)
    started = time.perf_counter()
    answers = collections.Counter(work())
    elapsed = time.perf_counter() - started
    time.sleep(1.0)  # what the flood left behind (a grown session, a busy database) still counts
    times = probe.stop()
    return times, {"answers": dict(answers), "seconds": round(elapsed, 1), "errors": dict(probe.errors)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", help="run the service from this source folder (PYTHONPATH)")
    parser.add_argument("--quiet-seconds", type=float, default=6.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        port = _port()
        env = {
            **os.environ,
            "NWBAGENT_DATA_DIR": str(Path(tmp) / "data"),
            "NWBAGENT_PORT": str(port),
            "NWBAGENT_LLM_PROVIDER": "rules",
            "NWBAGENT_RATE_LIMITS_ENABLED": "false",
            "NWBAGENT_TURN_WAIT_S": "2",
        }
        if args.src:
            env["PYTHONPATH"] = str(Path(args.src).resolve())
        log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "nwbagent.cli", "serve"],
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, timeout=30) as http:
                for _ in range(600):
                    try:
                        if http.get("/api/health").status_code in (200, 503):
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.2)
                victims = [_session(http) for _ in range(VICTIMS)]
                attacker = _session(http)

            results: dict[str, tuple[dict, dict]] = {}
            results["quiet"] = _phase(base, victims, lambda: [time.sleep(args.quiet_seconds) or "-"])

            big = _body("x" * BIG)

            def big_values() -> list[str]:
                with ThreadPoolExecutor(3) as pool:
                    return list(pool.map(lambda _: _patch(base, *attacker, big), range(3)))

            results["big values"] = _phase(base, victims, big_values)

            many = [_body(f"{i:05d}" + "y" * (MANY_CHARS - 5)) for i in range(MANY)]

            def many_values() -> list[str]:
                with ThreadPoolExecutor(4) as pool:
                    return list(pool.map(lambda body: _patch(base, *attacker, body), many))

            results["many values"] = _phase(base, victims, many_values)

            with httpx.Client(base_url=base, timeout=120) as http:
                t = time.perf_counter()
                r = http.get(f"/api/sessions/{attacker[0]}/status", headers={"X-Session-Token": attacker[1]})
                own_ms = (time.perf_counter() - t) * 1000
            db = Path(tmp) / "data" / "nwbagent.db"
            db_mb = sum(p.stat().st_size for p in db.parent.glob("nwbagent.db*")) / 1e6
        finally:
            with_group = proc.pid
            os.killpg(with_group, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(with_group, signal.SIGKILL)

    quiet = results["quiet"][0]
    print(f"service from {args.src or 'this checkout'}; {VICTIMS} other sessions polled")
    print(f"{'phase':12} {'endpoint':7} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'p99/quiet':>10}")
    for phase, (times, info) in results.items():
        for name in ("status", "health"):
            ms = times.get(name, [])
            if not ms:
                continue
            ratio = _pct(ms, 0.99) / _pct(quiet[name], 0.99)
            print(f"{phase:12} {name:7} {len(ms):5} {_pct(ms, 0.5):8.1f} {_pct(ms, 0.99):8.1f} {ratio:9.1f}x")
        if phase != "quiet":
            answered = f"flood answered {info['answers']} in {info['seconds']} s"
            print(f"{'':12} {answered}; probe errors {info['errors']}")
    print(f"the flooding session's own status afterwards: {r.status_code} in {own_ms:.0f} ms")
    print(f"database files afterwards: {db_mb:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
