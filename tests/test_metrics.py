"""/metrics of a real server process after a real conversion, upload and WebSocket; and switched off."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from metrics_helpers import ENV, convert_sample, families, scrape, value
from nwbagent.server.metrics import METRIC_FAMILIES
from server_helpers import Client, Server

SAMPLE_FORMAT = "SpikeGLXRecordingInterface+SpikeGLXSyncChannelInterface"  # distinct interfaces, sorted


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # NeuroConv's own writer: the sample's conversion then lasts seconds, long enough to be seen running.
    srv = Server(
        tmp_path_factory.mktemp("metrics"), {**ENV, "NWBAGENT_FAST_WRITE": "false"}, process=True
    ).start()
    yield srv
    srv.stop()


def test_a_conversion_upload_and_websocket_show_up(server: Server) -> None:
    client = Client(server.base_url)
    before = scrape(server.base_url)
    assert families(before) >= METRIC_FAMILIES, METRIC_FAMILIES - families(before)
    for gauge in ("jobs_queued", "jobs_running", "websocket_connections"):
        assert value(before, gauge) == 0.0, gauge

    sid, token = client.new_session()
    ws_url = f"ws://127.0.0.1:{server.port}/api/sessions/{sid}/events?token={token}"

    async def with_open_websocket() -> float:
        async with websockets.connect(ws_url) as ws:
            await asyncio.wait_for(ws.recv(), timeout=10)  # the snapshot: subscribed by now
            return value(await asyncio.to_thread(scrape, server.base_url), "websocket_connections")

    assert asyncio.run(with_open_websocket()) == 1.0

    upload = [("files", ("notes/readme.txt", b"x" * 2_000_000))]
    r = client.http.post(f"/api/sessions/{sid}/files", files=upload)
    assert r.status_code == 201, r.text

    running: list[float] = []
    convert_sample(client, sid, lambda: running.append(value(scrape(server.base_url), "jobs_running")))
    assert 1.0 in running  # the conversion was seen running (one slot: jobs_queued stays 0)
    text = scrape(server.base_url)

    assert value(text, "conversion_requests_total", format=SAMPLE_FORMAT, status="succeeded") >= 1
    assert value(text, "conversion_duration_seconds_count", format=SAMPLE_FORMAT) >= 1
    assert value(text, "conversion_duration_seconds_bucket", format=SAMPLE_FORMAT, le=600.0) >= 1
    # The stub preview and the full file were both inspected.
    inspections = sum(
        value(text, "validation_checks_total", status=s) for s in ("passed", "passed_with_issues", "failed")
    )
    assert inspections >= 2
    assert value(text, "inspector_findings_total") >= 1
    assert value(text, "file_upload_size_bytes_count") == 1
    assert value(text, "file_upload_size_bytes_bucket", le=1e6) == 0
    assert value(text, "file_upload_size_bytes_bucket", le=5e6) == 1
    assert value(text, "active_sessions") >= 1

    route = "/api/sessions/{session_id}/status"
    assert value(text, "http_requests_total", method="GET", route=route, status="200") >= 3
    assert value(text, "http_request_duration_seconds_count", method="GET", route=route) >= 3
    assert sid not in text and token not in text  # route templates only, never a raw path
    # The WebSocket closed before the conversion: its events found it gone.
    assert value(text, "websocket_connections") == 0.0
    assert value(text, "jobs_queued") == 0.0 and value(text, "jobs_running") == 0.0

    r = client.http.post(f"/api/sessions/{sid}/actions/accept")
    assert r.status_code == 200, r.text
    active = value(scrape(server.base_url), "active_sessions")
    assert active == value(text, "active_sessions") - 1
    client.close()


def test_unknown_paths_share_one_series(server: Server) -> None:
    for path in ("/nope", "/wp-login.php", "/api/sessions/abc/../../etc"):
        httpx.get(f"{server.base_url}{path}")
    text = scrape(server.base_url)
    assert value(text, "http_requests_total", route="unmatched", status="404") >= 2
    assert "wp-login" not in text


def test_switched_off_there_is_no_metrics_route(tmp_path: Path) -> None:
    srv = Server(tmp_path, {**ENV, "NWBAGENT_METRICS_ENABLED": "false"}, process=True).start()
    try:
        r = httpx.get(f"{srv.base_url}/metrics")
        assert r.status_code == 404 and r.json()["error"] == "http_error"
        assert httpx.get(f"{srv.base_url}/api/health").status_code in (200, 503)
    finally:
        srv.stop()
