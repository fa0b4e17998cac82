"""Turn NeuroConv/neo/pynwb exceptions into errors a user can act on.

Readers fail deep inside neo with messages about mmap sizes and stream ids; a user needs to hear which
file is wrong and what to do. Known messages get a precise explanation; anything else still names the
file and the reader. The original message never goes into the sentence a user reads: it is kept as the
error's ``details`` (technical details, for a bug report). A message that means "this value is missing"
becomes :class:`MissingValue`, which the agents turn into a question and the CLI into ``--option``.
"""

from __future__ import annotations

import re
from pathlib import Path

from nwbagent.errors import UserFacingError
from nwbagent.formats.model import Parameter, Unit
from nwbagent.formats.registry import display_name

_SAMPLING = Parameter(
    name="sampling_frequency",
    label="sampling frequency (Hz)",
    why="no continuous data file beside it gives the clock its spike times are counted in",
    example="30000",
)

#: Messages that mean the interface needs a value the files do not hold.
_MISSING: list[tuple[re.Pattern[str], Parameter]] = [
    (
        re.compile(r"infer the sampling frequency|sampling[_ ]frequency .*(manually|must be|required)", re.I),
        _SAMPLING,
    ),
]

#: (pattern, problem, fix, CLI fix or None)
_KNOWN: list[tuple[re.Pattern[str], str, str, str | None]] = [
    (
        re.compile(r"stream_id .* is not in|stream_name .* is not in|selected stream .* is not in", re.I),
        "The reader found no data file for a stream its header file announces (for SpikeGLX: a .meta "
        "whose .bin is missing).",
        "Copy the missing data file next to its header, or remove the orphaned header.",
        None,
    ),
    (
        re.compile(r"not a multiple of the data-type size|multiple of the", re.I),
        "The data file's size is not a whole number of samples: the copy is truncated or corrupt.",
        "Copy the file again from the acquisition machine and check its size.",
        None,
    ),
    (
        re.compile(r"cannot mmap an empty file", re.I),
        "A data file is empty (0 bytes).",
        "Copy the recording again; an empty file usually means the transfer stopped early.",
        None,
    ),
    (
        re.compile(r"no space left on device", re.I),
        "The output disk is full.",
        "Free disk space or choose another output folder.",
        "Free disk space or choose another output folder with -o.",
    ),
    (
        re.compile(r"Unable to identify the OpenEphys folder structure", re.I),
        "The Open Ephys reader needs exactly one settings.xml below the folder it reads; this folder holds "
        "none or several (several Record Nodes or copies of one).",
        "Give one Record Node folder (the one that holds settings.xml and the experiment folders).",
        None,
    ),
    (
        re.compile(r"block_index|multiple blocks|several blocks|experiment_names", re.I),
        "This Open Ephys folder holds several experiments (acquisitions) and the reader was not told which "
        "one to read.",
        "Choose the experiment to convert; each experiment becomes its own file.",
        None,
    ),
    (
        re.compile(r"already exists in|name .* already exists|'.*' already exists", re.I),
        "Two streams of this session would write objects of the same name into one NWB file.",
        "Convert the streams in separate sessions, or leave one of them out; please report this as a bug "
        "with the technical details.",
        None,
    ),
    (
        re.compile(r"Multi-segment object", re.I),
        "This stream has several segments (gates/triggers or recordings) and the installed NeuroConv can "
        "only write it one segment at a time.",
        "Pick one segment to convert (e.g. 'g0 t0') to include this stream, or keep all segments of the "
        "other streams without it.",
        "Pick one segment for every stream with --select (e.g. --select 'g0 t0') to include this stream, or "
        "keep all segments of the other streams without it.",
    ),
    (
        re.compile(r"MemoryError|Unable to allocate", re.I),
        "The machine ran out of memory reading this recording.",
        "Close other programs, or convert on a machine with more memory.",
        None,
    ),
]


class MissingValue(UserFacingError):
    """The interface needs ``parameter``, which the files do not hold."""

    def __init__(self, parameter: Parameter, *, unit: Unit | None, path: str | Path | None, details: str):
        self.parameter = parameter
        what = unit.label if unit is not None else "This data"
        super().__init__(
            f"{what} needs its {parameter.label}, which the files do not give ({parameter.why}).",
            fix=f"Give the {parameter.label}, e.g. {parameter.example}.",
            cli_fix=f"Give it with --option {parameter.name}={parameter.example}.",
            path=path,
            code="needs_value",
            details=details,
        )


