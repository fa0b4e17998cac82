"""Conversion reports, data side: what a report states about real converted files and about foreign NWB files,
its JSON schema, the text rendering and the ``nwbagent report`` command."""

from __future__ import annotations

import json
import shutil
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from nwbagent.cli import main
from nwbagent.convert import ConversionOutput, convert
from nwbagent.inspect import FIX_HINTS
from nwbagent.report import Report, build_report, render_text, sources
from nwbagent.report.explain import EXPLANATIONS, GENERIC_EXPLANATION
from nwbagent.report.jsonschema import report_json_schema, shipped_schema
from nwbagent.report.text import SECTIONS
from test_convert import COMPLETE

FORMATS = ("html", "pdf", "json", "text")


@pytest.fixture(scope="module")
def converted(ephy_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, ConversionOutput]:
    """One complete conversion and one with no subject metadata (FAILED), of the real SpikeGLX run."""
    root = tmp_path_factory.mktemp("report")
    src = root / "src" / "TEST_20210920_0_g0"
    shutil.copytree(ephy_data / "spikeglx" / "TEST_20210920_0_g0", src)
    for f in src.iterdir():
        f.chmod(0o644)
    good = convert(src, root / "good", user_metadata=COMPLETE)[0]
    bad = convert(src, root / "bad", user_metadata={"session_id": "ses2"})[0]
    return {"good": good, "bad": bad}


@pytest.fixture(scope="module")
def good_report(converted: dict[str, ConversionOutput]) -> Report:
    return Report.model_validate_json(Path(converted["good"].reports["json"]).read_text())


