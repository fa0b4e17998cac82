"""The service through HTTP and WebSocket against a real server process, on real recordings."""

from __future__ import annotations

import asyncio
import io
import json
import statistics
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import httpx
import pytest
import websockets

from server_helpers import Client, Server

DESCRIPTION = "I'm Dr. Jane Smith from MIT. Mouse M12, an 8 week old male mouse, recorded in CA1."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("service")
    env = {
        "NWBAGENT_DATA_ROOTS": json.dumps([str(shared_data), str(data / "roots")]),
        "NWBAGENT_MAX_FILE_BYTES": str(30 * 1024**2),
        "NWBAGENT_MAX_SESSION_BYTES": str(60 * 1024**2),
        "NWBAGENT_MAX_ARCHIVE_ENTRIES": "500",
        "NWBAGENT_MAX_CONCURRENT_CONVERSIONS": "2",
    }
    srv = Server(data, env).start()
    yield srv
    srv.stop()


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    c = Client(server.base_url)
    yield c
    c.close()


def _ws_url(server: Server, sid: str, token: str) -> str:
    return f"ws://127.0.0.1:{server.port}/api/sessions/{sid}/events?token={token}"


def _spikeglx_files(ephy: Path) -> list[tuple[str, tuple[str, bytes]]]:
    folder = ephy / "spikeglx" / "TEST_20210920_0_g0"
    return [("files", (f"TEST_20210920_0_g0/{p.name}", p.read_bytes())) for p in sorted(folder.iterdir())]


# ---- sessions and access ----


def test_sessions_need_their_token(server: Server, client: Client) -> None:
    sid, token = client.new_session()
    assert len(sid) >= 20 and len(token) >= 40
    assert client.http.get(f"/api/sessions/{sid}").status_code == 200  # cookie
    stranger = httpx.Client(base_url=server.base_url)
    for headers in ({}, {"X-Session-Token": "wrong"}, {"X-Session-Token": token + "x"}):
        r = stranger.get(f"/api/sessions/{sid}", headers=headers)
        assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert stranger.get(f"/api/sessions/{sid}", headers={"X-Session-Token": token}).status_code == 200
    missing = stranger.get("/api/sessions/does-not-exist", headers={"X-Session-Token": token})
    assert missing.status_code == 404 and missing.json() == r.json()  # existence is not revealed
    listed = {s["id"] for s in client.http.get("/api/sessions").json()}
    assert sid in listed and not stranger.get("/api/sessions").json()
    stranger.close()


def test_errors_are_json_with_a_hint(client: Client) -> None:
    sid, _ = client.new_session()
    r = client.http.post(f"/api/sessions/{sid}/source", json={"sample": "nope"})
    assert r.status_code == 400 and set(r.json()) == {"error", "message", "hint"}
    r = client.http.post(f"/api/sessions/{sid}/messages", json={"text": ""})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    r = client.http.get(f"/api/sessions/{sid}/download/nwb")
    assert r.status_code == 409 and r.json()["hint"]


# ---- the whole workflow, with events ----


