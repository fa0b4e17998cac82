"""Rate limits against real server processes with tiny limits, and against a real Redis shared by two.

The five servers start together (start-up dominates the run time). Every test uses its own sessions, keys or
forwarded addresses, so no test spends another's budget. The main server trusts 127.0.0.1 as a proxy;
clients that bind 127.0.0.2 are direct, untrusted peers, so one server shows both sides of X-Forwarded-For.
The "untrusting" server trusts no proxy at all (the default), so even loopback clients cannot forge it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
import websockets

from server_helpers import Server

pytestmark = pytest.mark.timeout(120)

LIMITS = {
    "NWBAGENT_RATE_LIMITS_ENABLED": "true",
    "NWBAGENT_LIMIT_STATUS": "3/minute",
    "NWBAGENT_LIMIT_CHAT": "2/minute",
    "NWBAGENT_LIMIT_UPLOAD": "2/minute",
    "NWBAGENT_LIMIT_CONVERT": "1/hour",
    "NWBAGENT_LIMIT_HEALTH": "5/minute",
    "NWBAGENT_MAX_WEBSOCKETS_PER_CLIENT": "2",
}
KEYS = ["k-rate-one-1234567890", "k-rate-two-1234567890", "k-rate-three-123456789"]
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


@dataclass
class Servers:
    main: Server  # limits on, trusts 127.0.0.1 as a proxy, memory storage
    off: Server  # same limits, but NWBAGENT_RATE_LIMITS_ENABLED=false
    shared_a: Server  # API keys, Redis storage under `prefix`
    shared_b: Server  # a second instance on the same Redis prefix
    untrusting: Server  # limits on, no trusted proxies (the default configuration)
    prefix: str


def _redis() -> redis.Redis:
    """Redis, or a test failure that says so within two seconds (never a skip, never a hang)."""
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=0, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT} ({exc}); the shared-limit tests need a "
            "real Redis: start one (e.g. `redis-server --daemonize yes`).",
            pytrace=False,
        )
    return client


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    db = _redis()
    prefix = f"nwbagent-test-{uuid.uuid4().hex[:12]}"
    storage = f"redis://{REDIS_HOST}:{REDIS_PORT}/0?key_prefix={prefix}"
    keyed = {**LIMITS, "NWBAGENT_API_KEYS": json.dumps(KEYS), "NWBAGENT_RATE_LIMIT_STORAGE": storage}
    specs = {
        "main": {**LIMITS, "NWBAGENT_TRUSTED_PROXIES": '["127.0.0.1"]'},
        "off": {**LIMITS, "NWBAGENT_RATE_LIMITS_ENABLED": "false"},
        "shared_a": keyed,
        "shared_b": keyed,
        "untrusting": LIMITS,
    }
    started: dict[str, Server] = {}
    try:
        with ThreadPoolExecutor(len(specs)) as pool:
            futures = {
                name: pool.submit(Server(tmp_path_factory.mktemp(name), env).start)
                for name, env in specs.items()
            }
            for name, future in futures.items():
                started[name] = future.result()
        yield Servers(**started, prefix=prefix)
    finally:
        for server in started.values():
            server.stop()
        for key in db.scan_iter(match=f"{prefix}*"):
            db.delete(key)
        db.close()


def _direct(server: Server) -> httpx.Client:
    """A client whose connections come from 127.0.0.2, a peer the server does not trust as a proxy."""
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    return httpx.Client(base_url=server.base_url, transport=transport, timeout=30)


def _via_proxy(server: Server, forwarded_for: str) -> httpx.Client:
    """A client behind the trusted proxy 127.0.0.1, which reports ``forwarded_for`` as the client."""
    return httpx.Client(base_url=server.base_url, headers={"X-Forwarded-For": forwarded_for}, timeout=30)


def _session(client: httpx.Client) -> tuple[str, str]:
    r = client.post("/api/sessions")
    assert r.status_code == 201, r.text
    client.headers["X-Session-Token"] = r.json()["token"]
    return r.json()["id"], r.json()["token"]


def _assert_limited(r: httpx.Response, limit: str, period: int) -> None:
    assert r.status_code == 429, r.text
    body = r.json()
    assert body["error"] == "rate_limited" and body["limit"] == limit and body["period"] == period
    assert limit in body["message"]
    retry_after = int(r.headers["Retry-After"])
    assert 1 <= retry_after <= period and body["retry_after"] == retry_after


# ---- each limit class ------------------------------------------------------------------------------------


def test_health_limit_and_spoofed_forwarded_for(servers: Servers) -> None:
    with _direct(servers.main) as c:
        assert [c.get("/api/health").status_code for _ in range(5)] == [200] * 5
        _assert_limited(c.get("/api/health"), "5 per 1 minute", 60)
        # The peer is not a trusted proxy, so its X-Forwarded-For is ignored: no fresh bucket.
        for spoof in ("203.0.113.9", "203.0.113.9, 198.51.100.1"):
            r = c.get("/api/health", headers={"X-Forwarded-For": spoof})
            _assert_limited(r, "5 per 1 minute", 60)


def test_forwarded_for_is_never_believed_without_trusted_proxies(servers: Servers) -> None:
    """Issue #13 item 2: uvicorn's own proxy-header handling trusted every loopback client, so a spent
    convert limit came back with any X-Forwarded-For; only NWBAGENT_TRUSTED_PROXIES may grant that."""
    with httpx.Client(base_url=servers.untrusting.base_url, timeout=30) as c:
        sid, _ = _session(c)
        assert c.post(f"/api/sessions/{sid}/actions/convert").status_code != 429
        _assert_limited(c.post(f"/api/sessions/{sid}/actions/convert"), "1 per 1 hour", 3600)
        for spoof in ("10.1.2.3", "10.1.2.3, 127.0.0.1"):
            r = c.post(f"/api/sessions/{sid}/actions/convert", headers={"X-Forwarded-For": spoof})
            _assert_limited(r, "1 per 1 hour", 3600)
        for _ in range(6):  # the start-up probe of the fixture already used one
            if c.get("/api/health").status_code == 429:
                break
        _assert_limited(c.get("/api/health", headers={"X-Forwarded-For": "10.9.9.9"}), "5 per 1 minute", 60)


def test_trusted_proxy_keys_by_the_forwarded_address(servers: Servers) -> None:
    with _via_proxy(servers.main, "198.51.100.7") as c:
        assert [c.get("/api/health").status_code for _ in range(5)] == [200] * 5
        _assert_limited(c.get("/api/health"), "5 per 1 minute", 60)
        # Only the right-most untrusted hop counts: a client-written address to its left changes nothing.
        r = c.get("/api/health", headers={"X-Forwarded-For": "192.0.2.1, 198.51.100.7"})
        _assert_limited(r, "5 per 1 minute", 60)
        r = c.get("/api/health", headers={"X-Forwarded-For": "198.51.100.8"})
        assert r.status_code == 200  # another client behind the proxy has its own bucket
        r = c.get("/api/health", headers={"X-Forwarded-For": "198.51.100.8, 127.0.0.1"})
        assert r.status_code == 200  # trusted hops on the right are skipped


def test_status_class_is_per_session(servers: Servers) -> None:
    with _via_proxy(servers.main, "198.51.100.20") as c, _via_proxy(servers.main, "198.51.100.20") as d:
        sid, _ = _session(c)
        other, _ = _session(d)
        assert c.get(f"/api/sessions/{sid}/status").status_code == 200
        assert c.get(f"/api/sessions/{sid}").status_code == 200
        assert c.get(f"/api/sessions/{sid}/results").status_code == 200
        # Metadata and event history are in the same class as status.
        _assert_limited(c.get(f"/api/sessions/{sid}/metadata"), "3 per 1 minute", 60)
        _assert_limited(c.patch(f"/api/sessions/{sid}/metadata", json={"fields": {}}), "3 per 1 minute", 60)
        _assert_limited(c.get(f"/api/sessions/{sid}/events/history"), "3 per 1 minute", 60)
        assert d.get(f"/api/sessions/{other}/status").status_code == 200  # its own bucket


def test_chat_limit_with_the_rules_provider(servers: Servers) -> None:
    with _via_proxy(servers.main, "198.51.100.30") as c:
        sid, _ = _session(c)
        for _ in range(2):
            r = c.post(f"/api/sessions/{sid}/messages", json={"text": "What can you do?"})
            assert r.status_code in (200, 202), r.text
        _assert_limited(c.post(f"/api/sessions/{sid}/messages", json={"text": "hi"}), "2 per 1 minute", 60)


def test_upload_limit(servers: Servers) -> None:
    with _via_proxy(servers.main, "198.51.100.40") as c:
        sid, _ = _session(c)
        for i in range(2):
            r = c.post(f"/api/sessions/{sid}/files", files=[("files", (f"notes-{i}.txt", b"hello"))])
            assert r.status_code == 201, r.text
        r = c.post(f"/api/sessions/{sid}/files", files=[("files", ("late.txt", b"hello"))])
        _assert_limited(r, "2 per 1 minute", 60)
        assert not (servers.main.data_dir / "sessions" / sid / "uploads" / "late.txt").exists()


def test_convert_limit_counts_attempts_retry_and_typed_convert(servers: Servers) -> None:
    with _via_proxy(servers.main, "198.51.100.50") as c:
        sid, _ = _session(c)
        # The session is not ready, so nothing converts; the attempt still counts.
        r = c.post(f"/api/sessions/{sid}/actions/convert")
        assert r.status_code != 429, r.text
        _assert_limited(c.post(f"/api/sessions/{sid}/actions/retry"), "1 per 1 hour", 3600)
        _assert_limited(c.post(f"/api/sessions/{sid}/actions/convert"), "1 per 1 hour", 3600)
        # Typing the word in the chat starts the same conversion, so it meets the same limit.
        r = c.post(f"/api/sessions/{sid}/messages", json={"text": "Convert!"})
        _assert_limited(r, "1 per 1 hour", 3600)
        assert int(r.headers["Retry-After"]) > 3500
        # A new session does not buy a new conversion budget: the bucket is the client's, not the session's.
        fresh, _ = _session(c)
        _assert_limited(c.post(f"/api/sessions/{fresh}/actions/convert"), "1 per 1 hour", 3600)


# ---- WebSockets -----------------------------------------------------------------------------------------


async def _hold_websockets(server: Server, sid: str, token: str, count: int) -> list[int | None]:
    """Open ``count`` sockets at once on one session; each one's close code if refused, else None."""
    url = f"ws://127.0.0.1:{server.port}/api/sessions/{sid}/events?token={token}"
    codes: list[int | None] = []
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(count):
            ws = await stack.enter_async_context(websockets.connect(url))
            first = json.loads(await ws.recv())
            assert first["type"] == "snapshot"
            try:
                await asyncio.wait_for(ws.recv(), timeout=0.3)
            except websockets.exceptions.ConnectionClosed as exc:
                codes.append(exc.rcvd.code if exc.rcvd else 0)
                continue
            except TimeoutError:
                pass
            codes.append(None)
    return codes


