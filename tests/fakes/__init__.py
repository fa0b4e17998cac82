"""Fake LLM APIs for tests, and fixtures for them.

``tests/`` has no ``__init__.py``: pytest's rootdir conftest puts ``tests/`` on ``sys.path``, so test
modules and ``conftest.py`` import this package as ``fakes``. To share the fixtures, import them in
``tests/conftest.py`` (``from fakes import fake_anthropic, fake_openai  # noqa: F401``) or in a test module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakes.anthropic_server import FakeAnthropic
from fakes.openai_server import FakeOpenAI
from fakes.scripted import ErrorReply, RecordedRequest, Reply, ScriptedServer


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


__all__ = [
    "ErrorReply",
    "FakeAnthropic",
    "FakeOpenAI",
    "RecordedRequest",
    "Reply",
    "ScriptedServer",
    "fake_anthropic",
    "fake_openai",
]