def test_sample_conversion_end_to_end_with_events(server: Server, client: Client) -> None:
    sid, token = client.new_session()
    events: list[dict[str, Any]] = []
    stop = threading.Event()

    def listen() -> None:
        async def run() -> None:
            async with websockets.connect(_ws_url(server, sid, token)) as ws:
                while not stop.is_set():
                    try:
                        events.append(json.loads(await asyncio.wait_for(ws.recv(), timeout=0.5)))
                    except TimeoutError:
                        continue

        asyncio.run(run())

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    time.sleep(0.5)

    started = time.perf_counter()
    r = client.http.post(f"/api/sessions/{sid}/source", json={"sample": "neuropixels"})
    assert r.status_code in (200, 202), r.text
    status = client.wait_for(sid, {"collecting_metadata"})
    first_question_s = time.perf_counter() - started
    assert {q["field"] for q in status["questions"]} >= {"subject_id", "species", "sex", "age"}

    r = client.http.post(f"/api/sessions/{sid}/messages", json={"text": DESCRIPTION})
    assert r.status_code in (200, 202), r.text
    status = client.wait_for(sid, {"ready"})
    r = client.http.post(f"/api/sessions/{sid}/actions/convert")
    assert r.status_code in (200, 202), r.text
    status = client.wait_for(sid, {"passed", "passed_with_issues"})
    assert status["job"]["status"] == "succeeded"
    r = client.http.post(f"/api/sessions/{sid}/actions/accept")
    assert r.status_code == 200 and r.json()["state"] == "accepted"

    results = client.http.get(f"/api/sessions/{sid}/results").json()
    reports = {"report-html", "report-pdf", "report-json", "report-text"}
    assert set(results["files"]) == {"nwb", "recipe", "metadata"} | reports
    assert client.http.get(results["files"]["report-pdf"]["url"]).content[:5] == b"%PDF-"
    report = client.http.get(results["files"]["report-json"]["url"]).json()
    # The report carries the session's workflow trace, as the agents lived it.
    assert [t["to_state"] for t in report["trace"]][:3] == [
        "files_received",
        "detected",
        "collecting_metadata",
    ]
    assert report["verdict"]["verdict"] == results["verdict"]
    body = client.http.get(results["files"]["nwb"]["url"]).content
    assert len(body) == results["files"]["nwb"]["size"]
    with h5py.File(io.BytesIO(body), "r") as f:
        assert f["general/subject/species"][()].decode() == "Mus musculus"
        assert f["acquisition/ElectricalSeriesAP/data"].shape == (300_000, 384)

    time.sleep(1.0)
    stop.set()
    listener.join(timeout=5)
    assert events[0]["type"] == "snapshot" and events[0]["payload"]["state"] == "created"
    kinds = {e["type"] for e in events}
    assert {"state", "progress", "reply", "message", "job"} <= kinds
    states = [e["payload"]["state"] for e in events if e["type"] == "state"]
    assert states[:3] == ["files_received", "detected", "collecting_metadata"] and states[-1] == "accepted"
    progress = [e["payload"] for e in events if e["type"] == "progress" and not e["payload"]["stub"]]
    assert progress and progress[-1]["percent"] == 100.0
    assert all({"rate_mb_s", "eta_s", "percent"} <= set(p) for p in progress)
    print(f"time from choosing the sample to the first question: {first_question_s:.2f} s")


def test_late_subscriber_gets_the_current_state_first(server: Server, client: Client) -> None:
    sid, token = client.new_session()
    client.http.post(f"/api/sessions/{sid}/source", json={"sample": "neuropixels"})
    client.wait_for(sid, {"collecting_metadata"})

    async def first() -> dict[str, Any]:
        async with websockets.connect(_ws_url(server, sid, token)) as ws:
            return dict(json.loads(await asyncio.wait_for(ws.recv(), timeout=5)))

    snap = asyncio.run(first())
    assert snap["type"] == "snapshot" and snap["payload"]["state"] == "collecting_metadata"
    assert snap["payload"]["questions"]


def test_upload_a_real_recording_folder(client: Client, ephy_data: Path, server: Server) -> None:
    sid, _ = client.new_session()
    r = client.http.post(
        f"/api/sessions/{sid}/files", params={"start": "true"}, files=_spikeglx_files(ephy_data)
    )
    assert r.status_code == 201, r.text
    names = sorted(f["relative_path"] for f in r.json()["files"])
    assert names == [
        "TEST_20210920_0_g0/TEST_20210920_0_g0_t0.imec0.ap.bin",
        "TEST_20210920_0_g0/TEST_20210920_0_g0_t0.imec0.ap.meta",
    ]
    client.wait_for(sid, {"collecting_metadata"})
    session = client.http.get(f"/api/sessions/{sid}").json()
    assert "SpikeGLXRecordingInterface[imec0.ap]" in session["selected_units"]
    stored = server.data_dir / "sessions" / sid / "uploads" / "TEST_20210920_0_g0"
    assert (stored / "TEST_20210920_0_g0_t0.imec0.ap.bin").stat().st_size == 770_000


# ---- two users at once ----


