"""A full disk, a read-only folder, a database that refuses writes and a disk too small for the sample, all
real (issue #13 items 6, 7, 13): small tmpfs mounts, a read-only bind mount and a PostgreSQL role whose
write privileges are revoked. Mounting needs root (CAP_SYS_ADMIN), as ``make test`` has on these machines;
without it the tests fail saying so, they never skip.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from conftest_db import pg_url  # noqa: F401  (the fixture)
from nwbagent.server.db.engine import make_engine
from server_helpers import Client, Server, free_port

MiB = 1024 * 1024


def _mount(*args: str) -> None:
    r = subprocess.run(["mount", *args], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(
            f"`mount {' '.join(args)}` failed ({r.stderr.strip()}). These tests make a real full disk and a "
            "real read-only folder with mounts, which needs root (CAP_SYS_ADMIN): run them as root, as "
            "`make test` does on the development machines.",
            pytrace=False,
        )


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """``path`` as a read-only folder (a read-only bind mount over itself): writes fail with EROFS."""
    _mount("--bind", str(path), str(path))
    try:
        _mount("-o", "remount,bind,ro", str(path))
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(folder: Path) -> Path:
    """Write until the disk is full; returns the filler file."""
    filler = folder / "filler.bin"
    block = b"\0" * MiB
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(block)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    with contextlib.suppress(OSError), open(filler, "ab", buffering=0) as fh:
        while True:
            fh.write(b"\0" * 4096)
    return filler


def _json_error(r: httpx.Response, status: int, error: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    body = dict(r.json())
    assert body["error"] == error and body["message"] and body["hint"], body
    return body


# ---- a full disk (item 6, and item 7's ENOSPC during an upload) --------------------------------------------


def test_full_disk_health_is_degraded_reads_and_deletes_work(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with small_disk(data / "sessions", "24m") as sessions:
        server = Server(data, {"NWBAGENT_MIN_FREE_DISK_BYTES": str(4 * MiB)}).start()
        client = Client(server.base_url)
        try:
            assert client.http.get("/api/health").json()["status"] == "ok"
            sid, _ = client.new_session()
            r = client.http.post(f"/api/sessions/{sid}/files", files=[("files", ("rec/a.meta", b"k=v\n"))])
            assert r.status_code == 201, r.text
            other, _ = client.new_session()
            r = client.http.post(
                f"/api/sessions/{other}/files", files=[("files", ("rec/big.bin", os.urandom(30 * MiB)))]
            )
            body = _json_error(r, 507, "disk_full")
            assert "rec/big.bin" in str(body["message"])
            assert not list((sessions / other).rglob("*.bin"))  # the partial file is gone

            filler = _fill(sessions)
            r = client.http.get("/api/health")
            assert r.status_code == 503, r.text
            health = r.json()
            assert health["status"] == "degraded"
            assert any("low disk space" in reason for reason in health["reasons"]), health
            assert client.status(sid)["state"] == "created"  # reads work
            assert client.http.get(f"/api/sessions/{sid}/metadata").status_code == 200
            assert client.http.delete(f"/api/sessions/{sid}").status_code == 204  # and so do deletes
            assert not (sessions / sid).exists()
            filler.unlink()
            assert client.http.get("/api/health").json()["status"] == "ok"
        finally:
            client.close()
            server.stop()


# ---- a read-only uploads folder (item 7) -------------------------------------------------------------------


def test_read_only_upload_folder_is_a_json_503(tmp_path: Path) -> None:
    server = Server(tmp_path / "data").start()
    client = Client(server.base_url)
    try:
        sid, _ = client.new_session()
        r = client.http.post(f"/api/sessions/{sid}/files", files=[("files", ("a.meta", b"k=v\n"))])
        assert r.status_code == 201, r.text
        uploads = server.data_dir / "sessions" / sid / "uploads"
        with read_only(uploads):
            r = client.http.post(f"/api/sessions/{sid}/files", files=[("files", ("rec/b.bin", b"x" * 1000))])
            body = _json_error(r, 503, "storage_unavailable")
            assert "NWBAGENT_DATA_DIR" in str(body["hint"]) and "rec/b.bin" in str(body["message"])
        with read_only(server.data_dir / "sessions"):
            health = client.http.get("/api/health").json()
            assert health["status"] == "degraded"
            assert any("read-only" in reason for reason in health["reasons"]), health
        log = server.log.read_text()
        assert "Traceback" not in log, log[-3000:]
    finally:
        client.close()
        server.stop()


# ---- a database that refuses writes (item 6) ---------------------------------------------------------------


@pytest.fixture
def revocable_pg(pg_url: str) -> Iterator[tuple[str, str, str]]:  # noqa: F811
    """A login role owning its own schema: (URL to use as that role, role, schema). Dropped afterwards."""
    # Named like conftest_db's schemas, so a run killed before the clean-up has its schema swept later.
    role = f"nwbagent_test_{os.getpid()}_ro{secrets.token_hex(3)}"
    admin = make_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'CREATE SCHEMA "{role}" AUTHORIZATION "{role}"'))
    url = make_url(pg_url).set(username=role).update_query_dict({"options": f"-csearch_path={role}"})
    try:
        yield url.render_as_string(hide_password=False), role, role
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{role}" CASCADE'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def test_database_refusing_writes_degrades_health_and_reads_still_work(
    tmp_path: Path,
    pg_url: str,  # noqa: F811  (the fixture)
    revocable_pg: tuple[str, str, str],
) -> None:
    url, role, schema = revocable_pg
    server = Server(tmp_path / "data", {"NWBAGENT_DATABASE_URL": url}).start()
    client = Client(server.base_url)
    admin = make_engine(pg_url)
    try:
        sid, _ = client.new_session()
        assert client.http.get("/api/health").json()["status"] == "ok"
        with admin.begin() as conn:
            conn.execute(text(f'REVOKE INSERT, UPDATE ON ALL TABLES IN SCHEMA "{schema}" FROM "{role}"'))
        r = client.http.get("/api/health")
        assert r.status_code == 503, r.text
        reasons = r.json()["reasons"]
        assert any("database not writable" in x and "permission denied" in x for x in reasons), reasons
        for _ in range(3):  # every authenticated request used to write first, and failed
            assert client.status(sid)["state"] == "created"
            assert client.http.get(f"/api/sessions/{sid}").status_code == 200
        r = client.http.patch(f"/api/sessions/{sid}/metadata", json={"fields": {"lab": "Smith lab"}})
        assert r.status_code >= 500 and r.json()["error"] and "Traceback" not in r.text
        assert client.http.delete(f"/api/sessions/{sid}").status_code == 204
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'GRANT INSERT, UPDATE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'))
        admin.dispose()
        client.close()
        server.stop()


# ---- a disk too small for the bundled sample (item 13) -----------------------------------------------------


def test_start_on_a_small_disk_fails_clearly_and_leaves_nothing(tmp_path: Path) -> None:
    with small_disk(tmp_path / "small", "64m") as disk:
        env = {
            **os.environ,
            "NWBAGENT_DATA_DIR": str(disk / "data"),
            "NWBAGENT_PORT": str(free_port()),
            "NWBAGENT_LLM_PROVIDER": "rules",
        }
        r = subprocess.run(
            [sys.executable, "-m", "nwbagent.cli", "serve"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 2, r.stdout + r.stderr
        assert "needs 238.7 MiB of free space, but only 64 MiB is free" in r.stderr and "Fix:" in r.stderr, (
            r.stderr
        )
        assert "Traceback" not in r.stderr
        used = sum(p.stat().st_size for p in disk.rglob("*") if p.is_file())
        assert used < MiB, [str(p) for p in disk.rglob("*")]
        assert not list(disk.rglob("*.partial"))


def test_a_sample_write_that_fails_midway_is_removed(tmp_path: Path) -> None:
    """A disk that fills up while the sample is written (here: a file size limit, which fails the write
    the same way) must not keep the partial copy."""
    script = (
        "import resource, signal, sys\n"
        "from pathlib import Path\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (50 * 2**20, 50 * 2**20))\n"
        "from nwbagent.errors import UserFacingError\n"
        "from nwbagent.server.samples import ensure_sample\n"
        "try:\n"
        "    ensure_sample(Path(sys.argv[1]))\n"
        "except UserFacingError as exc:\n"
        "    print(exc.paragraph())\n"
        "    sys.exit(2)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert "failed (File too large)" in r.stdout and "partial copy was removed" in r.stdout, r.stdout
    assert not (tmp_path / "samples" / "neuropixels.partial").exists()
    assert not list((tmp_path / "samples").rglob("*.bin"))
    assert json.dumps(r.stdout)  # one printable paragraph