def _text(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _known(text: str, path: str | Path | None, code: str) -> UserFacingError | None:
    for pattern, problem, fix, cli_fix in _KNOWN:
        if pattern.search(text):
            return UserFacingError(problem, fix=fix, cli_fix=cli_fix, path=path, code=code, details=text)
    return None


def _missing(text: str, unit: Unit | None, path: str | Path | None) -> MissingValue | None:
    given = set(unit.kwargs) if unit is not None else set()
    for pattern, parameter in _MISSING:
        if pattern.search(text) and parameter.name not in given:
            return MissingValue(parameter, unit=unit, path=path, details=text)
    return None


def _file_missing(exc: BaseException, path: Path | str, code: str) -> UserFacingError | None:
    """A data or companion file vanished or was never copied: name it."""
    if not isinstance(exc, FileNotFoundError) and "No such file or directory" not in str(exc):
        return None
    filename = getattr(exc, "filename", None)
    name = Path(str(filename)).name if filename else None
    return UserFacingError(
        f"A data file the reader needs is missing{f' ({name})' if name else ''}: it was not copied, was "
        "renamed after recording, or was removed after the folder was checked.",
        fix="Copy the complete folder from the acquisition machine again, keeping the original file names.",
        path=path,
        code=code,
        details=_text(exc),
    )


def explain_read_failure(exc: BaseException, *, unit: Unit, path: Path) -> UserFacingError:
    """A reader could not open ``unit``'s files."""
    text = _text(exc)
    found = (
        _missing(text, unit, path)
        or _file_missing(exc, path, "read_failed")
        or _known(text, path, "read_failed")
    )
    if found is not None:
        return found
    name = display_name(unit.interface)
    return UserFacingError(
        f"The {name} reader could not open {unit.label}: the files are incomplete, damaged, or of another "
        "version than the reader knows.",
        fix="Check that the folder holds a complete copy of the recording; if it does, choose another reader "
        "or leave this stream out and convert the rest.",
        cli_fix="Check that the folder holds a complete copy of the recording (run `nwbagent detect` on it "
        "to see what was recognised), or choose another reader with --interface.",
        path=path,
        code="read_failed",
        details=text,
    )


def explain_build_failure(exc: BaseException, *, unit: Unit | None, path: Path | str) -> UserFacingError:
    """Adding ``unit`` (or the whole session, when ``unit`` is None) to the in-memory NWB file failed."""
    from jsonschema.exceptions import ValidationError

    text = _text(exc)
    if isinstance(exc, ValidationError):
        where = "/".join(str(p) for p in exc.absolute_path) or "the top level"
        return UserFacingError(
            f"The metadata does not fit NeuroConv's schema at {where}.",
            fix="Correct that metadata value and convert again.",
            cli_fix="Correct that value in the --metadata file (see `nwbagent check-metadata`).",
            path=path,
            code="metadata_invalid",
            details=_clip(exc.message),
        )
    found = (
        _missing(text, unit, path)
        or _file_missing(exc, path, "build_failed")
        or _known(text, path, "build_failed")
    )
    if found is not None:
        return found
    what = f"the {display_name(unit.interface)} data" if unit is not None else "this session"
    return UserFacingError(
        f"NeuroConv could not add {what} to the NWB file; nothing was written.",
        fix="Leave this stream out and convert the rest, or report the technical details as a bug.",
        path=path,
        code="build_failed",
        details=text,
    )


def explain_write_failure(exc: BaseException, *, path: Path) -> UserFacingError:
    from nwbagent.convert.direct_write import ReadbackError, SourceReadError

    text = _text(exc)
    if isinstance(exc, SourceReadError):
        return UserFacingError(
            "The recording ended early or changed while it was being written. Nothing was left at the "
            "output path.",
            fix="Make sure the recording is complete and nothing is still writing to it (a copy in "
            "progress), then convert again.",
            path=path,
            code="source_changed",
            details=_clip(str(exc)),
        )
    if isinstance(exc, ReadbackError):
        return UserFacingError(
            "The written file did not read back identical to the recording, so it was discarded. This is a "
            "bug in nwbagent's fast writer.",
            fix="Convert with NeuroConv's own writer (the NWBAGENT_FAST_WRITE=false setting) and report this "
            "bug.",
            cli_fix="Convert with --writer neuroconv (or NWBAGENT_FAST_WRITE=false) and report this bug.",
            path=path,
            code="readback_mismatch",
            details=_clip(str(exc)),
        )
    if isinstance(exc, PermissionError):
        return UserFacingError(
            "The output folder is not writable.",
            fix="Choose a folder you can write to, or fix its permissions.",
            cli_fix="Choose a folder you can write to with -o, or fix its permissions.",
            path=path,
            code="output_not_writable",
            details=text,
        )
    known = _file_missing(exc, path, "write_failed") or _known(text, path, "write_failed")
    if known is not None:
        return known
    return UserFacingError(
        "Writing the NWB file failed. Nothing was left at the output path.",
        fix="Check that the output disk has room and the recording is readable, then convert again; if it "
        "fails again, report the technical details as a bug.",
        path=path,
        code="write_failed",
        details=text,
    )


def _clip(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