def test_two_sessions_convert_different_recordings_at_once(server: Server, ephy_data: Path) -> None:
    alice, bob = Client(server.base_url), Client(server.base_url)
    a, a_token = alice.new_session()
    b, b_token = bob.new_session()
    alice.http.post(f"/api/sessions/{a}/files", params={"start": "true"}, files=_spikeglx_files(ephy_data))
    intan = ephy_data / "intan" / "intan_fps_test_231117_052500"
    bob.http.post(f"/api/sessions/{b}/source", json={"path": str(intan)})
    alice.wait_for(a, {"collecting_metadata"})
    bob.wait_for(b, {"collecting_metadata"})
    alice.http.post(f"/api/sessions/{a}/messages", json={"text": DESCRIPTION})
    bob.http.post(
        f"/api/sessions/{b}/messages",
        json={"text": "Rat R7, a 3 month old female rat, by Dr. Ana Lee at UCL."},
    )
    alice.wait_for(a, {"ready"})
    bob.wait_for(b, {"ready"})

    collected: dict[str, list[dict[str, Any]]] = {a: [], b: []}

    async def watch(sid: str, token: str) -> None:
        async with websockets.connect(_ws_url(server, sid, token)) as ws:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    event = json.loads(await asyncio.wait_for(ws.recv(), timeout=1))
                except TimeoutError:
                    continue
                collected[sid].append(event)
                if event["type"] == "state" and event["payload"]["state"] in (
                    "passed",
                    "passed_with_issues",
                    "failed",
                ):
                    return

    async def both() -> None:
        watchers = [asyncio.create_task(watch(a, a_token)), asyncio.create_task(watch(b, b_token))]
        await asyncio.sleep(0.5)
        async with (
            httpx.AsyncClient(base_url=server.base_url, cookies=alice.http.cookies) as ac,
            httpx.AsyncClient(base_url=server.base_url, cookies=bob.http.cookies) as bc,
        ):
            await asyncio.gather(
                ac.post(f"/api/sessions/{a}/actions/convert"), bc.post(f"/api/sessions/{b}/actions/convert")
            )
        await asyncio.gather(*watchers)

    asyncio.run(both())
    sa, sb = (
        alice.wait_for(a, {"passed", "passed_with_issues"}),
        bob.wait_for(b, {"passed", "passed_with_issues"}),
    )
    ra = alice.http.get(f"/api/sessions/{a}/results").json()
    rb = bob.http.get(f"/api/sessions/{b}/results").json()
    assert ra["files"]["nwb"]["name"].startswith("sub-M12") and rb["files"]["nwb"]["name"].startswith(
        "sub-R7"
    )
    # No cross-talk: each stream mentions only its own job, and outputs live in each session's folder.
    a_jobs = {e["payload"].get("job_id") for e in collected[a] if e["type"] == "progress"}
    b_jobs = {e["payload"].get("job_id") for e in collected[b] if e["type"] == "progress"}
    assert a_jobs and b_jobs and not (a_jobs & b_jobs)
    assert sa["job"]["session_id"] == a and sb["job"]["session_id"] == b
    assert (server.data_dir / "sessions" / a / "out").is_dir() and (
        server.data_dir / "sessions" / b / "out"
    ).is_dir()
    # Isolation: Bob's token opens nothing of Alice's.
    for path in ("", "/status", "/results", "/download/nwb", "/metadata", "/events/history"):
        r = bob.http.get(f"/api/sessions/{a}{path}", headers={"X-Session-Token": b_token})
        assert r.status_code == 404, path

    async def peek() -> int:
        try:
            async with websockets.connect(_ws_url(server, a, b_token)) as ws:
                await ws.recv()
        except websockets.exceptions.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else 0
        return 0

    assert asyncio.run(peek()) == 4404
    alice.close()
    bob.close()


# ---- uploads that must be refused ----


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "status"),
    [
        ("../../escape.txt", b"x", 400),
        ("/etc/passwd", b"x", 400),
        ("dir/../../escape.txt", b"x", 400),
        ("CON.txt", b"x", 400),
        ("slip.zip", _zip({"../escape.txt": b"x"}), 400),
        ("bomb.zip", _zip({"zeros.bin": b"\0" * (50 * 1024**2)}), 413),
        ("big.bin", b"\0" * (31 * 1024**2), 413),
        ("many.zip", _zip({f"f{i}.txt": b"x" for i in range(600)}), 413),
    ],
    ids=[
        "traversal",
        "absolute",
        "dotdot-inside",
        "reserved",
        "zip-slip",
        "zip-bomb",
        "oversize",
        "many-entries",
    ],
)
def test_hostile_uploads_are_refused(
    server: Server, client: Client, name: str, content: bytes, status: int
) -> None:
    sid, _ = client.new_session()
    before = {p for p in server.data_dir.rglob("*")}
    r = client.http.post(f"/api/sessions/{sid}/files", files=[("files", (name, content))])
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error", "message", "hint"}
    after = {p for p in server.data_dir.rglob("*")}
    new = {
        p
        for p in after - before
        if p.is_file() and "server-" not in p.name and not p.name.startswith("nwbagent.db")
    }
    assert not new, new
    assert (
        not (server.data_dir / "escape.txt").exists() and not (server.data_dir.parent / "escape.txt").exists()
    )


@pytest.mark.parametrize("name", [b"bad\x01name.bin", b"new\nline.bin", b"nul\x00.bin", b"..\\..\\win.bin"])
def test_raw_hostile_filenames_are_refused(server: Server, client: Client, name: bytes) -> None:
    """Clients like httpx escape these; a hostile client sends the raw bytes, built here by hand."""
    sid, _ = client.new_session()
    boundary = b"nwbagentboundary"
    body = (
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="files"; filename="' + name + b'"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\nx\r\n--" + boundary + b"--\r\n"
    )
    headers = {"Content-Type": "multipart/form-data; boundary=nwbagentboundary"}
    r = client.http.post(f"/api/sessions/{sid}/files", content=body, headers=headers)
    assert r.status_code == 400, r.text
    assert not list((server.data_dir / "sessions" / sid).rglob("*.bin"))


