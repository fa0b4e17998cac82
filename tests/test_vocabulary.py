"""One owner per vocabulary, served to the pages; one implementation of field validation; one session view.

Driven in-process against the app (no server subprocess): what the pages read is what the Python owners
define, so a new state, importance level or download kind is one edit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from nwbagent import outputs
from nwbagent.agents.state import State
from nwbagent.agents.workflow import STATE_LABELS, TERMINAL, WITH_RESULT
from nwbagent.inspect.model import IMPORTANCE_ORDER
from nwbagent.metadata.schema import PRECEDENCE
from nwbagent.server.app import create_app
from nwbagent.settings import Settings

SRC = Path(__file__).resolve().parents[1] / "src" / "nwbagent"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("vocab")
    app = create_app(Settings(data_dir=str(data), llm_provider="rules", rate_limits_enabled=False))
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


def test_the_vocabulary_comes_from_its_owners(client: TestClient) -> None:
    vocab = client.get("/api/vocabulary").json()
    states = {s["name"]: s for s in vocab["states"]}
    assert list(states) == [s.value for s in State]
    assert all(states[s.value]["label"] == STATE_LABELS[s] for s in State)
    assert {n for n, s in states.items() if s["terminal"]} == {s.value for s in TERMINAL}
    assert {n for n, s in states.items() if s["with_result"]} == {s.value for s in WITH_RESULT}
    importance = [i["name"] for i in vocab["importance"]]
    assert set(IMPORTANCE_ORDER) <= set(importance) and {"TOOL_FAULT", "STUB_FALSE_POSITIVE"} <= set(
        importance
    )
    assert [k["kind"] for k in vocab["downloads"]] == [k.name for k in outputs.KINDS]
    assert {s["name"] for s in vocab["sources"]} == set(PRECEDENCE)
    assert vocab["formats"]["SpikeGLXRecordingInterface"] == "SpikeGLX Recording"


def test_pages_restate_no_vocabulary() -> None:
    """The lists that caused drift live in Python only: the scripts read /api/vocabulary."""
    for script in ("chat.js", "guided.js", "streams.js"):
        text = (SRC / "web" / "js" / script).read_text()
        for restated in ("Passed with issues", "Must fix before sharing", "Download PDF report"):
            assert restated not in text, (script, restated)
        assert 'new Set(["passed"' not in text, script


@pytest.mark.parametrize(
    ("field", "typed", "saved"),
    [
        ("sex", "man", "M"),
        ("sex", "intersex", "O"),
        ("sex", "n/a", "U"),
        ("age", "aged 8 weeks", "P56D"),
        ("species", "mouse", "Mus musculus"),
    ],
)
def test_the_forms_check_is_the_servers_normalizer(
    client: TestClient, field: str, typed: str, saved: str
) -> None:
    checked = client.post("/api/metadata/check", json={"field": field, "value": typed}).json()
    assert checked["ok"] is True and checked["value"] == saved and checked["changed"] is True


def test_a_refused_value_says_why_with_an_example(client: TestClient) -> None:
    checked = client.post("/api/metadata/check", json={"field": "age", "value": "old"}).json()
    assert checked["ok"] is False and checked["error"] and checked["example"]
    unknown = client.post("/api/metadata/check", json={"field": "speceis", "value": "mouse"}).json()
    assert unknown["ok"] is False and "not a metadata field" in unknown["error"]


def test_the_session_view_carries_what_a_page_needs(client: TestClient) -> None:
    sid = client.post("/api/sessions").json()["id"]
    view = client.get(f"/api/sessions/{sid}").json()
    status = client.get(f"/api/sessions/{sid}/status").json()
    for key in ("state_label", "allowed_actions", "downloads", "allowed", "questions", "units", "left_out"):
        assert key in view and key in status, key
    assert view["state_label"] == STATE_LABELS[State.created]
    assert status["state"] == view["state"] and status["allowed_actions"] == view["allowed_actions"]
    assert view["allowed_actions"] == ["abandon"]