@pytest.fixture
def foreign_nwb(tmp_path: Path) -> Path:
    """An NWB file nwbagent never saw: written by pynwb itself, timestamps instead of a rate, no sidecars."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    nwbfile = NWBFile(
        session_description="tracking from another lab",
        identifier="foreign-1",
        session_start_time=datetime(2024, 1, 2, 10, 0, tzinfo=UTC),
    )
    nwbfile.add_acquisition(
        TimeSeries(
            name="position", data=np.arange(20.0).reshape(10, 2), unit="m", timestamps=np.linspace(0, 4.5, 10)
        )
    )
    module = nwbfile.create_processing_module("behavior", "processed")
    module.add(TimeSeries(name="speed", data=np.ones(50), unit="m/s", rate=10.0))
    path = tmp_path / "foreign.nwb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwbfile)
    return path


def test_conversion_writes_four_reports_beside_the_file(converted: dict[str, ConversionOutput]) -> None:
    out = converted["good"]
    nwb = Path(out.nwb)
    assert set(out.reports) == set(FORMATS), out.warnings
    for fmt, ext in zip(FORMATS, ("html", "pdf", "json", "txt"), strict=True):
        path = Path(out.reports[fmt])
        assert path == nwb.with_name(f"{nwb.stem}.report.{ext}")
        assert path.stat().st_size > 0
    assert Path(out.reports["pdf"]).read_bytes().startswith(b"%PDF")
    assert not [p for p in nwb.parent.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_json_validates_against_the_shipped_schema(converted: dict[str, ConversionOutput]) -> None:
    schema = shipped_schema()
    assert schema == report_json_schema(), "run `python -m nwbagent.report.jsonschema` after a model change"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema" and schema["$id"]
    jsonschema.Draft202012Validator.check_schema(schema)
    for out in converted.values():
        jsonschema.Draft202012Validator(schema).validate(json.loads(Path(out.reports["json"]).read_text()))
    wrong_major = json.loads(Path(converted["good"].reports["json"]).read_text())
    wrong_major["schema_version"] = "2.0.0"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong_major, schema)


def test_contents_describe_the_series_without_reading_them(good_report: Report) -> None:
    series = {s.path: s for s in good_report.contents.series}
    ap = series["acquisition/ElectricalSeriesAP"]
    assert ap.neurodata_type == "ElectricalSeries"
    assert ap.shape == [1000, 384] and ap.dtype == "int16"
    assert ap.rate_hz == 30000 and ap.unit == "volts"
    assert ap.duration_s == pytest.approx(1000 / 30000)
    assert ap.compression is not None and ap.compression.startswith("gzip")
    electrodes = good_report.contents.electrodes
    assert electrodes is not None and electrodes.count == 384
    assert sum(g.electrodes for g in electrodes.groups) == 384
    assert {g.location for g in electrodes.groups} == {"CA1"}
    assert good_report.contents.backend == "hdf5" and good_report.contents.nwb_version


def test_metadata_rows_carry_sources_and_what_they_overrode(good_report: Report) -> None:
    rows = {m.field: m for m in good_report.metadata}
    assert rows["subject_id"].source == "user" and rows["subject_id"].value == "M12"
    assert rows["session_start_time"].source == "file"
    assert rows["session_start_time"].evidence
    keywords = rows["keywords"]
    assert keywords.source == "user"
    assert keywords.overridden and keywords.overridden[0].source == "default"
    # Source files are listed, relative to the source folder, with their hashes.
    assert good_report.source is not None
    files = {f.path: f for f in good_report.source.files}
    assert "TEST_20210920_0_g0_t0.imec0.ap.bin" in files
    assert all(f.sha256 and len(f.sha256) == 64 for f in files.values())
    assert any(u.interface == "SpikeGLXRecordingInterface" for u in good_report.source.units)
    assert good_report.verdict.dandi_ready, good_report.verdict.reasons
    assert {"nwbagent", "pynwb", "nwbinspector", "neuroconv", "python"} <= set(good_report.versions)


def test_failed_file_lists_critical_findings_first(converted: dict[str, ConversionOutput]) -> None:
    report = Report.model_validate_json(Path(converted["bad"].reports["json"]).read_text())
    assert report.verdict.verdict == "FAILED" and not report.verdict.dandi_ready
    assert report.findings[0].importance == "CRITICAL"
    ranks = ["ERROR", "PYNWB_VALIDATION", "CRITICAL", "BEST_PRACTICE_VIOLATION", "BEST_PRACTICE_SUGGESTION"]
    order = [ranks.index(f.importance) for f in report.findings if not f.stub_false_positive]
    assert order == sorted(order)
    first = report.findings[0]
    assert first.check_name == "check_subject_exists"
    assert first.explanation and first.explanation != GENERIC_EXPLANATION
    assert first.fix == FIX_HINTS["check_subject_exists"]
    reasons = " ".join(report.verdict.reasons)
    assert "Subject age is missing" in reasons and "blocking" in reasons


def test_text_rendering_has_every_section_within_100_columns(good_report: Report) -> None:
    text = render_text(good_report)
    for header in SECTIONS:
        assert f"\n{header}\n" in text, header
    assert good_report.title in text
    assert "ElectricalSeriesAP" in text and "CA1" in text
    for plot in good_report.plots:
        assert plot.alt[:40] in text.replace("\n      ", " ")
    long = [line for line in text.splitlines() if len(line) > 100]
    assert not long, long


def test_report_command_on_a_foreign_nwb_file(foreign_nwb: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["report", str(foreign_nwb), "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    jsonschema.validate(data, shipped_schema())
    report = Report.model_validate(data)
    series = {s.path: s for s in report.contents.series}
    assert series["acquisition/position"].duration_s == pytest.approx(4.5)
    assert series["acquisition/position"].rate_hz is None
    assert series["processing/behavior/speed"].duration_s == pytest.approx(5.0)
    assert report.source is None
    assert {m.source for m in report.metadata} == {"file"}
    assert not report.verdict.dandi_ready
    assert any("Subject ID is missing" in r for r in report.verdict.reasons)

    res = runner.invoke(main, ["report", str(foreign_nwb), "-o", str(tmp_path / "out" / "r")])
    assert res.exit_code == 0, res.output
    for ext in ("html", "pdf", "json", "txt"):
        assert (tmp_path / "out" / f"r.report.{ext}").is_file()
        assert f"r.report.{ext}" in res.output
    text = runner.invoke(main, ["report", str(foreign_nwb), "--format", "text", "--no-plots"])
    assert text.exit_code == 0 and "\nFINDINGS\n" in text.stdout


def test_report_command_on_a_non_nwb_file_exits_2(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.nwb"
    bogus.write_text("not hdf5")
    res = CliRunner().invoke(main, ["report", str(bogus)])
    assert res.exit_code == 2
    assert "not an NWB file" in res.output


def test_a_plot_failure_is_a_note_not_a_failed_report(
    foreign_nwb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nwbagent.report.plots as plots

    def broken(*_: Any) -> list[Any]:
        raise RuntimeError("no display")

    monkeypatch.setattr(plots, "make_plots", broken)
    report = build_report(foreign_nwb)
    assert report.plots == []
    assert any("no display" in n for n in report.notes)


def test_large_source_files_are_listed_but_not_hashed(
    converted: dict[str, ConversionOutput], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "HASH_SIZE_LIMIT", 100_000)
    notes: list[str] = []
    source = sources.collect_source(Path(converted["good"].nwb), source_folder=None, units=None, notes=notes)
    assert source is not None
    hashed = {f.path: f.sha256 for f in source.files}
    assert hashed["TEST_20210920_0_g0_t0.imec0.ap.bin"] is None
    assert hashed["TEST_20210920_0_g0_t0.imec0.ap.meta"] is not None
    assert any("not hashed" in n for n in notes)


def test_every_fix_hint_has_an_explanation() -> None:
    assert len(EXPLANATIONS) >= 30
    assert set(FIX_HINTS) <= set(EXPLANATIONS)


def test_source_hashes_are_computed_once_and_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The conversion starts hashing while the inspector runs; the report then reuses that result, and a
    file that changes is hashed again."""
    import hashlib
    import threading

    from nwbagent.formats.model import Unit

    folder = tmp_path / "rec"
    folder.mkdir()
    data = folder / "x.bin"
    data.write_bytes(b"abc" * 100_000)
    calls: list[Path] = []
    real = sources._sha256
    gate = threading.Event()

    def slow(path: Path) -> str:
        calls.append(path)
        gate.wait(5)
        return real(path)

    monkeypatch.setattr(sources, "_sha256", slow)
    unit = Unit(
        interface="SpikeGLXRecordingInterface",
        kwargs={"file_path": "x.bin"},
        category="recording",
        confidence=1,
    )
    thread = sources.hash_sources_in_background([unit], folder)
    results: list[str | None] = []
    waiter = threading.Thread(target=lambda: results.append(sources.sha256_of(data.resolve())))
    waiter.start()
    gate.set()
    thread.join(5)
    waiter.join(5)
    assert results == [hashlib.sha256(b"abc" * 100_000).hexdigest()]
    assert calls == [data.resolve()]  # the report's call waited for the background hash
    data.write_bytes(b"changed")
    assert sources.sha256_of(data.resolve()) == hashlib.sha256(b"changed").hexdigest()
    assert len(calls) == 2
