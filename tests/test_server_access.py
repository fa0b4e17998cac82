"""Deployment access rules (API keys, admin listing), cancelling a running conversion through the API, and
idle-session expiry, against a real server process or a real in-process Service."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from server_helpers import Client, Server

KEY = "k-test-1234567890"
ADMIN = "admin-secret-0987654321"
METRICS = "metrics-secret-5555555555"
DESCRIPTION = "I'm Dr. Jane Smith from MIT. Mouse M12, an 8 week old male mouse, recorded in CA1."


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    from nwbagent.sample import make_spikeglx_sample

    data = tmp_path_factory.mktemp("keyed")
    roots = data / "roots"
    long = make_spikeglx_sample(roots / "long", 40.0, lf=False)
    env = {
        "NWBAGENT_API_KEYS": json.dumps([KEY, "other-key-abcdef"]),
        "NWBAGENT_ADMIN_TOKEN": ADMIN,
        "NWBAGENT_METRICS_TOKEN": METRICS,
        "NWBAGENT_DATA_ROOTS": json.dumps([str(roots)]),
    }
    srv = Server(data / "service", env).start()
    yield srv, long
    srv.stop()


def test_api_keys_are_required_and_own_their_sessions(keyed: tuple[Server, Path]) -> None:
    server, _ = keyed
    with httpx.Client(base_url=server.base_url) as anon:
        r = anon.post("/api/sessions")
        assert r.status_code == 401 and r.json()["error"] == "api_key_required"
        assert anon.get("/api/health").status_code == 200  # health stays open for probes
    with (
        httpx.Client(base_url=server.base_url, headers={"X-API-Key": KEY}) as mine,
        httpx.Client(
            base_url=server.base_url, headers={"Authorization": "Bearer other-key-abcdef"}
        ) as theirs,
    ):
        sid = mine.post("/api/sessions").json()["id"]
        mine.cookies.clear()  # the key alone lists the key's sessions
        assert sid in {s["id"] for s in mine.get("/api/sessions").json()}
        assert sid not in {s["id"] for s in theirs.get("/api/sessions").json()}


def test_every_endpoint_needs_its_credential(keyed: tuple[Server, Path]) -> None:
    """Issue #13 item 11, the README's endpoint table: with API keys set, only the liveness probe (status
    alone) and the pages' static shell answer without a key; /metrics has its own token."""
    server, _ = keyed
    with httpx.Client(base_url=server.base_url) as anon:
        r = anon.get("/api/health")
        assert r.status_code == 200 and r.json() == {"status": "ok"}  # no paths, disk sizes or PIDs
        for path in ("/api/samples", "/api/schema/metadata", "/openapi.json", "/api/sessions"):
            r = anon.get(path)
            assert r.status_code == 401 and r.json()["error"] == "api_key_required", path
        assert anon.get("/metrics").status_code == 401
        assert anon.get("/docs").status_code == 404 and anon.get("/redoc").status_code == 404
        assert anon.get("/").status_code == 200 and anon.get("/static/js/api.js").status_code == 200
    with httpx.Client(base_url=server.base_url, headers={"X-API-Key": KEY}) as keyed_client:
        full = keyed_client.get("/api/health").json()
        assert full["status"] == "ok" and full["disk"]["path"] and "worker_pids" in full["executor"]
        for path in ("/api/samples", "/api/schema/metadata", "/openapi.json"):
            assert keyed_client.get(path).status_code == 200, path
        r = keyed_client.get("/metrics")  # an API key is not the metrics token
        assert r.status_code == 401 and r.json()["error"] == "metrics_token_required"
    for token in (METRICS, ADMIN):
        r = httpx.get(f"{server.base_url}/metrics", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and "http_requests_total" in r.text
    r = httpx.get(f"{server.base_url}/api/health", headers={"Authorization": f"Bearer {ADMIN}"})
    assert "executor" in r.json()


def test_admin_listing_needs_the_admin_token(keyed: tuple[Server, Path]) -> None:
    server, _ = keyed
    with httpx.Client(base_url=server.base_url, headers={"X-API-Key": KEY}) as c:
        sid = c.post("/api/sessions").json()["id"]
        assert c.get("/api/admin/sessions").status_code == 403
        r = c.get("/api/admin/sessions", headers={"Authorization": f"Bearer {ADMIN}"})
        # The API key dependency does not apply to the admin route; the admin token does.
        assert r.status_code == 200 and sid in {s["id"] for s in r.json()}


def test_cancel_a_running_conversion_then_retry(keyed: tuple[Server, Path]) -> None:
    server, long = keyed
    client = Client(server.base_url)
    client.http.headers["X-API-Key"] = KEY
    sid, _ = client.new_session()
    client.http.post(f"/api/sessions/{sid}/source", json={"path": str(long)})
    client.wait_for(sid, {"collecting_metadata"})
    client.http.post(f"/api/sessions/{sid}/messages", json={"text": DESCRIPTION})
    client.wait_for(sid, {"ready"})
    client.http.post(f"/api/sessions/{sid}/actions/convert")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.status(sid)["job"]
        if job and job["kind"] == "convert" and job["status"] == "running":
            break
        time.sleep(0.1)
    started = time.perf_counter()
    r = client.http.post(f"/api/sessions/{sid}/actions/cancel")
    assert r.status_code == 202 and r.json() == {"cancelled": True}
    status = client.wait_for(sid, {"failed"}, timeout=30)
    assert time.perf_counter() - started < 10
    assert status["job"]["status"] == "cancelled" and "converting" in status["allowed"]
    chat = client.http.get(f"/api/sessions/{sid}").json()["chat"]
    assert any("cancelled" in t["text"] for t in chat)
    out = server.data_dir / "sessions" / sid / "out" / "nwb"
    assert not list(out.rglob("*.nwb")) and not list(out.rglob("*.partial*"))
    assert client.http.post(f"/api/sessions/{sid}/actions/cancel").status_code == 409  # nothing to cancel
    client.close()


def test_idle_sessions_are_expired_with_their_files(tmp_path: Path) -> None:
    from nwbagent.server.runtime import Service
    from nwbagent.settings import Settings

    svc = Service(Settings(data_dir=str(tmp_path), llm_provider="rules"))
    try:
        from nwbagent.agents.state import SessionState
        from nwbagent.server.auth import hash_token

        old, fresh = SessionState(), SessionState()
        for s in (old, fresh):
            svc.store.create(s, token_hash=hash_token("t" * 43))
            (svc.session_dir(s.id) / "uploads").mkdir(parents=True)
            (svc.session_dir(s.id) / "uploads" / "x.bin").write_bytes(b"x")
        time.sleep(0.3)
        svc.store.touch(fresh.id)
        removed = svc.expire_idle(timedelta(seconds=0.2))
        assert removed == [old.id]
        assert not svc.session_dir(old.id).exists() and svc.session_dir(fresh.id).exists()
        assert svc.store.list_ids() == [fresh.id]
    finally:
        asyncio.run(svc.stop())
