"""What a real server process does with requests it must refuse (issue #13 items 3, 7, 8, 9, 10, 12):
oversized and stalled bodies, text NWB cannot store, inputs that used to give tracebacks, actions the
session's state does not allow, and cookie-authenticated requests from other origins."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from server_helpers import Client, Server

DESCRIPTION = "I'm Dr. Jane Smith from MIT. Mouse M12, an 8 week old male mouse, recorded in CA1."
ALLOWED_ORIGIN = "http://lab.example.org"
DOC_LIMIT = 512 * 1024
IDLE_S = 2


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    from nwbagent.sample import make_spikeglx_sample

    data = tmp_path_factory.mktemp("requests")
    # NeuroConv's own writer: a conversion of seconds, long enough to send requests while it runs.
    long = make_spikeglx_sample(data / "roots" / "long", 20.0, lf=False)
    env = {
        "NWBAGENT_DATA_ROOTS": json.dumps([str(data / "roots")]),
        "NWBAGENT_FAST_WRITE": "false",
        "NWBAGENT_BODY_IDLE_TIMEOUT_S": str(IDLE_S),
        "NWBAGENT_BUSY_WAIT_S": "1",
        "NWBAGENT_MAX_SESSION_DOCUMENT_BYTES": str(DOC_LIMIT),
        "NWBAGENT_ALLOWED_ORIGINS": json.dumps([ALLOWED_ORIGIN]),
    }
    srv = Server(data / "service", env).start()
    yield srv, long
    srv.stop()


@pytest.fixture
def server(world: tuple[Server, Path]) -> Server:
    return world[0]


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    c = Client(server.base_url)
    yield c
    c.close()


def _is_error(r: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.text
    body = dict(r.json())
    assert body["error"] == error and body["message"] and body["hint"], body
    assert "Traceback" not in r.text
    return body


def _db_bytes(server: Server) -> int:
    return sum(p.stat().st_size for p in server.data_dir.glob("nwbagent.db*"))


def _log_after(server: Server, offset: int) -> str:
    return server.log.read_bytes()[offset:].decode(errors="replace")


# ---- item 3: bounded bodies and values, a session that cannot grow without bound ---------------------------


def test_a_20_mb_metadata_value_is_refused_before_it_is_read(server: Server, client: Client) -> None:
    sid, _ = client.new_session()
    before = _db_bytes(server)
    for _ in range(3):
        r = client.http.patch(
            f"/api/sessions/{sid}/metadata", json={"fields": {"session_description": "x" * 20 * 1024**2}}
        )
        body = _is_error(r, 413, "body_too_large")
        assert "1 MiB" in body["message"] and "NWBAGENT_MAX_JSON_BYTES" in body["message"]
    r = client.http.patch(
        f"/api/sessions/{sid}/metadata", json={"fields": {"session_description": "y" * 20_001}}
    )
    body = _is_error(r, 413, "value_too_large")
    assert "session_description" in body["message"] and "10,000" in body["message"]
    assert _db_bytes(server) - before < 1024**2  # nothing of it was stored
    assert client.status(sid)["state"] == "created"


def test_a_session_stops_growing_at_its_limit(server: Server, client: Client) -> None:
    """Every accepted edit keeps the old value in the provenance trail, so a session grows with each one;
    at NWBAGENT_MAX_SESSION_DOCUMENT_BYTES further edits are refused, and reads stay possible."""
    sid, _ = client.new_session()
    other, _ = client.new_session()
    answers = []
    for i in range(200):
        r = client.http.patch(
            f"/api/sessions/{sid}/metadata",
            json={"fields": {"session_description": f"{i:04d}" + "z" * 9_000}},
        )
        answers.append(r.status_code)
        if r.status_code == 413:
            assert r.json()["error"] == "session_too_large", r.text
            break
        assert r.status_code in (200, 202), r.text
    assert answers[-1] == 413, answers
    assert client.status(sid)["state"] == "created" and client.status(other)["state"] == "created"
    with sqlite3.connect(server.data_dir / "nwbagent.db") as db:
        (size,) = db.execute("SELECT length(document) FROM sessions WHERE id = ?", (sid,)).fetchone()
    assert size <= DOC_LIMIT


# ---- item 9: text NWB cannot store is refused at its field -------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "what"),
    [(b'"Mouse\\u0000M12"', "NUL"), (b'"\\ud800"', "surrogate"), (b'"bell\\u0007"', "control character")],
    ids=["nul", "lone-surrogate", "control"],
)
def test_unstorable_characters_are_refused_at_the_field(client: Client, raw: bytes, what: str) -> None:
    sid, _ = client.new_session()
    r = client.http.patch(
        f"/api/sessions/{sid}/metadata",
        content=b'{"fields": {"subject_id": "M12", "lab": ' + raw + b"}}",
        headers={"Content-Type": "application/json"},
    )
    body = _is_error(r, 422, "bad_character")
    assert "lab" in body["message"] and what in body["message"]
    r = client.http.post(
        f"/api/sessions/{sid}/messages",
        content=b'{"text": ' + raw + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422 and "text" in r.json()["message"], r.text
    assert client.http.get(f"/api/sessions/{sid}/metadata").json()["values"].get("lab") is None


def test_ordinary_multiline_text_is_accepted(client: Client) -> None:
    sid, _ = client.new_session()
    r = client.http.patch(
        f"/api/sessions/{sid}/metadata",
        json={"fields": {"session_description": "Open field.\n\tDay 3 – CA1 µ"}},
    )
    assert r.status_code in (200, 202), r.text


# ---- item 7: inputs that used to end in a plain-text traceback ---------------------------------------------


def test_inputs_that_crashed_now_get_json_errors(server: Server, client: Client) -> None:
    sid, _ = client.new_session()
    _is_error(client.http.post(f"/api/sessions/{sid}/source", json={"path": "a" * 5000}), 400, "bad_path")
    _is_error(client.http.post(f"/api/sessions/{sid}/source", json={"path": "a/" * 2100}), 400, "bad_path")
    r = client.http.get(f"/api/sessions/{sid}/events/history", params={"after": 2**70})
    _is_error(r, 422, "invalid_request")
    r = client.http.patch(
        f"/api/sessions/{sid}/metadata",
        content=b'{"fields": {"session_description": "\\ud800"}}',
        headers={"Content-Type": "application/json"},
    )
    _is_error(r, 422, "bad_character")
    assert client.http.get(f"/api/sessions/{sid}/events/history", params={"after": 2**62}).json() == []


def _raw_request(server: Server, head: bytes, body: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(head + body)
    return sock


def _multipart_head(server: Server, sid: str, token: str, length: int) -> bytes:
    return (
        f"POST /api/sessions/{sid}/files HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"X-Session-Token: {token}\r\nContent-Type: multipart/form-data; boundary=B0UNDARY\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


_PART = b'--B0UNDARY\r\nContent-Disposition: form-data; name="files"; filename="rec/part.bin"\r\n\r\n'


def test_a_client_leaving_mid_upload_is_a_normal_event(server: Server, client: Client) -> None:
    sid, token = client.new_session()
    offset = server.log.stat().st_size
    sock = _raw_request(server, _multipart_head(server, sid, token, 10_000_000), _PART + b"x" * 300_000)
    part = server.data_dir / "sessions" / sid / "uploads" / "rec" / "part.bin"
    deadline = time.monotonic() + 10
    while not part.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert part.exists()  # the upload was under way when the client left
    sock.close()
    while part.exists() and time.monotonic() < deadline + 10:
        time.sleep(0.05)
    time.sleep(1.0)  # whatever the server logs about it is logged by now
    log = _log_after(server, offset)
    assert "Traceback" not in log and "ERROR" not in log, log
    assert not [p for p in (server.data_dir / "sessions" / sid).rglob("*") if p.is_file()]


# ---- item 10: stalled bodies are given up on ---------------------------------------------------------------


def _response(sock: socket.socket, within: float) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    sock.settimeout(within)
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 20:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body), time.monotonic() - started


def test_a_stalled_upload_times_out_and_leaves_nothing(server: Server, client: Client) -> None:
    sid, token = client.new_session()
    sock = _raw_request(server, _multipart_head(server, sid, token, 10_000_000), _PART + b"x" * 300_000)
    try:
        status, body, waited = _response(sock, within=IDLE_S + 20)
    finally:
        sock.close()
    assert (status, body["error"]) == (408, "body_timeout"), body
    assert waited >= IDLE_S - 0.5
    time.sleep(0.3)
    assert not [p for p in (server.data_dir / "sessions" / sid).rglob("*") if p.is_file()]


def test_a_stalled_json_body_times_out(server: Server, client: Client) -> None:
    sid, token = client.new_session()
    head = (
        f"PATCH /api/sessions/{sid}/metadata HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"X-Session-Token: {token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    ).encode()
    sock = _raw_request(server, head, b'{"fields": {"lab": "')
    try:
        status, body, _ = _response(sock, within=IDLE_S + 20)
    finally:
        sock.close()
    assert (status, body["error"]) == (408, "body_timeout")


# ---- item 8: refused actions are 409 with what is allowed; nothing waits behind a conversion ---------------


def _running(client: Client, sid: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.status(sid)["job"]
        if job and job["kind"] == "convert" and job["status"] == "running":
            return
        time.sleep(0.1)
    pytest.fail("the conversion never started")


def test_actions_the_state_does_not_allow_are_409(client: Client) -> None:
    sid, _ = client.new_session()
    for action in ("convert", "preview", "accept", "improve", "retry", "choose"):
        body = _is_error(client.http.post(f"/api/sessions/{sid}/actions/{action}"), 409, "not_allowed_now")
        assert body["state"] == "created" and body["allowed"] == ["abandon"], body
    assert client.status(sid)["actions"] == ["abandon"]


def test_requests_during_a_conversion_are_refused_not_queued(
    world: tuple[Server, Path], client: Client
) -> None:
    server, long = world
    sid, _ = client.new_session()
    client.http.post(f"/api/sessions/{sid}/source", json={"path": str(long)})
    client.wait_for(sid, {"collecting_metadata"})
    client.http.post(f"/api/sessions/{sid}/messages", json={"text": DESCRIPTION})
    client.wait_for(sid, {"ready"})
    client.http.post(f"/api/sessions/{sid}/actions/convert")
    _running(client, sid)

    patch = client.http.patch(f"/api/sessions/{sid}/metadata", json={"fields": {"lab": "Smith lab"}})
    body = _is_error(patch, 409, "session_busy")
    assert body["allowed"] == ["cancel"] and body["state"] == "converting"
    _is_error(client.http.post(f"/api/sessions/{sid}/actions/accept"), 409, "session_busy")
    _is_error(client.http.post(f"/api/sessions/{sid}/messages", json={"text": "lab: X"}), 409, "session_busy")
    assert client.status(sid)["actions"] == ["cancel"]

    assert client.http.post(f"/api/sessions/{sid}/actions/cancel").status_code == 202
    client.wait_for(sid, {"failed"}, timeout=60)
    # Nothing was applied afterwards: the refused edit is not in the metadata.
    assert "lab" not in client.http.get(f"/api/sessions/{sid}/metadata").json()["values"]
    body = _is_error(client.http.post(f"/api/sessions/{sid}/actions/accept"), 409, "not_allowed_now")
    assert body["state"] == "failed" and "retry" in body["allowed"] and "accept" not in body["allowed"]
    cancel = client.http.post(f"/api/sessions/{sid}/actions/cancel")
    assert cancel.status_code == 409 and cancel.json()["error"] == "not_allowed_now"

    # Deleting a session while its conversion runs is a normal event, not an error with a traceback.
    assert client.http.post(f"/api/sessions/{sid}/actions/retry").status_code in (200, 202)
    _running(client, sid)
    offset = server.log.stat().st_size
    assert client.http.delete(f"/api/sessions/{sid}").status_code == 204
    time.sleep(4)
    log = _log_after(server, offset)
    assert "Traceback" not in log and "ERROR" not in log, log
    assert not (server.data_dir / "sessions" / sid).exists()


# ---- item 12: other origins may not use the cookie; security headers everywhere ----------------------------


def test_cookie_requests_from_another_origin_are_refused(server: Server, client: Client) -> None:
    sid, token = client.new_session()
    foreign = {"Origin": "http://127.0.0.1:9999"}
    body = _is_error(
        client.http.post(f"/api/sessions/{sid}/actions/abandon", headers=foreign), 403, "origin_not_allowed"
    )
    assert "X-Session-Token" in body["hint"]
    _is_error(client.http.delete(f"/api/sessions/{sid}", headers=foreign), 403, "origin_not_allowed")
    assert client.status(sid)["state"] == "created"
    assert client.http.get(f"/api/sessions/{sid}", headers=foreign).status_code == 200  # reads: CORS guards
    # The token as a header cannot come from another page's script: no Origin check needed.
    with httpx.Client(base_url=server.base_url) as bare:
        r = bare.post(
            f"/api/sessions/{sid}/messages",
            json={"text": "hi"},
            headers={**foreign, "X-Session-Token": token},
        )
        assert r.status_code in (200, 202), r.text
    own = {"Origin": server.base_url}
    assert client.http.post(
        f"/api/sessions/{sid}/messages", json={"text": "hi"}, headers=own
    ).status_code in (200, 202)
    r = client.http.post(f"/api/sessions/{sid}/actions/abandon", headers={"Origin": ALLOWED_ORIGIN})
    assert r.status_code == 200 and r.json()["state"] == "abandoned", r.text


def test_websockets_from_another_origin_are_closed(server: Server, client: Client) -> None:
    sid, token = client.new_session()
    url = f"ws://127.0.0.1:{server.port}/api/sessions/{sid}/events?token={token}"

    async def first(origin: str) -> tuple[int | None, dict[str, Any] | None]:
        async with websockets.connect(url, origin=origin) as ws:  # type: ignore[arg-type]
            try:
                return None, json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
            except websockets.exceptions.ConnectionClosed as exc:
                return (exc.rcvd.code if exc.rcvd else 0), None

    assert asyncio.run(first("http://127.0.0.1:9999"))[0] == 4403
    code, event = asyncio.run(first(f"http://127.0.0.1:{server.port}"))
    assert code is None and event is not None and event["type"] == "snapshot"


def test_responses_carry_security_headers_and_docs_are_off(server: Server, client: Client) -> None:
    sid, _ = client.new_session()
    for path in ("/api/health", f"/api/sessions/{sid}/status", "/openapi.json", "/api/nope"):
        r = client.http.get(path)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY" and r.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in r.headers["content-security-policy"], path
    assert client.http.get("/openapi.json").json()["info"]["title"] == "nwbagent"
    for path in ("/docs", "/redoc"):
        assert client.http.get(path).status_code == 404
    page = client.http.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"]  # the page keeps its own policy


def test_an_unexpected_error_is_a_json_500_without_internals(tmp_path: Path) -> None:
    """Whatever a bug raises, the client gets the documented shape (and the traceback stays in the log)."""
    from fastapi.testclient import TestClient

    from nwbagent.server.app import create_app
    from nwbagent.settings import Settings

    app = create_app(Settings(data_dir=str(tmp_path), metrics_enabled=False))

    @app.get("/api/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail /srv/private/path")

    # Not entered as a context manager: the lifespan (the whole service) is not needed for this route.
    r = TestClient(app, raise_server_exceptions=False).get("/api/boom")
    assert r.status_code == 500 and r.json()["error"] == "internal_error", r.text
    assert "RuntimeError" in r.json()["message"] and "/srv/private" not in r.text
    assert r.headers["x-content-type-options"] == "nosniff"
