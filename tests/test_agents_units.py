"""Each agent on its own, through the bus, on real data; and the architecture rules the agents rely on."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from nwbagent.agents.bus import Bus
from nwbagent.agents.contracts import (
    CheckMetadataReply,
    CheckMetadataRequest,
    ConvertReply,
    ConvertRequest,
    DetectReply,
    DetectRequest,
    InspectReply,
    InspectRequest,
    ReadMetadataReply,
    ReadMetadataRequest,
)
from nwbagent.agents.conversion import ConversionAgent
from nwbagent.agents.evaluation import EvaluationAgent
from nwbagent.agents.messages import Message
from nwbagent.metadata import from_user, merge

SRC = Path(__file__).resolve().parents[1] / "src" / "nwbagent"


@pytest.fixture
def bus() -> Bus:
    b = Bus()
    ConversionAgent(b)
    EvaluationAgent(b)
    return b


@pytest.fixture
def spikeglx(ephy_data: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "src" / "TEST_20210920_0_g0"
    shutil.copytree(ephy_data / "spikeglx" / "TEST_20210920_0_g0", dst)
    return dst


def _call(bus: Bus, target: str, action: str, payload: object, result: type) -> object:
    return asyncio.run(
        bus.call(session_id="s", sender="test", target=target, action=action, payload=payload, result=result)  # type: ignore[arg-type]
    )


def test_conversion_agent_detects_reads_and_converts(bus: Bus, spikeglx: Path, tmp_path: Path) -> None:
    found = _call(bus, "conversion", "detect", DetectRequest(source=str(spikeglx)), DetectReply)
    assert isinstance(found, DetectReply)
    units = [u for u in found.detection.units if u.confidence >= 0.5]
    assert {u.interface for u in units} == {"SpikeGLXRecordingInterface", "SpikeGLXSyncChannelInterface"}
    assert any("0.03 s" in w for w in found.detection.warnings)

    read = _call(
        bus,
        "conversion",
        "read_metadata",
        ReadMetadataRequest(source=str(spikeglx), units=units),
        ReadMetadataReply,
    )
    assert isinstance(read, ReadMetadataReply)
    assert set(read.layers) == {"default", "inferred", "file"}
    assert read.layers["file"].values()["session_start_time"].year == 2021

    events: list[Message] = []
    bus.subscribe(lambda m, _: events.append(m) if m.action == "progress" else None)
    user = from_user({"subject_id": "M1", "species": "mouse", "sex": "F", "age": "P60D"})
    request = ConvertRequest(
        source=str(spikeglx), units=units, layers=[user], output_dir=str(tmp_path / "o"), stub=True
    )
    done = _call(bus, "conversion", "convert", request, ConvertReply)
    assert isinstance(done, ConvertReply)
    (out,) = done.outputs
    assert Path(out.nwb).exists() and out.verdict == "NOT_INSPECTED"
    assert events and events[-1].payload["percent"] == 100.0 and events[-1].payload["stub"] is True


def test_conversion_agent_reports_a_damaged_stream_as_left_out(bus: Bus, spikeglx: Path) -> None:
    """A stream that cannot convert is data about the folder, not a failed request: the reply lists it."""
    (spikeglx / "TEST_20210920_0_g0_t0.imec0.ap.bin").unlink()
    found = _call(bus, "conversion", "detect", DetectRequest(source=str(spikeglx)), DetectReply)
    assert isinstance(found, DetectReply)
    assert found.detection.units == []
    (left,) = found.detection.left_out
    assert left.code == "missing_data_file" and left.path and left.path.endswith(".meta") and left.fix


def test_conversion_agent_reports_bad_input_as_user_error(bus: Bus, tmp_path: Path) -> None:
    reply = asyncio.run(
        bus.request(
            Message(
                session_id="s",
                sender="t",
                target="conversion",
                action="detect",
                payload={"source": str(tmp_path / "not-there")},
            )
        )
    )
    assert reply.is_error and reply.payload["code"] == "user_error"
    assert reply.payload["path"].endswith("not-there") and reply.payload["hint"]


def test_evaluation_agent_turns_missing_metadata_into_questions(bus: Bus) -> None:
    partial = merge(from_user({"subject_id": "M1", "species": "mouse"}))
    checked = _call(
        bus, "evaluation", "check_metadata", CheckMetadataRequest(metadata=partial), CheckMetadataReply
    )
    assert isinstance(checked, CheckMetadataReply)
    by_field = {q.field: q for q in checked.questions}
    assert by_field["age"].importance == "CRITICAL" and "e.g." in by_field["age"].text
    assert by_field["sex"].importance == "CRITICAL"
    assert "species" not in by_field and "subject_id" not in by_field
    # One question per field, most important first.
    assert len(by_field) == len(checked.questions)
    ranks = ["CRITICAL", "BEST_PRACTICE_VIOLATION", "BEST_PRACTICE_SUGGESTION"]
    assert [ranks.index(q.importance) for q in checked.questions] == sorted(
        ranks.index(q.importance) for q in checked.questions
    )


def test_evaluation_agent_separates_metadata_questions_from_data_findings(
    bus: Bus, spikeglx: Path, tmp_path: Path
) -> None:
    from nwbagent.convert import convert

    (out,) = convert(spikeglx, tmp_path / "o", stub=True, inspect=False)
    reply = _call(bus, "evaluation", "inspect", InspectRequest(nwb_path=out.nwb, stub=True), InspectReply)
    assert isinstance(reply, InspectReply)
    assert reply.inspection.verdict == "FAILED"
    fields = {q.field for q in reply.questions}
    assert {"subject_id"} <= fields
    assert all(not f.stub_false_positive for f in reply.data_findings)
    assert all(f.check_name != "check_subject_exists" for f in reply.data_findings)
