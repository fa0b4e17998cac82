"""Every real format family in ../shared/data converts end to end through `convert` (stub previews).

Detection finding the right interface is not enough: the kwargs, metadata mapping, stream naming and
ConverterPipe assembly must also work for each family, and the file must not FAIL DANDI inspection when the
user's metadata is complete.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pynwb import NWBHDF5IO

from conftest import load_cases
from nwbagent.convert import convert

COMPLETE = {
    "subject_id": "M1",
    "session_id": "s1",
    "species": "mouse",
    "sex": "F",
    "age": "P60D",
    "experimenter": "Jane Doe",
    "institution": "Example University",
    "session_description": "Test recording",
    "experiment_description": "Format coverage test",
    "keywords": "electrophysiology, test",
    "brain_region": "CA1",
    "session_start_time": "2021-01-01T10:00:00+00:00",
}


def _case_folders() -> list[str]:
    folders: list[str] = []
    for case in load_cases():
        kw = case["kwargs"]
        folder = kw.get("folder_path") or str(Path(kw.get("file_path") or kw["file_paths"][0]).parent)
        if folder not in folders:
            folders.append(folder)
    return folders


@pytest.mark.parametrize("folder", _case_folders())
def test_case_folder_converts(folder: str, ephy_data: Path, tmp_path: Path) -> None:
    interfaces = ["AbfInterface", "AxonRecordingInterface"] if folder == "axon" else [None]
    for interface in interfaces:
        out_dir = tmp_path / (interface or "auto")
        outputs = convert(ephy_data / folder, out_dir, user_metadata=COMPLETE, stub=True, interface=interface)
        assert outputs, folder
        for out in outputs:
            assert out.verdict != "FAILED", json.dumps(out.findings, indent=1)[:3000]
            assert not out.findings.get("tool_faults"), out.findings["tool_faults"]
            with NWBHDF5IO(out.nwb, "r") as io:
                f = io.read()
                assert f.subject.species == "Mus musculus"
                held = len(f.acquisition) + len(f.processing) + (0 if f.units is None else len(f.units))
                held += len(f.icephys_electrodes)
                assert held > 0, f"{out.nwb} holds no data"


def test_cases_cover_all_families() -> None:
    assert len(_case_folders()) >= 16, "cases.json is missing or incomplete"