def test_websocket_cap_per_client(servers: Servers) -> None:
    with _via_proxy(servers.main, "198.51.100.60") as c:
        sid, token = _session(c)

    async def scenario() -> None:
        url = f"ws://127.0.0.1:{servers.main.port}/api/sessions/{sid}/events?token={token}"
        async with websockets.connect(url) as one, websockets.connect(url) as two:
            assert json.loads(await one.recv())["type"] == "snapshot"
            assert json.loads(await two.recv())["type"] == "snapshot"
            async with websockets.connect(url) as three:
                with pytest.raises(websockets.exceptions.ConnectionClosed) as refused:
                    await three.recv()
                assert refused.value.rcvd is not None and refused.value.rcvd.code == 4429
        # Closing frees the slots.
        async with websockets.connect(url) as again:
            assert json.loads(await again.recv())["type"] == "snapshot"

    asyncio.run(scenario())


def test_websocket_cap_counts_all_sessions_of_a_client(servers: Servers) -> None:
    """Issue #13 item 5: sessions are free to create, so the cap is the client's, across its sessions."""
    address = "198.51.100.61"
    with _via_proxy(servers.main, address) as c:
        sessions = [_session(c) for _ in range(3)]
        for _ in sessions:
            c.headers.pop("X-Session-Token", None)

    async def scenario() -> None:
        def url(sid: str, token: str) -> str:
            return f"ws://127.0.0.1:{servers.main.port}/api/sessions/{sid}/events?token={token}"

        headers = {"X-Forwarded-For": address}
        (a, ta), (b, tb), (d, td) = sessions
        async with (
            websockets.connect(url(a, ta), additional_headers=headers) as one,
            websockets.connect(url(b, tb), additional_headers=headers) as two,
        ):
            assert json.loads(await one.recv())["type"] == "snapshot"
            assert json.loads(await two.recv())["type"] == "snapshot"
            async with websockets.connect(url(d, td), additional_headers=headers) as three:
                with pytest.raises(websockets.exceptions.ConnectionClosed) as refused:
                    await three.recv()
                assert refused.value.rcvd is not None and refused.value.rcvd.code == 4429
            # Another client (another address behind the proxy) has its own slots.
            other = {"X-Forwarded-For": "198.51.100.62"}
            async with websockets.connect(url(d, td), additional_headers=other) as elsewhere:
                assert json.loads(await elsewhere.recv())["type"] == "snapshot"

    asyncio.run(scenario())


