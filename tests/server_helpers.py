"""Run the real service for API tests: in this process (uvicorn on a thread, the app's own lifespan, a real
port), or in a subprocess where a process must die (kill/restart) or must own process-wide state.

In-process servers skip the interpreter start and the imports each subprocess pays (seconds each), and the
bundled sample recording every server makes at start is written once per test process and hard-linked into
each server's data folder (it is read-only to sessions). Both kinds listen through
:func:`nwbagent.server.app.uvicorn_config`, exactly as ``nwbagent serve`` does.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
_ENV_LOCK = threading.Lock()
_SAMPLE_LOCK = threading.Lock()
_sample: Path | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _shared_sample() -> Path:
    """One bundled sample per test process, made the way the service makes it."""
    global _sample
    with _SAMPLE_LOCK:
        if _sample is None:
            from nwbagent.server.samples import ensure_sample

            root = Path(tempfile.mkdtemp(prefix="nwbagent-test-sample-"))
            atexit.register(shutil.rmtree, root, True)
            ensure_sample(root)
            _sample = root
        return _sample


def seed_sample(data_dir: Path) -> None:
    """Hard-link the shared sample into ``data_dir`` so the service finds it made (a copy across disks)."""
    from nwbagent.server.samples import sample_path

    source = sample_path(_shared_sample(), "neuropixels")
    target = sample_path(data_dir, "neuropixels")
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link)


def settings_from_env(env: dict[str, str]) -> Any:
    """The Settings a ``nwbagent serve`` started with ``env`` would read (pydantic-settings parses it)."""
    from nwbagent.settings import Settings

    with _ENV_LOCK:
        saved = dict(os.environ)
        try:
            os.environ.clear()
            os.environ.update(env)
            return Settings()
        finally:
            os.environ.clear()
            os.environ.update(saved)


class _LogFile(logging.Handler):
    """The in-process server's log lines, in the file a subprocess server would write."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.INFO)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self._file.write(self.format(record) + "\n")
            self._file.flush()

    def close(self) -> None:
        self._file.close()
        super().close()


_LOGGERS = ("nwbagent", "uvicorn", "uvicorn.error")


class Server:
    """The service on ``127.0.0.1:<port>`` with ``env`` as its environment.

    ``process=True`` runs it as ``python -m nwbagent.cli serve`` in its own process group: needed by tests
    that kill it, restart it on the same data, or read process-wide state (Prometheus metrics).
    """

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        port: int | None = None,
        *,
        process: bool = False,
        sample: bool = True,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process = process
        self.sample = sample
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
        self._uvicorn: Any = None
        self._thread: threading.Thread | None = None
        self._handler: _LogFile | None = None

    def start(self, timeout: float = 90.0) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.sample:
            seed_sample(self.data_dir)
        if not self.process:
            return self._start_here(timeout)
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

    def _start_here(self, timeout: float) -> Server:
        import uvicorn

        from nwbagent.server.app import uvicorn_config

        self._handler = _LogFile(self.log)
        for name in _LOGGERS:
            logging.getLogger(name).addHandler(self._handler)
        logging.getLogger("nwbagent").setLevel(logging.INFO)
        settings = settings_from_env(self.env)
        self._uvicorn = uvicorn.Server(uvicorn_config(settings, log_level="warning", own_logging=False))
        self._thread = threading.Thread(target=self._uvicorn.run, name=f"server-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._uvicorn.started:
                return self
            if not self._thread.is_alive():
                self._detach_log()
                raise RuntimeError(f"server did not start:\n{self.log.read_text()[-4000:]}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not start within {timeout} s:\n{self.log.read_text()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL to the server and its worker processes: a crash; no shutdown code runs anywhere."""
        if not self.process:
            raise RuntimeError("kill() needs Server(..., process=True): an in-process server cannot die")
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self._thread is not None:
            self._uvicorn.should_exit = True
            self._thread.join(timeout=60)
            self._thread = None
            self._detach_log()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def _detach_log(self) -> None:
        if self._handler is not None:
            for name in _LOGGERS:
                logging.getLogger(name).removeHandler(self._handler)
            self._handler.close()
            self._handler = None


@contextlib.contextmanager
def running(data_dir: Path, env: dict[str, str] | None = None, *, process: bool = False) -> Iterator[Server]:
    server = Server(data_dir, env, process=process).start()
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
