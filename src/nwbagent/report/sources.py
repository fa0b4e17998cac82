"""Where an NWB file came from: the converted units, the recipe beside it, the source files and their
hashes.

Hashing runs at disk speed, so it starts in the background as soon as a conversion begins and the report
waits only for what is left; files above a size limit are listed without a hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from nwbagent import outputs
from nwbagent.formats.detect import category_for
from nwbagent.report.model import (
    SourceFile,
    SourceInfo,
    SourceUnit,
)

#: Files above this are not hashed: hashing runs at disk speed and a report should take seconds.
HASH_SIZE_LIMIT = 2 * 1024**3
#: A folder-based format can hold thousands of files; the report lists this many at most.
MAX_SOURCE_FILES = 500
_PATH_KEYS = ("folder_path", "file_path")


def collect_source(
    nwb_path: Path,
    *,
    source_folder: str | Path | None,
    units: Sequence[Any] | None,
    notes: list[str],
) -> SourceInfo | None:
    """Source files and the readers used, from the caller's units or else the recipe beside the file."""
    folder = Path(source_folder).expanduser().resolve() if source_folder else None
    entries: list[tuple[str, str | None, str, float | None, dict[str, Any]]] = []
    if units:
        entries = _unit_entries(units)
    else:
        recipe = _read_recipe(nwb_path)
        if recipe is None:
            return SourceInfo(folder=str(folder)) if folder else None
        recipe_folder, recipe_entries = recipe
        folder = folder or recipe_folder
        entries = recipe_entries
    files, unresolved = _source_files(entries, folder)
    if unresolved:
        shown = ", ".join(unresolved[:3]) + (" …" if len(unresolved) > 3 else "")
        where = f"under {folder}" if folder else "(the recipe does not say where the data folder is)"
        notes.append(f"{len(unresolved)} source path(s) from the recipe could not be found {where}: {shown}.")
    too_large = [f.path for f in files if f.sha256 is None]
    if too_large:
        notes.append(
            f"{len(too_large)} source file(s) larger than {HASH_SIZE_LIMIT / 1024**3:.0f} GiB were not "
            "hashed, to keep the report fast."
        )
    return SourceInfo(
        folder=str(folder) if folder else None,
        files=files,
        units=[
            SourceUnit(interface=i, stream=s, category=c, confidence=conf) for i, s, c, conf, _ in entries
        ],
    )


def _unit_entries(units: Sequence[Any]) -> list[tuple[str, str | None, str, float | None, dict[str, Any]]]:
    return [
        (u.interface, u.stream, u.category, u.confidence, dict(getattr(u, "kwargs", {}) or {})) for u in units
    ]


def _read_recipe(
    nwb_path: Path,
) -> tuple[Path | None, list[tuple[str, str | None, str, float | None, dict[str, Any]]]] | None:
    import yaml

    path = outputs.path_of(nwb_path, "recipe")
    if not path.is_file():
        return None
    try:
        text = path.read_text()
        spec = yaml.safe_load(text)
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(spec, dict):
        return None
    folder: Path | None = None
    interfaces = spec.get("data_interfaces") or {}
    entries: list[tuple[str, str | None, str, float | None, dict[str, Any]]] = []
    for experiment in (spec.get("experiments") or {}).values():
        for session in (experiment or {}).get("sessions") or []:
            name = session.get("nwbfile_name")
            if name and name != nwb_path.name:
                continue
            folder = folder or outputs.recipe_source_folder(session)
            for key, kwargs in (session.get("source_data") or {}).items():
                kwargs = dict(kwargs or {})
                interface = str(interfaces.get(key, key))
                stream = kwargs.get("stream_id") or kwargs.get("stream_name")
                stream = stream if isinstance(stream, str) else None
                entries.append((interface, stream, category_for(interface, kwargs), None, kwargs))
    return folder, entries


def _source_files(
    entries: Sequence[tuple[str, str | None, str, float | None, dict[str, Any]]], folder: Path | None
) -> tuple[list[SourceFile], list[str]]:
    paths, unresolved = _source_paths(entries, folder)
    files: list[SourceFile] = []
    for path in paths:
        size = path.stat().st_size
        rel = os.path.relpath(path, folder) if folder else str(path)
        files.append(SourceFile(path=rel, size_bytes=size, sha256=sha256_of(path, size)))
    return files, unresolved


def _source_paths(
    entries: Sequence[tuple[str, str | None, str, float | None, dict[str, Any]]], folder: Path | None
) -> tuple[list[Path], list[str]]:
    found: dict[Path, None] = {}
    unresolved: list[str] = []
    for *_, kwargs in entries:
        raw: list[str] = [str(kwargs[k]) for k in _PATH_KEYS if isinstance(kwargs.get(k), str)]
        raw.extend(str(p) for p in kwargs.get("file_paths") or [])
        for item in raw:
            candidate = Path(item).expanduser()
            if not candidate.is_absolute():
                if folder is None:
                    unresolved.append(item)
                    continue
                candidate = folder / candidate
            if candidate.is_file():
                found[candidate.resolve()] = None
            elif candidate.is_dir():
                for child in sorted(candidate.rglob("*")):
                    if child.is_file() and not any(part.startswith(".") for part in child.parts[-1:]):
                        found[child.resolve()] = None
            else:
                unresolved.append(item)
    return list(found)[:MAX_SOURCE_FILES], unresolved


def hash_sources_in_background(units: Sequence[Any], source_folder: str | Path | None) -> threading.Thread:
    """Start hashing the source files a report of ``units`` will list, so the report finds them done.

    Hashing a 1.4 GB recording takes ~0.8 s; ``hashlib`` releases the GIL, so started before the NWB
    Inspector runs (one busy core) it costs no wall time. :func:`sha256_of` shares the results.
    """
    folder = Path(source_folder).expanduser().resolve() if source_folder else None
    entries = _unit_entries(units)

    def run() -> None:
        with contextlib.suppress(Exception):  # the report hashes again and reports its own errors
            for path in _source_paths(entries, folder)[0]:
                sha256_of(path)

    thread = threading.Thread(target=run, name="hash-sources", daemon=True)
    thread.start()
    return thread


_HASHES: dict[tuple[str, int, int], Future[str]] = {}
_HASHES_LOCK = threading.Lock()
_HASHES_KEPT = 10_000


def sha256_of(path: Path, size: int | None = None) -> str | None:
    """Streamed in 1 MiB blocks so memory stays flat; None above :data:`HASH_SIZE_LIMIT`.

    Each (path, size, mtime) is hashed once per process, however many callers ask at the same time.
    """
    stat = path.stat()
    if (stat.st_size if size is None else size) > HASH_SIZE_LIMIT:
        return None
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _HASHES_LOCK:
        future = _HASHES.get(key)
        owner = future is None
        if owner:
            if len(_HASHES) >= _HASHES_KEPT:
                _HASHES.clear()
            future = _HASHES[key] = Future()
    assert future is not None
    if owner:
        try:
            future.set_result(_sha256(path))
        except BaseException as exc:
            with _HASHES_LOCK:
                _HASHES.pop(key, None)
            future.set_exception(exc)
    return future.result()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
