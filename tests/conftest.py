"""Shared fixtures. Real recordings come from ``../shared/data`` beside the checkout; a test that needs them
fails with a clear message when they are absent instead of skipping silently."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from fakes import fake_anthropic, fake_openai  # noqa: F401  (fixtures shared by every test module)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NWBAGENT_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()


def _require_shared() -> Path:
    if not (SHARED_DATA / "ephy_testing_data").is_dir():
        pytest.fail(
            f"Real test recordings not found at {SHARED_DATA}. Place the shared data folder beside the "
            "checkout (../shared/data) or set NWBAGENT_SHARED_DATA to its path.",
            pytrace=False,
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _require_shared()


@pytest.fixture(scope="session")
def ephy_data(shared_data: Path) -> Path:
    return shared_data / "ephy_testing_data"


def load_cases() -> list[dict[str, Any]]:
    """The acceptance cases; read at collection time so each becomes its own test id."""
    path = SHARED_DATA / "cases.json"
    if not path.exists():
        return []
    return list(json.loads(path.read_text()))
