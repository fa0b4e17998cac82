"""Receiving uploads: a multipart body streamed straight to disk, with every limit enforced as bytes arrive.

Recordings are many gigabytes, so nothing is buffered whole: the body is parsed incrementally with
python-multipart's callback parser, each file part is written in batches from a worker thread (so the
event loop never waits on the disk), and sizes are counted as they arrive so an oversize upload stops at
the first byte past the limit instead of after the disk is full. A request is all-or-nothing: if it is
rejected, fails or is cancelled, every file and folder it created is removed and nothing else is touched.

Framework-independent on purpose: the endpoint passes ``request.stream()`` and the Content-Type header,
and turns :class:`UploadRejected` into JSON ``{error, message, hint}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import shutil
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from nwbagent import metrics
from nwbagent.server.archives import Created, archive_suffix, extract_archive
from nwbagent.server.upload_rules import (
    MAX_PATH_BYTES,
    SavedFile,
    UploadLimits,
    UploadRejected,
    dir_size,
    human_bytes,
    resolve_server_path,
    safe_relative_path,
    safe_target,
    storage_failure,
)

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

__all__ = [
    "SavedFile",
    "UploadLimits",
    "UploadRejected",
    "UploadResult",
    "dir_size",
    "extract_archive",
    "receive_multipart",
    "resolve_server_path",
    "safe_relative_path",
]

# Disk writes are batched to about this size: large enough that thread hand-offs are rare, small enough
# that a request holds little memory.
FLUSH_BYTES = 1024 * 1024
# Form fields that are not files are read and discarded; this only stops one from streaming forever.
MAX_FIELD_BYTES = 64 * 1024
_PARAM = re.compile(rb';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_EXISTS_HINT = "Remove the existing file from the session first, or upload it under another name."


@dataclass
class UploadResult:
    files: list[SavedFile] = field(default_factory=list)
    total_bytes: int = 0
    archives_extracted: list[str] = field(default_factory=list)


def _filename(disposition: bytes) -> tuple[str | None, bool]:
    """The part's filename (None for a plain form field) and whether it is a file part.

    Parsed here rather than with ``parse_options_header``, which keeps only the last segment of names that
    look like Windows paths: ``C:\\x`` must be refused, not silently saved as ``x``. ``filename*`` is
    ignored, as RFC 7578 requires.
    """
    params: dict[bytes, bytes] = {}
    for key, value in _PARAM.findall(disposition):
        if len(value) >= 2 and value[:1] == b'"' and value[-1:] == b'"':
            value = value[1:-1].replace(b"\\\\", b"\\").replace(b'\\"', b'"')
        else:
            value = value.strip()
        params.setdefault(key.lower(), value)
    if b"filename" not in params:
        return None, False
    raw = params[b"filename"]
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        raise UploadRejected(
            400,
            "bad_name",
            f"The file name {raw!r} is not valid UTF-8 text.",
            "Rename the file using ordinary characters and upload it again.",
        ) from None


class _Receiver:
    """Parser callbacks (run on the event loop, cheap, enforce limits) and the disk side (run in a worker
    thread, one batch at a time). The lock makes a cancel-time cleanup wait for a batch in flight, so no
    file can appear after the cleanup ran."""

    def __init__(self, dest: Path, limits: UploadLimits, already_used: int) -> None:
        self.dest = dest
        self.limits = limits
        self.already_used = already_used
        # parse state
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.disposition = b""
        self.in_file = False
        self.field_bytes = 0
        self.part_bytes = 0
        self.part_name = ""
        self.total = 0
        self.names: dict[PurePosixPath, bool] = {}  # path -> is a folder
        self.file_count = 0
        self.ended = False
        # pending disk work: ("open", rel) | ("data", bytes) | ("close", None)
        self.ops: list[tuple[str, object]] = []
        self.pending_bytes = 0
        self.structural = False
        # disk state (worker thread only, under the lock)
        self.lock = threading.Lock()
        self.aborted = False
        self.fh: IO[bytes] | None = None
        self.hasher = hashlib.sha256()
        self.current: tuple[PurePosixPath, Path] | None = None
        self.current_size = 0
        self.created = Created()
        self.created_trees: list[Path] = []
        self.saved: list[SavedFile] = []

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    # -- parser callbacks (event loop) ----------------------------------------------------------------------

    def on_part_begin(self) -> None:
        self.disposition = b""
        self.in_file = False
        self.field_bytes = 0
        self.part_bytes = 0

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if bytes(self.header_field).strip().lower() == b"content-disposition":
            self.disposition = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        name, is_file = _filename(self.disposition)
        if not is_file or not name:
            return  # a form field, or a browser's empty file input: read and discarded
        rel = safe_relative_path(name)
        self.claim(rel)
        self.file_count += 1
        if self.file_count > self.limits.max_files:
            raise UploadRejected(
                413,
                "too_many_files",
                f"The upload holds more than {self.limits.max_files:,} files.",
                "Upload the folder as a .zip or .tar.gz archive, or in several smaller uploads.",
            )
        self.in_file = True
        self.part_name = rel.as_posix()
        self.queue("open", rel)

    def claim(self, rel: PurePosixPath) -> None:
        """The same name twice, or a name used as both file and folder, in one request is refused before
        any byte is written: either would overwrite part of what the user sent."""
        for i in range(1, len(rel.parts)):
            parent = PurePosixPath(*rel.parts[:i])
            if self.names.get(parent) is False:
                raise UploadRejected(
                    400,
                    "bad_name",
                    f"{parent.as_posix()!r} is uploaded both as a file and as a folder.",
                    "Rename one of them and upload again.",
                    path=rel.as_posix(),
                )
            self.names[parent] = True
        if rel in self.names:
            raise UploadRejected(
                400,
                "duplicate_name",
                f"{rel.as_posix()!r} appears more than once in this upload.",
                "Upload each file once.",
                path=rel.as_posix(),
            )
        self.names[rel] = False

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        if not self.in_file:
            self.field_bytes += n
            if self.field_bytes > MAX_FIELD_BYTES:
                raise UploadRejected(
                    413,
                    "field_too_large",
                    f"A form field without a file name is larger than {human_bytes(MAX_FIELD_BYTES)}.",
                    "Send files as file parts (with a filename) and keep other fields short.",
                )
            return
        self.part_bytes += n
        self.total += n
        if self.part_bytes > self.limits.max_file_bytes:
            raise UploadRejected(
                413,
                "file_too_large",
                f"{self.part_name!r} is larger than the limit of {human_bytes(self.limits.max_file_bytes)} "
                "per file.",
                "Split the recording into smaller files, or ask the operator to raise "
                "NWBAGENT_MAX_FILE_BYTES.",
                path=self.part_name,
            )
        if self.already_used + self.total > self.limits.max_session_bytes:
            raise UploadRejected(
                413,
                "session_too_large",
                f"Uploading {self.part_name!r} takes this session past its limit of "
                f"{human_bytes(self.limits.max_session_bytes)} (already stored: "
                f"{human_bytes(self.already_used)}).",
                "Upload fewer files, remove files from this session, or ask the operator to raise "
                "NWBAGENT_MAX_SESSION_BYTES.",
                path=self.part_name,
            )
        self.queue("data", data[start:end])
        self.pending_bytes += n

    def on_part_end(self) -> None:
        if self.in_file:
            self.queue("close", None)
            self.in_file = False

    def on_end(self) -> None:
        self.ended = True

    def queue(self, op: str, arg: object) -> None:
        self.ops.append((op, arg))
        if op != "data":
            self.structural = True

    def should_flush(self) -> bool:
        return self.structural or self.pending_bytes >= FLUSH_BYTES

    def take(self) -> list[tuple[str, object]]:
        ops, self.ops = self.ops, []
        self.pending_bytes = 0
        self.structural = False
        return ops

    # -- disk side (worker thread) --------------------------------------------------------------------------

    def flush(self, ops: list[tuple[str, object]]) -> None:
        with self.lock:
            if self.aborted:
                return
            try:
                self._apply(ops)
            except OSError as exc:  # a full disk, a read-only folder: the server's fault, said so
                shown = self.current[0].as_posix() if self.current else None
                raise storage_failure(exc, shown) from None

    def _apply(self, ops: list[tuple[str, object]]) -> None:
        for op, arg in ops:
            if op == "open":
                assert isinstance(arg, PurePosixPath)
                self.open(arg)
            elif op == "data":
                assert isinstance(arg, bytes) and self.fh is not None
                self.fh.write(arg)
                self.hasher.update(arg)
                self.current_size += len(arg)
            else:
                self.close()

    def open(self, rel: PurePosixPath) -> None:
        target = safe_target(self.dest, rel)
        shown = rel.as_posix()
        try:
            self.mkdirs(target.parent)
            self.fh = open(target, "xb")  # noqa: SIM115 (closed by close() or abort())
        except (FileExistsError, IsADirectoryError):
            raise UploadRejected(
                409, "already_exists", f"{shown!r} already exists in this session.", _EXISTS_HINT, path=shown
            ) from None
        except NotADirectoryError:
            raise UploadRejected(
                409,
                "already_exists",
                f"{shown!r} needs a folder where this session already has a file.",
                _EXISTS_HINT,
                path=shown,
            ) from None
        except OSError as exc:  # a full disk, a read-only folder
            raise storage_failure(exc, shown) from None
        self.created.files.append(target)
        self.current = (rel, target)
        self.hasher = hashlib.sha256()
        self.current_size = 0

    def mkdirs(self, path: Path) -> None:
        self.created.mkdirs(path)

    def close(self) -> None:
        assert self.fh is not None and self.current is not None
        self.fh.close()
        self.fh = None
        self.saved.append(SavedFile(self.current[0].as_posix(), self.current_size, self.hasher.hexdigest()))
        self.current = None

    def abort(self) -> None:
        """Remove everything this request created; safe to call from any thread, and more than once."""
        with self.lock:
            self.aborted = True
            if self.fh is not None:
                with contextlib.suppress(OSError):  # its buffer may not fit on a full disk either
                    self.fh.close()
                self.fh = None
            for tree in reversed(self.created_trees):
                shutil.rmtree(tree, ignore_errors=True)
            self.created.remove()
            self.created_trees.clear()


def _boundary(content_type: str) -> bytes:
    ctype, params = parse_options_header(content_type)
    if ctype != b"multipart/form-data":
        raise UploadRejected(
            415,
            "not_multipart",
            f"Uploads must be sent as multipart/form-data, not {content_type or 'no content type'!r}.",
            "Send the files as a form upload (e.g. curl -F 'file=@rec.bin' ...).",
        )
    boundary = params.get(b"boundary")
    if not boundary:
        raise UploadRejected(
            400,
            "bad_multipart",
            "The multipart Content-Type has no boundary.",
            "Let the HTTP client build the multipart body and its Content-Type header.",
        )
    return boundary


async def receive_multipart(
    chunks: AsyncIterator[bytes],
    content_type: str,
    dest: Path,
    limits: UploadLimits,
    *,
    already_used_bytes: int = 0,
) -> UploadResult:
    """Stream a multipart body into ``dest``, keeping each part's relative path, and extract archives.

    ``already_used_bytes`` is what the session already stores, so the session limit holds across
    requests. Raises :class:`UploadRejected`; on any failure (including the client going away) nothing
    this request wrote is left behind.
    """
    boundary = _boundary(content_type)
    rx = _Receiver(dest, limits, already_used_bytes)
    try:
        # Header lines may be a little longer than the longest allowed path, so that a too-long name gets
        # the clear 'name too long' answer rather than a parse error.
        parser = MultipartParser(boundary, rx.callbacks(), max_header_size=MAX_PATH_BYTES + 1024)
        async for chunk in chunks:
            if rx.ended:
                continue  # epilogue after the closing boundary; drain it without parsing
            parser.write(chunk)
            if rx.should_flush():
                await asyncio.to_thread(rx.flush, rx.take())
        parser.finalize()
        if not rx.ended:
            raise UploadRejected(
                400,
                "incomplete_upload",
                "The upload ended before the end of the multipart body (connection cut short?).",
                "Upload again.",
            )
        await asyncio.to_thread(rx.flush, rx.take())
        if not rx.saved:
            raise UploadRejected(
                400, "no_files", "The upload contained no files.", "Attach files as multipart file parts."
            )
        result = await _extract_archives(rx)
        for saved in rx.saved:  # as received: an archive is one file of its compressed size
            metrics.observe_upload(saved.size)
        return result
    except FormParserError as exc:
        await asyncio.to_thread(rx.abort)
        raise UploadRejected(
            400,
            "bad_multipart",
            f"The upload is not a well-formed multipart body ({exc}).",
            "Let the HTTP client build the multipart body; do not hand-craft it.",
        ) from None
    except OSError as exc:  # extracting an archive onto a full or read-only disk
        await asyncio.to_thread(rx.abort)
        raise storage_failure(exc) from None
    except Exception:
        await asyncio.to_thread(rx.abort)
        raise
    except BaseException:
        rx.abort()  # cancelled: no awaiting now, and the lock waits out any batch still being written
        raise


async def _extract_archives(rx: _Receiver) -> UploadResult:
    result = UploadResult(total_bytes=sum(f.size for f in rx.saved))
    for saved in rx.saved:
        if archive_suffix(saved.relative_path) is None:
            result.files.append(saved)
            continue
        path = rx.dest / saved.relative_path
        suffix = archive_suffix(saved.relative_path) or ""
        used_besides = rx.already_used + result.total_bytes - saved.size
        extracted = await asyncio.to_thread(
            extract_archive, path, path.parent, rx.limits, base=rx.dest, already_used_bytes=used_besides
        )
        # Only now is the folder known to be this request's own (extraction refuses an existing one).
        rx.created_trees.append(path.with_name(path.name[: -len(suffix)]))
        result.files.extend(extracted)
        result.total_bytes += sum(f.size for f in extracted) - saved.size
        result.archives_extracted.append(saved.relative_path)
    return result