def test_server_side_source_must_be_under_data_roots(client: Client, tmp_path: Path) -> None:
    sid, _ = client.new_session()
    r = client.http.post(f"/api/sessions/{sid}/source", json={"path": str(tmp_path)})
    assert r.status_code == 403 and "NWBAGENT_DATA_ROOTS" in (r.json()["hint"] or "")


# ---- health during a conversion ----


def test_health_keeps_answering_during_a_conversion(server: Server, client: Client) -> None:
    """The direct-chunk writer keeps both cores busy compressing; the server must still answer.

    The convert request itself may wait for the whole (fast) conversion, so health is probed from another
    thread for as long as that request and the session are busy.
    """
    from nwbagent.sample import make_spikeglx_sample

    long = make_spikeglx_sample(server.data_dir / "roots" / "health", 30.0, lf=False)
    sid, _ = client.new_session()
    client.http.post(f"/api/sessions/{sid}/source", json={"path": str(long)})
    client.wait_for(sid, {"collecting_metadata"})
    client.http.post(f"/api/sessions/{sid}/messages", json={"text": DESCRIPTION})
    client.wait_for(sid, {"ready"})
    latencies: list[float] = []
    failures: list[str] = []
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            while not done.is_set() and len(latencies) < 2_000:
                t = time.perf_counter()
                r = http.get("/api/health")
                latencies.append(time.perf_counter() - t)
                if r.status_code != 200:
                    failures.append(r.text)
                time.sleep(0.02)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        client.http.post(f"/api/sessions/{sid}/actions/convert")
        status = client.wait_for(sid, {"passed", "passed_with_issues"})
    finally:
        done.set()
        prober.join(30)
    assert status["job"]["status"] == "succeeded", status
    assert not failures, failures[:3]
    assert len(latencies) >= 20, len(latencies)  # the conversion took a second or more: probed throughout
    # Generous bound only: speed is measured in bench/health.py.
    assert statistics.median(latencies) < 0.5 and max(latencies) < 3.0


# ---- crash and restart ----


def test_restart_during_a_conversion_recovers(tmp_path: Path) -> None:
    from nwbagent.sample import make_spikeglx_sample

    roots = tmp_path / "roots"
    long = make_spikeglx_sample(roots / "long", 40.0, lf=False)
    # NeuroConv's writer: ~15 s of writing to be killed in (the direct-chunk writer needs ~2 s).
    env = {"NWBAGENT_DATA_ROOTS": json.dumps([str(roots)]), "NWBAGENT_FAST_WRITE": "false"}
    data = tmp_path / "data"
    server = Server(data, env, process=True).start()  # it is killed below
    client = Client(server.base_url)
    try:
        sid, token = client.new_session()
        client.http.post(f"/api/sessions/{sid}/source", json={"path": str(long)})
        client.wait_for(sid, {"collecting_metadata"})
        client.http.post(f"/api/sessions/{sid}/messages", json={"text": DESCRIPTION})
        client.wait_for(sid, {"ready"})
        client.http.post(f"/api/sessions/{sid}/actions/convert")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job = client.status(sid)["job"]
            if (
                job
                and job["kind"] == "convert"
                and job["status"] == "running"
                and (job.get("progress") or {}).get("percent", 0) > 0
            ):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the conversion never got going")
        server.kill()

        server = Server(data, env, port=server.port).start()
        client.close()
        client = Client(server.base_url)
        client.http.headers["X-Session-Token"] = token
        status = client.status(sid)
        assert status["state"] == "failed" and "converting" in status["allowed"]
        assert status["job"]["status"] == "interrupted"
        session = client.http.get(f"/api/sessions/{sid}").json()
        assert any("restarted" in t["text"] for t in session["chat"])
        assert [t for t in session["chat"] if t["role"] == "user"]  # the history is back
        assert client.http.get(f"/api/sessions/{sid}/download/nwb").status_code == 409
        assert not list(data.rglob("*.partial*"))  # the cut-off write left nothing behind
        assert not list(
            (data / "sessions" / sid / "out" / "nwb").rglob("*.nwb")
        )  # only the stub preview exists

        r = client.http.post(f"/api/sessions/{sid}/actions/retry")
        assert r.status_code in (200, 202), r.text
        status = client.wait_for(sid, {"passed", "passed_with_issues"}, timeout=240)
        assert client.http.get(f"/api/sessions/{sid}/download/nwb").status_code == 200
    finally:
        client.close()
        server.stop()
