"""Safe extraction of uploaded .zip and .tar archives.

An archive is a file whose headers the uploader wrote, so nothing in them is trusted: every entry name goes
through :func:`safe_relative_path`, only regular files and folders are extracted (no links, devices or
pipes), and sizes are enforced on the bytes actually written, so a header that lies about sizes cannot fill
the disk. Entries are written with our own code rather than ``extractall`` so the rules above hold on every
Python version. Extraction is all-or-nothing: on any rejection everything this call wrote is removed.
Blocking: call it from a thread in async code.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import struct
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from nwbagent.server.upload_rules import (
    SavedFile,
    UploadLimits,
    UploadRejected,
    human_bytes,
    safe_relative_path,
    safe_target,
)

COPY_CHUNK = 1024 * 1024
ARCHIVE_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tbz2", ".txz", ".tar", ".zip")
# Finder adds these resource-fork copies ("._name") to every zip; they would look like recording files.
_JUNK_TOPS = frozenset({"__MACOSX"})
# A zip central directory entry is 46 bytes plus name/extra/comment; real archives average far below this,
# so a directory larger than entries x this is a crafted one meant to exhaust memory while being parsed.
_CD_BYTES_PER_ENTRY = 1024
_ARCHIVE_HINT = "Upload the folder's files directly, or re-create the archive with the folder's files only."


def archive_suffix(name: str) -> str | None:
    """The archive extension of ``name`` (``.tar.gz`` counts as one), or None for ordinary files."""
    lower = name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return suffix
    return None


@dataclass
class Created:
    """What an upload or an extraction created, so a rejection removes exactly that and nothing else."""

    files: list[Path] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)

    def mkdirs(self, path: Path) -> None:
        missing: list[Path] = []
        current = path
        while not current.exists():
            missing.append(current)
            current = current.parent
        for d in reversed(missing):
            d.mkdir()
            self.dirs.append(d)

    def remove(self) -> None:
        for f in reversed(self.files):
            f.unlink(missing_ok=True)
        for d in reversed(self.dirs):
            with contextlib.suppress(OSError):
                d.rmdir()
        self.files.clear()
        self.dirs.clear()


def copy_bounded(src: IO[bytes], dst: IO[bytes], limit: int, on_overflow: UploadRejected) -> tuple[int, str]:
    """Copy counting the real bytes, raising ``on_overflow`` the moment more than ``limit`` arrive.

    ``limit`` is the entry's declared size, which has already been checked against every limit, so
    neither a lying header nor a lying decompressor can write past what the limits allow.
    """
    digest = hashlib.sha256()
    written = 0
    while True:
        chunk = src.read(COPY_CHUNK)
        if not chunk:
            return written, digest.hexdigest()
        written += len(chunk)
        if written > limit:
            raise on_overflow
        digest.update(chunk)
        dst.write(chunk)


_EXISTS_HINT = "Remove the existing files from the session first, or rename the archive."
_LINK_HINT = "Replace links with the files they point to and re-create the archive."


class _Extraction:
    """State of one extraction: the running totals every limit is checked against, and what was written."""

    def __init__(self, archive: Path, folder: Path, base: Path, limits: UploadLimits, budget: int) -> None:
        self.archive = archive
        self.folder = folder
        self.base = base
        self.limits = limits
        self.budget = budget
        self.ratio_cap = limits.max_archive_ratio * max(archive.stat().st_size, 1)
        self.written = Created()
        self.saved: list[SavedFile] = []
        self.seen: dict[PurePosixPath, bool] = {}  # path -> is a folder
        self.count = 0
        self.total = 0
        self.streamed = archive_suffix(archive.name) != ".zip"

    def reject(self, status: int, error: str, problem: str, hint: str = _ARCHIVE_HINT) -> UploadRejected:
        return UploadRejected(
            status, error, f"Archive {self.archive.name!r}: {problem}", hint, path=self.archive.name
        )

    def bomb(self) -> UploadRejected:
        return self.reject(
            413,
            "archive_bomb",
            f"it expands to more than {self.limits.max_archive_ratio:g} times its own size "
            f"({human_bytes(self.archive.stat().st_size)}), which is how archive bombs fill a disk.",
            "If this is a genuine recording, upload the files without compressing them.",
        )

    def truncated(self) -> UploadRejected:
        return self.reject(
            400,
            "truncated_archive",
            f"it ends early ({human_bytes(self.archive.stat().st_size)} arrived): the last entry is cut off, "
            "as happens when a download or copy is interrupted.",
            "Re-create or re-download the archive, check that it opens on your machine, and upload it again.",
        )

    def too_many(self, count: int | None = None) -> UploadRejected:
        held = f"{count:,} entries" if count is not None else "more entries than allowed"
        return self.reject(
            413,
            "archive_too_many_entries",
            f"it holds {held}; the limit is {self.limits.max_archive_entries:,}.",
            "Split it into smaller archives, or upload the folder directly.",
        )

    def count_entry(self) -> None:
        self.count += 1
        if self.count > self.limits.max_archive_entries:
            raise self.too_many()

    def relative(self, name: str, is_dir: bool) -> PurePosixPath | None:
        """The entry's path inside the extraction folder, or None for entries that are skipped."""
        plain = name.replace("\\", "/")
        if is_dir and not plain.startswith("/") and plain.strip("/.") == "" and ".." not in plain:
            return None  # "./": the archive's own root
        try:
            rel = safe_relative_path(name)
        except UploadRejected as exc:
            raise self.reject(
                400, "unsafe_archive", f"the entry {name!r} cannot be extracted safely. {exc.message}"
            ) from None
        if rel.parts[0] in _JUNK_TOPS:
            return None
        return rel

    def claim(self, rel: PurePosixPath, is_dir: bool) -> None:
        """Refuse duplicates and file/folder clashes up front rather than letting one entry overwrite
        another that was already extracted."""
        for i in range(1, len(rel.parts)):
            parent = PurePosixPath(*rel.parts[:i])
            if self.seen.get(parent) is False:
                raise self.reject(
                    400, "unsafe_archive", f"{parent.as_posix()!r} is both a file and a folder."
                )
            self.seen.setdefault(parent, True)
        if rel in self.seen and not (is_dir and self.seen[rel]):
            raise self.reject(400, "unsafe_archive", f"the entry {rel.as_posix()!r} appears more than once.")
        self.seen[rel] = is_dir

    def make_dir(self, rel: PurePosixPath) -> None:
        self.written.mkdirs(safe_target(self.folder, rel))

    def write_file(self, rel: PurePosixPath, declared: int, src: IO[bytes]) -> None:
        shown = rel.as_posix()
        if declared > self.limits.max_file_bytes:
            raise self.reject(
                413,
                "file_too_large",
                f"the entry {shown!r} ({human_bytes(declared)}) is larger than the limit of "
                f"{human_bytes(self.limits.max_file_bytes)} per file.",
                "Split the recording or ask the operator to raise NWBAGENT_MAX_FILE_BYTES.",
            )
        # A tar is read as a stream, so a header claiming more than the ratio allows is checked against
        # the bytes that really follow: a truncated archive (whose headers outgrow what is left of it) is
        # then reported as truncated, not as a bomb. A zip's sizes come from its intact directory.
        ratio_by_bytes = self.total + declared > self.ratio_cap
        if ratio_by_bytes and not self.streamed:
            raise self.bomb()
        if self.total + declared > self.budget:
            raise self.reject(
                413,
                "session_too_large",
                f"extracting {shown!r} would take this session past its limit of "
                f"{human_bytes(self.limits.max_session_bytes)}.",
                "Upload fewer files, remove files from this session, or ask the operator to raise "
                "NWBAGENT_MAX_SESSION_BYTES.",
            )
        target = safe_target(self.folder, rel)
        self.written.mkdirs(target.parent)
        try:
            fh = open(target, "xb")  # noqa: SIM115 (registered for cleanup before the first byte)
        except FileExistsError:
            raise self.reject(
                409, "already_exists", f"{shown!r} already exists in this session.", _EXISTS_HINT
            ) from None
        self.written.files.append(target)
        # The checks above passed for the declared size, so bounding the copy by it bounds it by them all.
        overflow = self.reject(
            400, "bad_archive", f"the entry {shown!r} holds more data than its header says."
        )
        limit = declared
        if ratio_by_bytes:
            limit, overflow = max(0, int(self.ratio_cap - self.total)), self.bomb()
        with fh:
            size, sha = copy_bounded(src, fh, limit, overflow)
        if size != declared:
            raise self.reject(400, "bad_archive", f"the entry {shown!r} is shorter than its header says.")
        self.total += size
        self.saved.append(SavedFile(target.relative_to(self.base).as_posix(), size, sha))


