"""One owner for output names and atomic writes: names, temporary names, leftovers of crashed writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nwbagent import outputs
from nwbagent.agents.store import JsonFileStore
from nwbagent.server.db.engine import make_engine, upgrade
from nwbagent.server.db.repos import JobRepo
from nwbagent.server.db.store import SqlStore
from nwbagent.server.recovery import recover


def test_every_kind_has_one_name(tmp_path: Path) -> None:
    nwb = tmp_path / "sub-M1" / "sub-M1_ses-1_ecephys.nwb"
    names = {kind.name: outputs.path_of(nwb, kind.name).name for kind in outputs.KINDS}
    assert names == {
        "nwb": "sub-M1_ses-1_ecephys.nwb",
        "report-html": "sub-M1_ses-1_ecephys.report.html",
        "report-pdf": "sub-M1_ses-1_ecephys.report.pdf",
        "report-text": "sub-M1_ses-1_ecephys.report.txt",
        "report-json": "sub-M1_ses-1_ecephys.report.json",
        "recipe": "sub-M1_ses-1_ecephys.neuroconv.yml",
        "metadata": "sub-M1_ses-1_ecephys.metadata.json",
    }
    zarr = nwb.with_suffix(".nwb.zarr")
    assert outputs.path_of(zarr, "recipe").name == "sub-M1_ses-1_ecephys.nwb.neuroconv.yml"
    for fmt in ("html", "pdf", "text", "json"):
        assert outputs.report_path(outputs.stem(nwb), fmt) == outputs.path_of(nwb, outputs.REPORT_KINDS[fmt])


def test_temporary_names_are_unique_hidden_and_recognised(tmp_path: Path) -> None:
    final = tmp_path / "x.metadata.json"
    first, second = outputs.temporary(final), outputs.temporary(final)
    assert first != second and first.name.startswith(".") and first.parent == tmp_path
    assert outputs.is_temporary(first) and not outputs.is_temporary(final)


def test_a_failed_atomic_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r.neuroconv.yml"
    target.write_text("old")

    def broken(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        outputs.write_atomic(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.neuroconv.yml"]


def test_leftovers_include_zarr_folders_once(tmp_path: Path) -> None:
    out = tmp_path / "out" / "sub-M1"
    out.mkdir(parents=True)
    zarr = outputs.temporary(out / "a.nwb.zarr")
    (zarr / "acquisition").mkdir(parents=True)
    (zarr / "acquisition" / ".zattrs").write_text("{}")
    partial = outputs.temporary(out / "a.nwb")
    partial.write_bytes(b"HDF")
    (out / "done.nwb").write_bytes(b"HDF")
    found = sorted(outputs.leftovers(tmp_path / "out"))
    assert found == sorted([zarr, partial])


def test_recovery_removes_a_partial_zarr_store(tmp_path: Path) -> None:
    """A restart used to delete only files: a half-written Zarr store (a folder) survived."""
    data = tmp_path / "data"
    session_out = data / "sessions" / "abc" / "out" / "nwb" / "sub-M1"
    zarr = outputs.temporary(session_out / "x.nwb.zarr")
    (zarr / "acquisition").mkdir(parents=True)
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine)
    report = recover(SqlStore(engine), JobRepo(engine), data / "sessions")
    assert not zarr.exists() and str(zarr) in report.partial_files
    engine.dispose()


def test_the_json_store_writes_through_the_same_writer(tmp_path: Path) -> None:
    from nwbagent.agents.state import SessionState

    store = JsonFileStore(tmp_path / "s")
    session = SessionState()
    store.create(session)
    store.save(store.get(session.id))
    assert not [p for p in (tmp_path / "s").iterdir() if outputs.is_temporary(p)]
    assert (tmp_path / "s" / f"{session.id}.json").is_file()
