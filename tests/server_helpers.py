"""Run the real service in a subprocess (uvicorn, SQLite or PostgreSQL, local executor) for API tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "NWBAGENT_DATA_DIR": str(data_dir),
            "NWBAGENT_PORT": str(self.port),
            "NWBAGENT_LLM_PROVIDER": "rules",
            "NWBAGENT_TURN_WAIT_S": "2",
            # Tests poll far faster than any client should; test_ratelimit.py switches limits back on.
            "NWBAGENT_RATE_LIMITS_ENABLED": "false",
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / f"server-{self.port}.log"

    def start(self, timeout: float = 90.0) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nwbagent.cli", "serve"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a crash test can kill it with its workers
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}:\n{self.log.read_text()[-4000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/api/health", timeout=2).status_code in (200, 503):
                    return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server did not answer within {timeout} s:\n{self.log.read_text()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL to the server and its worker processes: a crash; no shutdown code runs anywhere."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@contextlib.contextmanager
def running(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    server = Server(data_dir, env).start()
    try:
        yield server
    finally:
        server.stop()


class Client:
    """One user's browser-less client: its own cookies, so sessions of two clients never mix."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60)
        self.base_url = base_url

    def new_session(self) -> tuple[str, str]:
        r = self.http.post("/api/sessions")
        assert r.status_code == 201, r.text
        body = r.json()
        return body["id"], body["token"]

    def status(self, sid: str) -> dict[str, Any]:
        r = self.http.get(f"/api/sessions/{sid}/status")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def wait_for(self, sid: str, states: set[str], timeout: float = 180.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            last = self.status(sid)
            if last["state"] in states and not last["busy"]:
                return last
            time.sleep(0.2)
        raise AssertionError(f"session {sid} did not reach {states}: {json.dumps(last)[:2000]}")

    def close(self) -> None:
        self.http.close()
