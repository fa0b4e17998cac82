"""Every file a conversion leaves beside its NWB file, how it is named, and how it appears only complete.

One owner for the names: the NWB file, its recipe, its provenance and its four reports, what a download of
each is called, the hidden names they are written under until complete, and how to find what a crash left
of those (files, and Zarr stores, which are folders). Everything that writes an output, serves a download or
cleans up after a crash asks this module, so a new sidecar is one entry here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Kind:
    """One downloadable output: the suffix that replaces ``.nwb`` and the words a page shows for it."""

    name: str
    suffix: str
    label: str
    media_type: str


#: Every output of one conversion, in the order the pages list them. ``nwb`` is the file itself.
KINDS: tuple[Kind, ...] = (
    Kind("nwb", "", "NWB file", "application/x-hdf5"),
    Kind("report-html", ".report.html", "HTML report", "text/html"),
    Kind("report-pdf", ".report.pdf", "PDF report", "application/pdf"),
    Kind("report-text", ".report.txt", "Text report", "text/plain"),
    Kind("report-json", ".report.json", "JSON report", "application/json"),
    Kind("recipe", ".neuroconv.yml", "Conversion recipe (NeuroConv YAML)", "application/yaml"),
    Kind("metadata", ".metadata.json", "Metadata with provenance (JSON)", "application/json"),
)
BY_NAME: dict[str, Kind] = {kind.name: kind for kind in KINDS}
#: Report formats and the kind each is downloaded as.
REPORT_KINDS: dict[str, str] = {
    "html": "report-html",
    "pdf": "report-pdf",
    "text": "report-text",
    "json": "report-json",
}

#: A recipe session entry's own key for what nwbagent records beside NeuroConv's fields (NeuroConv's
#: specification schema allows extra keys in a session and ignores them).
RECIPE_KEY = "x-nwbagent"

_PARTIAL = ".partial"
_WRITE_TEST = ".nwbagent-write-test-"


def stem(nwb: Path) -> Path:
    """``x.nwb`` → ``x``, ``x.nwb.zarr`` → ``x.nwb``: what every sidecar's name starts from."""
    return Path(nwb).with_suffix("")


def path_of(nwb: Path, kind: str) -> Path:
    """Where output ``kind`` of the NWB file ``nwb`` is."""
    suffix = BY_NAME[kind].suffix
    return Path(nwb) if not suffix else stem(nwb).with_name(stem(nwb).name + suffix)


def report_path(nwb_stem: Path, fmt: str) -> Path:
    """The report in ``fmt`` (html, pdf, text, json) beside the file whose stem is ``nwb_stem``."""
    return Path(nwb_stem).with_name(Path(nwb_stem).name + BY_NAME[REPORT_KINDS[fmt]].suffix)


def temporary(final: Path) -> Path:
    """A hidden, unique name beside ``final`` to write it under until it is complete."""
    final = Path(final)
    return final.with_name(f".{final.stem}.{uuid.uuid4().hex[:8]}{_PARTIAL}{final.suffix}")


def is_temporary(path: Path) -> bool:
    name = Path(path).name
    return (name.startswith(".") and _PARTIAL in name) or name.startswith(_WRITE_TEST)


def write_test_name(folder: Path) -> str:
    """The prefix of the throwaway file that proves a folder is writable before a long conversion."""
    return str(Path(folder) / _WRITE_TEST)


def leftovers(root: Path, *, since: float | None = None) -> Iterator[Path]:
    """What interrupted writes left under ``root``: temporary files and Zarr folders (``since``: only those
    changed after that wall-clock time). A folder is yielded once, not its contents."""
    root = Path(root)
    if not root.is_dir():
        return
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        for name in [d for d in dirs if is_temporary(here / d)]:
            dirs.remove(name)
            if _recent(here / name, since):
                yield here / name
        for name in files:
            if is_temporary(here / name) and _recent(here / name, since):
                yield here / name


def _recent(path: Path, since: float | None) -> bool:
    if since is None:
        return True
    try:
        return path.stat().st_mtime >= since
    except OSError:
        return False


def remove(path: Path) -> None:
    """Delete a file or a folder (a Zarr store); gone already is fine."""
    path = Path(path)
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def replace(tmp: Path, final: Path) -> None:
    """Move a complete output into place; a folder (Zarr) is swapped through a second hidden name."""
    tmp, final = Path(tmp), Path(final)
    if tmp.is_dir():
        old = temporary(final)
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        remove(old)
    else:
        os.replace(tmp, final)


def write_atomic(path: Path, data: bytes | str, *, durable: bool = False) -> Path:
    """Write ``data`` to ``path`` so that ``path`` only ever holds a complete file; the temporary name is
    unique (two writers never share it) and removed when the write fails. ``durable`` also flushes it to
    the disk before the rename (a session document that must survive a power cut)."""
    path = Path(path)
    tmp = temporary(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with tmp.open("wb") as handle:
            handle.write(raw)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise
    return path


def recipe_source_folder(session_entry: dict[str, object]) -> Path | None:
    """The folder a recipe session's relative source paths start from, as the recipe records it."""
    recorded = session_entry.get(RECIPE_KEY)
    folder = recorded.get("source_folder") if isinstance(recorded, dict) else None
    return Path(folder) if isinstance(folder, str) and folder else None
