"""The vocabulary shared by multipart uploads and archive extraction: the rejection error, the limits, the
record of a saved file, and the rules that decide whether a client-supplied name may become a path on disk.

Every name that reaches the disk (a multipart filename, an archive entry, a server-side source path) goes
through this module, so there is one place to audit for path traversal.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 4096

# Windows refuses these as file names whatever the extension ("con.txt" is the console), so a session that
# is later downloaded or shared to a Windows machine would break; they are never a scientist's real file.
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{dev}{n}" for dev in ("COM", "LPT") for n in [*"123456789", "¹", "²", "³"]}
)
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_DRIVE = re.compile(r"^[A-Za-z]:")
_NAME_HINT = (
    "Rename the file or folder so that its path is relative, uses ordinary characters and has no '..' "
    "parts, then upload it again."
)


class UploadRejected(Exception):
    """An upload (or server-side source) the service refuses, with the HTTP status and advice to show.

    Plain ``Exception`` (not ``UserFacingError``) so that the app's generic user-error handler, which
    answers 400, can never swallow a 413/415/403 meant for the client.
    """

    def __init__(
        self,
        status_code: int,
        error: str,
        message: str,
        hint: str,
        *,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.status_code = status_code
        self.error = error
        self.message = message
        self.hint = hint
        self.path = os.fspath(path) if path is not None else None
        super().__init__(f"{message} {hint}")

    def to_dict(self) -> dict[str, str]:
        return {"error": self.error, "message": self.message, "hint": self.hint}


def storage_failure(exc: OSError, shown: str | None = None) -> UploadRejected:
    """The client's view of the server failing to write: a full disk or an unwritable folder is the
    server's problem, said as such, never a traceback (and never the server's paths)."""
    what = f"{shown!r} could not be stored" if shown else "the upload could not be stored"
    kept = "Nothing of this upload was kept."
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return UploadRejected(
            507,
            "disk_full",
            f"The server's disk is full: {what}.",
            f"{kept} Delete sessions you no longer need, or ask the operator to free space, then upload "
            "again.",
            path=shown,
        )
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return UploadRejected(
            503,
            "storage_unavailable",
            f"The server cannot write its upload folder ({exc.strerror}): {what}.",
            f"{kept} This is a problem of the server, not of your files: tell the operator that "
            "NWBAGENT_DATA_DIR must be writable.",
            path=shown,
        )
    return UploadRejected(
        500,
        "storage_error",
        f"Writing to the server's disk failed ({exc.strerror or type(exc).__name__}): {what}.",
        f"{kept} Try again; if it keeps failing, tell the operator.",
        path=shown,
    )


@dataclass(frozen=True)
class UploadLimits:
    """Bounds on one session's uploads; every one of them protects the server's disk or memory."""

    max_file_bytes: int
    max_session_bytes: int
    max_archive_entries: int
    max_archive_ratio: float
    max_files: int = 100_000

    @classmethod
    def from_settings(cls, settings: Any) -> UploadLimits:
        return cls(
            max_file_bytes=int(settings.max_file_bytes),
            max_session_bytes=int(settings.max_session_bytes),
            max_archive_entries=int(settings.max_archive_entries),
            max_archive_ratio=float(settings.max_archive_ratio),
        )


@dataclass(frozen=True)
class SavedFile:
    """One file now on disk; the checksum lets a client confirm the bytes survived the trip intact."""

    relative_path: str
    size: int
    sha256: str


def human_bytes(n: float) -> str:
    """Sizes in messages must be readable by a person deciding what to split or compress."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            if unit == "bytes":
                return f"{int(n)} bytes"
            return f"{n:.1f}".rstrip("0").rstrip(".") + f" {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _bad_name(name: str, why: str) -> UploadRejected:
    return UploadRejected(400, "bad_name", f"The name {name!r} cannot be used: {why}.", _NAME_HINT, path=name)


def safe_relative_path(name: str) -> PurePosixPath:
    """Turn a client-supplied name into a relative path that cannot leave its destination folder.

    Rejects rather than repairs: silently renaming a scientist's file (stripping a trailing dot, dropping a
    '..') could merge two files into one or break the file names a recording format relies on. Leading
    dots are allowed because hidden folders such as ``.phy`` are real parts of some recordings; ``.``
    components are dropped because tar files commonly start with ``./``.
    """
    if not isinstance(name, str):
        raise _bad_name(repr(name), "it is not text")
    shown = name
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise _bad_name(shown, "it is not valid UTF-8 text") from None
    # macOS sends decomposed accents (NFD); normalising keeps 'é' one file whichever machine uploaded it.
    name = unicodedata.normalize("NFC", name)
    if not name.strip():
        raise _bad_name(shown, "it is empty")
    for ch in name:
        # Control characters break logs and shells; bidi overrides and line separators make a name
        # display as something other than what it is.
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI_CONTROLS:
            raise _bad_name(shown, f"it contains the control character U+{ord(ch):04X}")
    name = name.replace("\\", "/")
    if name.startswith("/"):
        raise _bad_name(shown, "it is an absolute path")
    if _DRIVE.match(name):
        raise _bad_name(shown, "it starts with a drive letter")
    if len(name.encode("utf-8")) > MAX_PATH_BYTES:
        raise _bad_name(shown, f"it is longer than {MAX_PATH_BYTES} bytes")
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise _bad_name(shown, "it contains a '..' part that would leave the upload folder")
        if set(part) == {"."}:
            raise _bad_name(shown, f"the part {part!r} is only dots")
        if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            raise _bad_name(shown, f"a part is longer than {MAX_COMPONENT_BYTES} bytes")
        if part != part.strip(" "):
            raise _bad_name(shown, f"the part {part!r} starts or ends with a space")
        if part.endswith("."):
            raise _bad_name(shown, f"the part {part!r} ends with a dot")
        if part.split(".")[0].rstrip(" ").upper() in _WINDOWS_RESERVED:
            raise _bad_name(shown, f"{part!r} is a reserved device name on Windows")
        parts.append(part)
    if not parts:
        raise _bad_name(shown, "it has no file name")
    return PurePosixPath(*parts)


