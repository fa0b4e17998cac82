"""The replayable NeuroConv YAML specification written beside every NWB file.

A conversion should be reproducible without nwbagent: the recipe runs with NeuroConv's own CLI
(``neuroconv RECIPE.yml --data-folder-path SOURCE --output-folder-path OUT``). Source paths are stored
relative to the source folder so the recipe survives moving the data; the metadata is what nwbagent
settled on (subject, session), while the rest is re-read from the files by the interfaces.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from nwbagent import outputs
from nwbagent.formats.model import Unit

_PATH_KEYS = ("folder_path", "file_path")


def _relative_source_data(kwargs: dict[str, Any], root: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in _PATH_KEYS and isinstance(value, str):
            out[key] = os.path.relpath(value, root)
        elif key == "file_paths" and isinstance(value, list):
            out[key] = [os.path.relpath(str(v), root) for v in value]
        else:
            out[key] = value
    return out


def recipe_dict(
    *,
    units: list[Unit],
    keys: list[str],
    metadata: dict[str, Any],
    source_root: Path,
    nwbfile_name: str,
    stub: bool,
) -> dict[str, Any]:
    # Only what nwbagent decided; the interfaces re-read the rest from the files. A replay makes a new file,
    # so it must not reuse this file's identifier.
    _drop = {"identifier", "source_script", "source_script_file_name"}
    metadata = {
        k: {f: v for f, v in dict(metadata.get(k, {})).items() if f not in _drop}
        for k in ("NWBFile", "Subject")
    }
    # The spec schema wants JSON types; datetimes become ISO 8601 strings with their offset.
    metadata = yaml.safe_load(yaml.safe_dump(_jsonable(metadata)))
    source_data = {
        key: _relative_source_data(u.kwargs, source_root) for key, u in zip(keys, units, strict=True)
    }
    session_entry: dict[str, Any] = {
        "nwbfile_name": nwbfile_name,
        "source_data": source_data,
        # NeuroConv ignores it; nwbagent's report reads where the paths above are relative to
        outputs.RECIPE_KEY: {"source_folder": str(source_root)},
    }
    if stub:
        session_entry["conversion_options"] = {
            key: {"stub_test": True} for key, u in zip(keys, units, strict=True) if u.category != "sorting"
        }
    return {
        "metadata": metadata,
        "data_interfaces": {key: u.interface for key, u in zip(keys, units, strict=True)},
        "experiments": {"nwbagent": {"sessions": [session_entry]}},
    }


def write_recipe(
    path: Path,
    *,
    units: list[Unit],
    keys: list[str],
    metadata: dict[str, Any],
    source_root: Path,
    nwbfile_name: str,
    stub: bool,
    notes: list[str] | None = None,
) -> Path:
    """Write the recipe; ``notes`` are what nwbagent did that NeuroConv's own run of it does not do (a
    corrected time base, segments left out), written as comments so a replay is not taken for identical."""
    spec = recipe_dict(
        units=units,
        keys=keys,
        metadata=metadata,
        source_root=source_root,
        nwbfile_name=nwbfile_name,
        stub=stub,
    )
    header = (
        "# NeuroConv conversion specification written by nwbagent. Replay it without nwbagent:\n"
        f"#   neuroconv {path.name} --data-folder-path {source_root} --output-folder-path OUT --overwrite\n"
    )
    for note in notes or []:
        header += "# nwbagent: " + " ".join(note.split()) + "\n"
    return outputs.write_atomic(path, header + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