def _zip_directory_size(path: Path) -> tuple[int, int] | None:
    """Entry count and table-of-contents size from the zip's end record, read before ``zipfile`` loads the
    whole table into memory (which a crafted archive can make enormous)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        tail_len = min(size, 22 + 65535 + 20)
        fh.seek(size - tail_len)
        tail = fh.read(tail_len)
        pos = tail.rfind(b"PK\x05\x06")
        if pos < 0 or len(tail) - pos < 22:
            return None
        count, cd_size = struct.unpack("<HL", tail[pos + 10 : pos + 16])
        if (
            (count == 0xFFFF or cd_size == 0xFFFFFFFF)
            and pos >= 20
            and tail[pos - 20 : pos - 16] == b"PK\x06\x07"
        ):
            (zip64_offset,) = struct.unpack("<Q", tail[pos - 12 : pos - 4])
            fh.seek(zip64_offset)
            record = fh.read(56)
            if len(record) == 56 and record[:4] == b"PK\x06\x06":
                count, cd_size = struct.unpack("<QQ", record[32:48])
        return int(count), int(cd_size)


def _zip_special(info: zipfile.ZipInfo) -> bool:
    """Symlinks (and any non-regular type) are marked only in the Unix mode bits of the external
    attributes; archives made on Windows leave them zero."""
    kind = stat.S_IFMT(info.external_attr >> 16)
    return kind not in (0, stat.S_IFREG, stat.S_IFDIR)


def _extract_zip(x: _Extraction) -> None:
    counted = _zip_directory_size(x.archive)
    if counted is not None:
        count, cd_size = counted
        if count > x.limits.max_archive_entries:
            raise x.too_many(count)
        if cd_size > _CD_BYTES_PER_ENTRY * x.limits.max_archive_entries + 65536:
            raise x.reject(400, "bad_archive", "its table of contents is implausibly large.")
    with zipfile.ZipFile(x.archive) as zf:
        infos = zf.infolist()
        if len(infos) > x.limits.max_archive_entries:
            raise x.too_many(len(infos))
        # Refuse from the headers before writing anything; the copy enforces the same on the real bytes.
        declared = 0
        for info in infos:
            if info.flag_bits & 0x1:
                raise x.reject(
                    400,
                    "bad_archive",
                    f"the entry {info.filename!r} is encrypted.",
                    "Upload an archive without a password.",
                )
            if _zip_special(info):
                raise x.reject(
                    400,
                    "unsafe_archive",
                    f"the entry {info.filename!r} is a link or special file; these are not extracted.",
                    _LINK_HINT,
                )
            declared += info.file_size
        if declared > x.ratio_cap:
            raise x.bomb()
        for info in infos:
            x.count_entry()
            rel = x.relative(info.filename, info.is_dir())
            if rel is None:
                continue
            x.claim(rel, info.is_dir())
            if info.is_dir():
                x.make_dir(rel)
                continue
            with zf.open(info) as src:
                x.write_file(rel, info.file_size, src)


def _extract_tar(x: _Extraction) -> None:
    try:
        _extract_tar_stream(x)
    except tarfile.ReadError as exc:
        # Only once an entry was read is "the data ran out" a cut-off archive rather than a non-archive.
        if x.count and ("unexpected end" in str(exc) or "truncated" in str(exc)):
            raise x.truncated() from None
        raise
    except EOFError:  # a compressed stream cut before its end marker
        if x.count:
            raise x.truncated() from None
        raise


def _extract_tar_stream(x: _Extraction) -> None:
    # Stream mode reads the archive once, front to back, even when compressed: no seeking, no pre-scan.
    with tarfile.open(x.archive, mode="r|*") as tf:
        for member in tf:
            x.count_entry()
            if not (member.isreg() or member.isdir()):
                kind = "link" if (member.issym() or member.islnk()) else "device or pipe"
                raise x.reject(
                    400,
                    "unsafe_archive",
                    f"the entry {member.name!r} is a {kind}; only regular files and folders are extracted.",
                    _LINK_HINT,
                )
            rel = x.relative(member.name, member.isdir())
            if rel is None:
                continue
            x.claim(rel, member.isdir())
            if member.isdir():
                x.make_dir(rel)
                continue
            src = tf.extractfile(member)
            if src is None:  # pragma: no cover (regular members always have a reader)
                continue
            with src:
                x.write_file(rel, member.size, src)


def _unwrap(x: _Extraction) -> None:
    """Zipping folder ``rec`` in Finder or Explorer gives ``rec.zip`` holding ``rec/...``; extracted into
    ``rec/`` that would double the folder, so a lone wrapper folder with the same name is lifted out."""
    children = list(x.folder.iterdir())
    if len(children) != 1:
        return
    inner = children[0]
    if inner.name != x.folder.name or inner.is_symlink() or not inner.is_dir():
        return
    temp = x.folder.parent / f".{x.folder.name}.unwrap-{os.getpid()}-{id(x)}"
    inner.rename(temp)
    x.folder.rmdir()
    temp.rename(x.folder)
    old_prefix = (x.folder / x.folder.name).relative_to(x.base).as_posix() + "/"
    new_prefix = x.folder.relative_to(x.base).as_posix() + "/"
    x.saved = [
        SavedFile(new_prefix + f.relative_path[len(old_prefix) :], f.size, f.sha256)
        if f.relative_path.startswith(old_prefix)
        else f
        for f in x.saved
    ]


def extract_archive(
    path: Path,
    dest: Path,
    limits: UploadLimits,
    *,
    base: Path | None = None,
    already_used_bytes: int = 0,
) -> list[SavedFile]:
    """Extract ``path`` into ``dest/<archive name without extension>``, then delete the archive.

    ``base`` is the folder the returned relative paths are relative to (default ``dest``), so archives
    inside uploaded sub-folders report session-relative paths. ``already_used_bytes`` is what the session
    holds besides this archive: the expanded files must fit in what is left of ``max_session_bytes``. On a
    rejection the archive is left in place; the caller decides whether to discard it.
    """
    suffix = archive_suffix(path.name)
    if suffix is None:
        raise ValueError(f"{path.name} is not an archive")
    folder_name = path.name[: -len(suffix)]
    folder = safe_target(dest, safe_relative_path(folder_name))
    if folder.exists() or folder.is_symlink():
        raise UploadRejected(
            409,
            "already_exists",
            f"Archive {path.name!r} would be extracted into {folder_name!r}, which already exists.",
            _EXISTS_HINT,
            path=path.name,
        )
    x = _Extraction(path, folder, base or dest, limits, limits.max_session_bytes - already_used_bytes)
    try:
        x.written.mkdirs(folder)
        if suffix == ".zip":
            _extract_zip(x)
        else:
            _extract_tar(x)
        _unwrap(x)
    except UploadRejected:
        x.written.remove()
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError, NotImplementedError) as exc:
        x.written.remove()
        raise x.reject(
            400,
            "bad_archive",
            f"it is damaged or uses an unsupported format ({exc}).",
            "Re-create the archive as .zip or .tar.gz and upload it again.",
        ) from None
    except BaseException:
        x.written.remove()
        raise
    path.unlink()
    return x.saved
