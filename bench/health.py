"""Service responsiveness: /api/health latency while idle and while a conversion runs, and the time from
handing over a recording to the agents' first question.

Starts the real service (uvicorn, SQLite, local executor, rules) in a subprocess on a free port, then:
1. idle baseline: 200 health requests;
2. uploads the real SpikeGLX excerpt and times upload → first question (the questions the agent asks);
3. picks the bundled sample, answers, converts a 30 s synthetic Neuropixels recording and probes health
   throughout the conversion.
Prints medians, p95 and the during/idle ratio.

    .venv/bin/python bench/health.py
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ephy_testing_data"
DESCRIPTION = "I'm Dr. Jane Smith from MIT. Mouse M12, an 8 week old male mouse, recorded in CA1."


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _probe(client: httpx.Client, n: int | None = None, until: object = None) -> list[float]:
    times: list[float] = []
    while (n is not None and len(times) < n) or (until is not None and until()):  # type: ignore[operator]
        t = time.perf_counter()
        r = client.get("/api/health")
        times.append(time.perf_counter() - t)
        assert r.status_code == 200, r.text
        time.sleep(0.01)
    return times


def _stats(name: str, times: list[float]) -> float:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    med = statistics.median(ms)
    print(f"{name:38} n={len(ms):4}  median {med:6.2f} ms  p95 {p95:6.2f} ms  max {ms[-1]:7.2f} ms")
    return med


def _wait(client: httpx.Client, sid: str, states: set[str], timeout: float = 300) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/api/sessions/{sid}/status").json()
        if status["state"] in states and not status["busy"]:
            return dict(status)
        time.sleep(0.05)
    raise SystemExit(f"session did not reach {states}")


def main() -> int:
    from nwbagent.sample import make_spikeglx_sample

    with tempfile.TemporaryDirectory() as tmp:
        roots = Path(tmp) / "roots"
        long = make_spikeglx_sample(roots / "long", 30.0, lf=False)
        port = _port()
        env = {
            **os.environ,
            "NWBAGENT_DATA_DIR": str(Path(tmp) / "data"),
            "NWBAGENT_PORT": str(port),
            "NWBAGENT_LLM_PROVIDER": "rules",
            "NWBAGENT_DATA_ROOTS": json.dumps([str(roots)]),
            "NWBAGENT_RATE_LIMITS_ENABLED": "false",  # the probes poll far faster than a user may
        }
        log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "nwbagent.cli", "serve"], env=env, stdout=log, stderr=log
        )
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        try:
            for _ in range(300):
                try:
                    if client.get("/api/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            idle = _probe(client, n=200)

            sid = client.post("/api/sessions").json()["id"]
            folder = DATA / "spikeglx" / "TEST_20210920_0_g0"
            files = [("files", (f"{folder.name}/{p.name}", p.read_bytes())) for p in sorted(folder.iterdir())]
            t = time.perf_counter()
            client.post(f"/api/sessions/{sid}/files", params={"start": "true"}, files=files)
            status = _wait(client, sid, {"collecting_metadata"})
            first_question = time.perf_counter() - t
            asked = [q["field"] for q in status["questions"]]  # type: ignore[index,union-attr]

            sid = client.post("/api/sessions").json()["id"]
            client.post(f"/api/sessions/{sid}/source", json={"path": str(long)})
            _wait(client, sid, {"collecting_metadata"})
            client.post(f"/api/sessions/{sid}/messages", json={"text": DESCRIPTION})
            _wait(client, sid, {"ready"})
            t = time.perf_counter()

            # The convert request may wait for the whole conversion (NWBAGENT_TURN_WAIT_S), so it runs in
            # another thread with its own connection while this one probes health.
            def post_convert() -> None:
                with httpx.Client(
                    base_url=client.base_url, headers=client.headers, cookies=client.cookies, timeout=600
                ) as other:
                    r = other.post(f"/api/sessions/{sid}/actions/convert")
                    if r.status_code >= 400:
                        raise SystemExit(f"convert refused: {r.status_code} {r.text}")

            poster = threading.Thread(target=post_convert)
            poster.start()

            deadline = time.monotonic() + 600

            def converting() -> bool:
                if time.monotonic() > deadline:
                    raise SystemExit("the conversion did not finish within 10 minutes")
                state = client.get(f"/api/sessions/{sid}/status").json()["state"]
                return poster.is_alive() or state in ("ready", "converting", "inspecting")

            during = _probe(client, until=converting)
            poster.join()
            conversion_s = time.perf_counter() - t

            print(
                f"upload of the real SpikeGLX excerpt → first question: {first_question:.2f} s (asks {asked})"
            )
            idle_med = _stats("health, idle", idle)
            during_med = _stats(f"health, during a {conversion_s:.1f} s conversion", during)
            print(f"ratio during/idle (median): {during_med / idle_med:.2f}x")
        finally:
            client.close()
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
