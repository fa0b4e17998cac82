"""The message bus: typed delivery, typed errors, logging with durations, and blocking work off the loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest
from pydantic import BaseModel

from nwbagent.agents.bus import Action, Bus
from nwbagent.agents.messages import BusError, Message
from nwbagent.errors import UserFacingError


class Ping(BaseModel):
    n: int


class Pong(BaseModel):
    n: int
    thread: str


def _echo(message: Message, payload: Ping) -> Pong:
    return Pong(n=payload.n + 1, thread=threading.current_thread().name)


def _slow(message: Message, payload: Ping) -> Pong:
    time.sleep(0.3)
    return Pong(n=payload.n, thread=threading.current_thread().name)


def _user_error(message: Message, payload: Ping) -> Pong:
    raise UserFacingError(
        "The file is empty.", fix="Copy it again.", path="/data/x.bin", code="empty_data_file"
    )


def _crash(message: Message, payload: Ping) -> Pong:
    raise RuntimeError("boom")


def _bad_result(message: Message, payload: Ping) -> dict[str, str]:
    return {"unexpected": "shape"}


@pytest.fixture
def bus() -> Bus:
    b = Bus()
    b.register(
        "worker",
        [
            Action("echo", Ping, Pong, _echo),
            Action("slow", Ping, Pong, _slow, blocking=True),
            Action("user_error", Ping, Pong, _user_error),
            Action("crash", Ping, Pong, _crash),
            Action("bad_result", Ping, Pong, _bad_result),
        ],
    )
    return b


def _msg(target: str, action: str, payload: dict[str, object]) -> Message:
    return Message(session_id="s1", sender="tester", target=target, action=action, payload=payload)


def test_reply_is_typed_and_correlated(bus: Bus) -> None:
    request = _msg("worker", "echo", {"n": 1})
    reply = asyncio.run(bus.request(request))
    assert reply.action == "echo.result" and reply.correlation_id == request.id
    assert reply.sender == "worker" and reply.target == "tester"
    assert reply.payload["n"] == 2
    result = asyncio.run(
        bus.call(session_id="s1", sender="t", target="worker", action="echo", payload=Ping(n=5), result=Pong)
    )
    assert isinstance(result, Pong) and result.n == 6


@pytest.mark.parametrize(
    ("target", "action", "payload", "code", "says"),
    [
        ("nobody", "echo", {"n": 1}, "unknown_target", "worker"),
        ("worker", "dance", {"n": 1}, "unknown_action", "echo"),
        ("worker", "echo", {"n": "not a number"}, "invalid_payload", "n"),
        ("worker", "crash", {"n": 1}, "handler_failed", "boom"),
        ("worker", "bad_result", {"n": 1}, "handler_failed", "ValidationError"),
    ],
)
def test_errors_are_typed_replies(
    bus: Bus, target: str, action: str, payload: dict[str, object], code: str, says: str
) -> None:
    reply = asyncio.run(bus.request(_msg(target, action, payload)))
    assert reply.is_error
    assert reply.payload["code"] == code
    if code == "handler_failed":  # a crash is said without its text, which goes to the technical details
        assert says not in reply.payload["message"] and "bug" in reply.payload["message"]
        assert says in reply.payload["details"] and reply.payload["hint"]
    else:
        assert says in reply.payload["message"]


def test_user_error_keeps_problem_fix_and_path(bus: Bus) -> None:
    with pytest.raises(BusError) as info:
        asyncio.run(
            bus.call(
                session_id="s1",
                sender="t",
                target="worker",
                action="user_error",
                payload={"n": 1},
                result=Pong,
            )
        )
    assert info.value.payload.code == "user_error"
    assert info.value.payload.reason == "empty_data_file"  # the error's own code crosses the bus
    assert info.value.payload.hint == "Copy it again."
    assert info.value.payload.path == "/data/x.bin"


def test_every_message_is_logged_with_duration(bus: Bus, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="nwbagent.bus"):
        asyncio.run(bus.request(_msg("worker", "slow", {"n": 1})))
        asyncio.run(bus.request(_msg("worker", "dance", {"n": 1})))
    records = [r for r in caplog.records if r.name == "nwbagent.bus"]
    assert len(records) == 2
    slow, unknown = records
    assert slow.__dict__["action"] == "slow" and slow.__dict__["outcome"] == "ok"
    assert slow.__dict__["duration_ms"] >= 300
    assert unknown.__dict__["outcome"] == "unknown_action"
    assert [r.duration_s >= 0.3 for r in bus.records("s1")] == [True, False]


def test_blocking_handlers_leave_the_event_loop_free(bus: Bus) -> None:
    ticks: list[float] = []

    async def ticker() -> None:
        for _ in range(10):
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.02)

    async def main() -> Message:
        reply, _ = await asyncio.gather(bus.request(_msg("worker", "slow", {"n": 1})), ticker())
        return reply

    reply = asyncio.run(main())
    assert reply.payload["thread"] != threading.main_thread().name
    # The ticker kept running while the handler slept 0.3 s in its worker thread.
    assert len(ticks) == 10 and ticks[-1] - ticks[0] < 0.3


def test_observers_see_requests_replies_and_events(bus: Bus) -> None:
    seen: list[tuple[str, float | None]] = []
    unsubscribe = bus.subscribe(lambda m, d: seen.append((m.action, d)))
    asyncio.run(bus.request(_msg("worker", "echo", {"n": 1})))
    bus.publish(_msg("*", "progress", {"percent": 50}))
    unsubscribe()
    asyncio.run(bus.request(_msg("worker", "echo", {"n": 1})))
    assert [a for a, _ in seen] == ["echo", "echo.result", "progress"]
    assert seen[1][1] is not None and seen[1][1] >= 0


def test_a_failing_observer_does_not_break_delivery(bus: Bus) -> None:
    def broken(message: Message, duration: float | None) -> None:
        raise ValueError("observer bug")

    bus.subscribe(broken)
    reply = asyncio.run(bus.request(_msg("worker", "echo", {"n": 1})))
    assert not reply.is_error


def test_agent_names_are_unique(bus: Bus) -> None:
    with pytest.raises(ValueError, match="already registered"):
        bus.register("worker", [])