def safe_target(dest: Path, rel: PurePosixPath) -> Path:
    """Where ``rel`` lands under ``dest``, refusing any route through a symlink.

    ``safe_relative_path`` already makes traversal impossible by name; this is the defence in depth for a
    destination that something else (a previous extraction, an operator) has filled with links.
    """
    root = dest.resolve()
    target = dest.joinpath(*rel.parts)
    current = dest
    for part in rel.parts:
        current = current / part
        try:
            mode = current.lstat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            break  # the rest does not exist yet (or runs through a file, which opening will report)
        if stat.S_ISLNK(mode):
            raise UploadRejected(
                400,
                "bad_name",
                f"The upload path {rel.as_posix()!r} goes through a symbolic link in the session folder.",
                "Upload to a different folder name.",
                path=rel.as_posix(),
            )
    resolved = target.resolve()
    if resolved != root and not resolved.is_relative_to(root):
        raise _bad_name(rel.as_posix(), "it resolves outside the upload folder")
    return target


def dir_size(path: str | os.PathLike[str]) -> int:
    """Bytes held by regular files under ``path``; links are not followed, so a link cannot inflate or
    hide usage. Blocking: call it from a thread in async code."""
    total = 0
    stack = [os.fspath(path)]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                for entry in it:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
    return total


def resolve_server_path(path: str, roots: list[str]) -> Path:
    """Map a client-named server folder to a real path, only inside the operator's configured roots.

    Containment is judged on real paths (all links resolved), so a link inside a root that points
    elsewhere is refused. A relative path is looked up under each root in turn, so a user can say
    ``mouse1/day3`` instead of the full server path. Existence is checked only after containment so the
    answer never reveals whether a path outside the roots exists.
    """
    roots_hint = "Ask the operator to add the folder to NWBAGENT_DATA_ROOTS (a JSON list of folders)."
    if not roots:
        raise UploadRejected(
            403,
            "path_not_allowed",
            f"This server does not accept server-side paths such as {path!r}: no data roots are configured.",
            "Upload the files instead, or ask the operator to set NWBAGENT_DATA_ROOTS, e.g. "
            "'[\"/data/recordings\"]'.",
            path=path,
        )
    _check_path_text(path)
    real_roots = [Path(os.path.realpath(os.path.expanduser(r))) for r in roots]
    listed = ", ".join(str(r) for r in roots)
    candidates = [Path(path)] if os.path.isabs(path) else [root / path for root in real_roots]
    allowed: Path | None = None
    for candidate in candidates:
        real = Path(os.path.realpath(candidate))
        if any(real == root or real.is_relative_to(root) for root in real_roots):
            try:
                exists = real.exists()
            except OSError as exc:  # e.g. a folder the server may not enter
                raise UploadRejected(
                    403,
                    "path_unreadable",
                    f"{path!r} cannot be read by the server ({exc.strerror}).",
                    "Ask the operator to make the folder readable by the service.",
                    path=path,
                ) from None
            if exists:
                return real
            allowed = allowed or real
    if allowed is not None:
        raise UploadRejected(
            404,
            "path_not_found",
            f"{path!r} does not exist on the server.",
            f"Check the spelling; allowed folders are: {listed}.",
            path=path,
        )
    raise UploadRejected(
        403,
        "path_not_allowed",
        f"{path!r} is outside the folders this server may read ({listed}).",
        f"Use a path inside one of those folders. {roots_hint}",
        path=path,
    )


def _check_path_text(path: object) -> None:
    """A server path must be text the file system can take: no NUL, valid UTF-8, within the OS limits
    (a 5,000-character name would otherwise surface as ENAMETOOLONG deep inside a request)."""
    hint = "Give the path of a folder on the server, e.g. 'mouse1/day3'."
    if not isinstance(path, str) or not path.strip() or "\x00" in path:
        raise UploadRejected(400, "bad_path", f"{path!r} is not a usable path.", hint)
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        raise UploadRejected(400, "bad_path", "The path is not valid UTF-8 text.", hint) from None
    if len(encoded) > MAX_PATH_BYTES:
        raise UploadRejected(
            400,
            "bad_path",
            f"The path is {len(encoded):,} bytes long; the limit is {MAX_PATH_BYTES:,}.",
            hint,
        )
    longest = max(len(part.encode("utf-8")) for part in path.replace("\\", "/").split("/"))
    if longest > MAX_COMPONENT_BYTES:
        raise UploadRejected(
            400,
            "bad_path",
            f"A part of the path is {longest:,} bytes long; the limit is {MAX_COMPONENT_BYTES} per folder "
            "or file name.",
            hint,
        )
