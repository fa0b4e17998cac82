"""Turn NeuroConv/neo exceptions into errors a user can act on.

Readers fail deep inside neo with messages about mmap sizes and stream ids; a user needs to hear which
file is wrong and what to do. Known messages get a precise explanation; anything else still names the
file and the reader, and keeps the original message for a bug report.
"""

from __future__ import annotations

import re
from pathlib import Path

from nwbagent.errors import UserFacingError

_KNOWN: list[tuple[re.Pattern[str], str, str]] = [
    (
        re.compile(r"stream_id .* is not in|stream_name .* is not in", re.I),
        "The reader found no data file for a stream its header file announces (for SpikeGLX: a .meta "
        "whose .bin is missing).",
        "Copy the missing data file next to its header, or remove the orphaned header.",
    ),
    (
        re.compile(r"not a multiple of the data-type size|multiple of the", re.I),
        "The data file's size is not a whole number of samples: the copy is truncated or corrupt.",
        "Copy the file again from the acquisition machine and check its size.",
    ),
    (
        re.compile(r"cannot mmap an empty file", re.I),
        "A data file is empty (0 bytes).",
        "Copy the recording again; an empty file usually means the transfer stopped early.",
    ),
    (
        re.compile(r"no space left on device", re.I),
        "The output disk is full.",
        "Free disk space or choose another output folder with -o.",
    ),
]


def explain_read_failure(exc: BaseException, *, interface: str, path: Path) -> UserFacingError:
    text = f"{type(exc).__name__}: {exc}".strip()
    for pattern, problem, fix in _KNOWN:
        if pattern.search(text):
            return UserFacingError(f"{problem} ({interface} said: {_clip(text)})", fix=fix, path=path)
    return UserFacingError(
        f"{interface} could not read this recording ({_clip(text)}).",
        fix="Check that the folder holds a complete copy of the recording (run `nwbagent detect` on it to "
        "see what was recognised), or choose another reader with --interface.",
        path=path,
        code="read_failed",
    )


def explain_write_failure(exc: BaseException, *, path: Path) -> UserFacingError:
    from jsonschema.exceptions import ValidationError

    if isinstance(exc, ValidationError):
        where = "/".join(str(p) for p in exc.absolute_path) or "the top level"
        return UserFacingError(
            f"The metadata does not fit NeuroConv's schema at {where}: {_clip(exc.message)}.",
            fix="Correct that value in the --metadata file (see `nwbagent check-metadata`).",
            path=path,
            code="metadata_invalid",
        )
    from nwbagent.convert.direct_write import ReadbackError, SourceReadError

    if isinstance(exc, SourceReadError):
        return UserFacingError(
            f"The recording ended early or changed while it was being written ({_clip(str(exc))}). "
            "Nothing was left at the output path.",
            fix="Make sure the recording is complete and nothing is still writing to it (a copy in "
            "progress), then convert again.",
            path=path,
            code="source_changed",
        )
    if isinstance(exc, ReadbackError):
        return UserFacingError(
            f"The written file did not read back identical to the recording ({_clip(str(exc))}), so it "
            "was discarded. This is a bug in nwbagent's fast writer.",
            fix="Convert with --writer neuroconv (or NWBAGENT_FAST_WRITE=false) and report this bug.",
            path=path,
            code="readback_mismatch",
        )
    if isinstance(exc, PermissionError):
        return UserFacingError(
            "The output folder is not writable.",
            fix="Choose a folder you can write to with -o, or fix its permissions.",
            path=path,
            code="output_not_writable",
        )
    text = f"{type(exc).__name__}: {exc}"
    for pattern, problem, fix in _KNOWN:
        if pattern.search(text):
            return UserFacingError(problem, fix=fix, path=path)
    return UserFacingError(
        f"Writing the NWB file failed ({_clip(text)}). Nothing was left at the output path.",
        fix="Check the disk and the metadata values, then run the conversion again.",
        path=path,
        code="write_failed",
    )


def _clip(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