# ---- keys, shared storage, switched off -----------------------------------------------------------------


def test_api_keys_have_separate_buckets(servers: Servers) -> None:
    one = httpx.Client(base_url=servers.shared_a.base_url, headers={"X-API-Key": KEYS[0]}, timeout=30)
    two = httpx.Client(base_url=servers.shared_a.base_url, headers={"X-API-Key": KEYS[1]}, timeout=30)
    with one, two:
        assert [one.get("/api/sessions").status_code for _ in range(3)] == [200] * 3
        _assert_limited(one.get("/api/sessions"), "3 per 1 minute", 60)
        # The key, not the session, is the client: a new session does not bring a new bucket.
        _assert_limited(one.post("/api/sessions"), "3 per 1 minute", 60)
        assert two.get("/api/sessions").status_code == 200


def test_redis_shares_one_limit_between_two_instances(servers: Servers) -> None:
    headers = {"X-API-Key": KEYS[2]}
    a = httpx.Client(base_url=servers.shared_a.base_url, headers=headers, timeout=30)
    b = httpx.Client(base_url=servers.shared_b.base_url, headers=headers, timeout=30)
    with a, b:
        codes = [(a if i % 2 else b).get("/api/health").status_code for i in range(5)]
        assert codes == [200] * 5
        _assert_limited(a.get("/api/health"), "5 per 1 minute", 60)
        _assert_limited(b.get("/api/health"), "5 per 1 minute", 60)
    db = _redis()
    assert any(True for _ in db.scan_iter(match=f"{servers.prefix}*")), "no limit counters in Redis"
    db.close()


def test_disabled_limits_never_refuse(servers: Servers) -> None:
    with httpx.Client(base_url=servers.off.base_url, timeout=30) as c:
        assert all(c.get("/api/health").status_code == 200 for _ in range(8))
        sid, token = _session(c)
        assert all(c.get(f"/api/sessions/{sid}/status").status_code == 200 for _ in range(5))
        for _ in range(3):
            r = c.post(f"/api/sessions/{sid}/actions/convert")
            assert r.status_code != 429, r.text
    codes = asyncio.run(_hold_websockets(servers.off, sid, token, 3))
    assert codes == [None, None, None]


def test_limits_need_no_configuration_to_parse(tmp_path: Path) -> None:
    """The defaults parse and build memory storage in-process: a typo in a limit must fail the start."""
    from limits import parse_many

    from nwbagent.server.ratelimit import RateLimits
    from nwbagent.settings import Settings

    limits = RateLimits(Settings(data_dir=str(tmp_path)))
    assert limits.limits["convert"] == parse_many("5/hour;20/day")
    with pytest.raises(ValueError):
        RateLimits(Settings(data_dir=str(tmp_path), limit_status="lots"))
