"""Upload safety: real multipart bodies streamed in small chunks, real archives, real files on disk.

Every rejection test also checks that nothing was left behind, inside the upload folder or beside it.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import io
import os
import shutil
import tarfile
import time
import tracemalloc
import unicodedata
import zipfile
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath

import httpx
import pytest

from nwbagent.server.archives import copy_bounded, extract_archive
from nwbagent.server.upload_rules import human_bytes
from nwbagent.server.uploads import (
    SavedFile,
    UploadLimits,
    UploadRejected,
    UploadResult,
    dir_size,
    receive_multipart,
    resolve_server_path,
    safe_relative_path,
)
from nwbagent.settings import Settings

MiB = 1024 * 1024
BOUNDARY = b"----nwbagentTestBoundary7MA4YWxkTrZu0gW"
CT = f"multipart/form-data; boundary={BOUNDARY.decode()}"
LIMITS = UploadLimits(
    max_file_bytes=40 * MiB, max_session_bytes=100 * MiB, max_archive_entries=1000, max_archive_ratio=100
)
SPIKEGLX = "spikeglx/TEST_20210920_0_g0"

Data = bytes | Callable[[], Iterator[bytes]]


# ---- helpers ---------------------------------------------------------------------------------------------


def pieces(parts: Iterable[tuple[str | bytes | None, Data]], *, end: bool = True) -> Iterator[bytes]:
    """A multipart body, generated lazily so a 30 MB part is never whole in memory. Names are written raw
    (no escaping), as a hostile client would."""
    for name, data in parts:
        yield b"--" + BOUNDARY + b"\r\n"
        if name is None:
            yield b'Content-Disposition: form-data; name="note"\r\n\r\n'
        else:
            raw = name.encode() if isinstance(name, str) else name
            yield b'Content-Disposition: form-data; name="files"; filename="' + raw + b'"\r\n'
            yield b"Content-Type: application/octet-stream\r\n\r\n"
        if isinstance(data, bytes):
            yield data
        else:
            yield from data()
        yield b"\r\n"
    if end:
        yield b"--" + BOUNDARY + b"--\r\n"


async def chunked(source: Iterable[bytes], size: int = 64 * 1024) -> AsyncIterator[bytes]:
    buf = bytearray()
    for piece in source:
        buf += piece
        while len(buf) >= size:
            yield bytes(buf[:size])
            del buf[:size]
    if buf:
        yield bytes(buf)


def receive(
    parts: Iterable[tuple[str | bytes | None, Data]],
    dest: Path,
    limits: UploadLimits = LIMITS,
    *,
    used: int = 0,
    content_type: str = CT,
) -> UploadResult:
    return asyncio.run(
        receive_multipart(chunked(pieces(parts)), content_type, dest, limits, already_used_bytes=used)
    )


def rejected(
    parts: Iterable[tuple[str | bytes | None, Data]],
    dest: Path,
    limits: UploadLimits = LIMITS,
    *,
    used: int = 0,
    content_type: str = CT,
) -> UploadRejected:
    with pytest.raises(UploadRejected) as info:
        receive(parts, dest, limits, used=used, content_type=content_type)
    return info.value


def snapshot(root: Path) -> dict[str, int]:
    """Every path under ``root`` with its size; equal snapshots mean nothing was added, removed or grown."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath, n)
            out[str(p.relative_to(root))] = p.lstat().st_size if p.is_file() else -1
    return out


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    """The session's upload folder, with an older upload in it that no request may touch."""
    d = tmp_path / "session" / "uploads"
    (d / "earlier").mkdir(parents=True)
    (d / "earlier" / "old.bin").write_bytes(b"old")
    return d


@pytest.fixture
def untouched(tmp_path: Path, dest: Path) -> Iterator[None]:
    """Asserts after the test that the whole tmp tree (the upload folder and around it) is as before."""
    before = snapshot(tmp_path)
    yield
    assert snapshot(tmp_path) == before


def make_zip(path: Path, entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def add_tar_member(tf: tarfile.TarFile, name: str, data: bytes = b"", /, **attrs: object) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for k, v in attrs.items():
        setattr(info, k, v)
    tf.addfile(info, io.BytesIO(data) if info.isreg() else None)


# ---- happy paths ------------------------------------------------------------------------------------------


def test_files_keep_their_folder_structure_and_checksums(dest: Path) -> None:
    a, b = os.urandom(100_000), b"meta=1\n"
    result = receive([("rec/probe0/a.bin", a), ("rec/a.meta", b), (None, b"ignored field")], dest)
    assert {f.relative_path: f for f in result.files} == {
        "rec/probe0/a.bin": SavedFile("rec/probe0/a.bin", len(a), sha(a)),
        "rec/a.meta": SavedFile("rec/a.meta", len(b), sha(b)),
    }
    assert result.total_bytes == len(a) + len(b)
    assert result.archives_extracted == []
    assert (dest / "rec/probe0/a.bin").read_bytes() == a
    assert (dest / "earlier/old.bin").read_bytes() == b"old"


def test_body_encoded_by_httpx_is_accepted(dest: Path) -> None:
    request = httpx.Request(
        "POST",
        "http://test/upload",
        files=[("files", ("rec/données.meta", b"x=1")), ("files", ("rec/b.bin", b"\x00" * 10))],
    )
    body = request.read()
    ctype = request.headers["content-type"]

    async def run() -> UploadResult:
        return await receive_multipart(chunked([body], 7), ctype, dest, LIMITS)

    result = asyncio.run(run())
    assert sorted(f.relative_path for f in result.files) == ["rec/b.bin", "rec/données.meta"]
    assert (dest / "rec" / "données.meta").read_bytes() == b"x=1"


def test_30_mb_file_streams_without_being_held_in_memory(dest: Path) -> None:
    block = os.urandom(MiB)
    size = 30 * MiB
    expected = hashlib.sha256()
    for _ in range(30):
        expected.update(block)

    def data() -> Iterator[bytes]:
        for _ in range(30):
            yield block

    tracemalloc.start()
    try:
        result = receive([("big/recording.bin", data)], dest)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.files == [SavedFile("big/recording.bin", size, expected.hexdigest())]
    assert (dest / "big/recording.bin").stat().st_size == size
    assert peak < 6 * MiB, f"peak {human_bytes(peak)} for a {human_bytes(size)} upload"


def test_five_thousand_small_files_are_accepted(dest: Path) -> None:
    start = time.perf_counter()
    result = receive(((f"many/d{i % 10}/f{i}.txt", str(i).encode()) for i in range(5000)), dest)
    assert len(result.files) == 5000
    assert (dest / "many/d7/f4327.txt").read_bytes() == b"4327"
    assert time.perf_counter() - start < 15  # linear: ~1 s here; catches a quadratic slip


def test_name_rules_that_accept() -> None:
    assert safe_relative_path("./rec//a.bin") == PurePosixPath("rec/a.bin")
    assert safe_relative_path("rec\\probe\\a.bin") == PurePosixPath("rec/probe/a.bin")
    assert safe_relative_path("phy/.phy/params.py") == PurePosixPath("phy/.phy/params.py")
    assert safe_relative_path("console.txt") == PurePosixPath("console.txt")
    assert safe_relative_path("rec/file:1.bin") == PurePosixPath("rec/file:1.bin")
    nfd = unicodedata.normalize("NFD", "séance/é.bin")
    assert str(safe_relative_path(nfd)) == unicodedata.normalize("NFC", "séance/é.bin")


# ---- size limits ------------------------------------------------------------------------------------------


def test_oversize_file_is_refused_and_nothing_is_left(dest: Path, untouched: None) -> None:
    limits = UploadLimits(2 * MiB, 100 * MiB, 1000, 100)
    err = rejected([("ok.bin", b"fine"), ("rec/huge.bin", os.urandom(3 * MiB))], dest, limits)
    assert (err.status_code, err.error) == (413, "file_too_large")
    assert "rec/huge.bin" in err.message and "2 MiB" in err.message
    assert err.hint


def test_oversize_file_stops_reading_at_the_limit(dest: Path) -> None:
    consumed = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal consumed
        async for chunk in chunked(pieces([("huge.bin", lambda: iter([b"\x00" * MiB] * 50))])):
            consumed += len(chunk)
            yield chunk

    async def run() -> None:
        await receive_multipart(body(), CT, dest, UploadLimits(MiB, 100 * MiB, 10, 10))

    with pytest.raises(UploadRejected, match=r"huge\.bin"):
        asyncio.run(run())
    assert consumed < 2 * MiB
    assert not (dest / "huge.bin").exists()


def test_session_total_over_limit_is_refused(dest: Path, untouched: None) -> None:
    limits = UploadLimits(10 * MiB, 5 * MiB, 1000, 100)
    parts = [(f"p{i}.bin", b"\x01" * MiB) for i in range(3)]
    err = rejected(parts, dest, limits, used=3 * MiB)
    assert (err.status_code, err.error) == (413, "session_too_large")
    assert "5 MiB" in err.message and "3 MiB" in err.message


def test_too_many_files_is_refused(dest: Path, untouched: None) -> None:
    limits = UploadLimits(MiB, 100 * MiB, 1000, 100, max_files=1000)
    err = rejected(((f"f{i}.txt", b"x") for i in range(1001)), dest, limits)
    assert (err.status_code, err.error) == (413, "too_many_files")


# ---- names ------------------------------------------------------------------------------------------------

BAD_NAMES = [
    "../../etc/passwd",
    "/etc/passwd",
    "C:\\x",
    "c:x",
    "\\\\server\\share\\x",
    "a/../../b",
    "a/../b",
    "..",
    "...",
    "rec/..../x",
    "con.txt",
    "NUL",
    "rec/LPT1.log",
    "aux .txt",
    "a\x00b",
    "a\nb",
    "a\rb",
    "a\x1bb",
    "a\x7fb",
    "a\x85b",
    "invoice\u202egpj.exe",
    "a\u2028b",
    "x" * 300,
    "d/" * 2100 + "f",
    "trailing.",
    "trailing /x",
    " leading",
    "   ",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused_by_the_rules(name: str) -> None:
    with pytest.raises(UploadRejected) as info:
        safe_relative_path(name)
    assert (info.value.status_code, info.value.error) == (400, "bad_name")
    assert info.value.hint


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_in_an_upload_write_nothing_anywhere(dest: Path, untouched: None, name: str) -> None:
    err = rejected([("good/first.bin", b"ok"), (name, b"evil")], dest)
    # A raw CR breaks the header line itself, so the parser refuses it before the name rules see it.
    assert (err.status_code, err.error) == (400, "bad_multipart" if "\r" in name else "bad_name")


def test_name_that_is_not_utf8_is_refused(dest: Path, untouched: None) -> None:
    err = rejected([(b"caf\xe9.bin", b"x")], dest)
    assert err.error == "bad_name"


def test_same_name_twice_is_refused(dest: Path, untouched: None) -> None:
    err = rejected([("a.bin", b"1"), ("a.bin", b"2")], dest)
    assert (err.status_code, err.error) == (400, "duplicate_name")
    err = rejected([("a", b"1"), ("a/b", b"2")], dest)
    assert err.status_code == 400


def test_existing_file_is_not_overwritten(dest: Path, untouched: None) -> None:
    err = rejected([("new.bin", b"n"), ("earlier/old.bin", b"overwrite")], dest)
    assert (err.status_code, err.error) == (409, "already_exists")
    err = rejected([("earlier/old.bin/x", b"under a file")], dest)
    assert err.status_code == 409


def test_symlink_in_the_upload_folder_is_not_followed(dest: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (dest / "link").symlink_to(outside)
    err = rejected([("link/x.bin", b"x")], dest)
    assert err.status_code == 400
    assert list(outside.iterdir()) == []


# ---- malformed requests -----------------------------------------------------------------------------------


def test_not_multipart_is_415(dest: Path, untouched: None) -> None:
    for ctype in ("application/json", "", "multipart/mixed; boundary=x"):
        err = rejected([("a.bin", b"x")], dest, content_type=ctype)
        assert (err.status_code, err.error) == (415, "not_multipart")
    err = rejected([("a.bin", b"x")], dest, content_type="multipart/form-data")
    assert (err.status_code, err.error) == (400, "bad_multipart")


def test_truncated_body_is_refused_and_cleaned(dest: Path, untouched: None) -> None:
    async def run() -> None:
        body = list(pieces([("a.bin", b"x" * 1000), ("b.bin", b"y" * 1000)], end=False))
        await receive_multipart(chunked(body[:-2], 100), CT, dest, LIMITS)

    with pytest.raises(UploadRejected) as info:
        asyncio.run(run())
    assert (info.value.status_code, info.value.error) == (400, "incomplete_upload")


def test_garbage_body_is_bad_multipart(dest: Path, untouched: None) -> None:
    async def run() -> None:
        await receive_multipart(chunked([b"this is not multipart at all"]), CT, dest, LIMITS)

    with pytest.raises(UploadRejected) as info:
        asyncio.run(run())
    assert info.value.error == "bad_multipart"


def test_body_without_files_is_refused(dest: Path, untouched: None) -> None:
    err = rejected([(None, b"just a field"), ("", b"")], dest)
    assert err.error == "no_files"


def test_client_disconnect_mid_upload_leaves_nothing(dest: Path, untouched: None) -> None:
    class Disconnected(Exception):
        pass

    async def body() -> AsyncIterator[bytes]:
        sent = 0
        async for chunk in chunked(pieces([("a.bin", b"a" * MiB), ("rec/b.bin", b"b" * 5 * MiB)])):
            yield chunk
            sent += len(chunk)
            if sent > 3 * MiB:
                raise Disconnected

    async def run() -> None:
        await receive_multipart(body(), CT, dest, LIMITS)

    with pytest.raises(Disconnected):
        asyncio.run(run())


class _FullDisk(io.FileIO):
    """A file whose writes fail as on a full disk once ``room`` bytes are written. The only stand-in for
    the operating system in this module: a real full disk is tested in test_server_disk.py."""

    room = 200_000

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def test_full_disk_during_an_upload_is_507_and_leaves_nothing(
    dest: Path, untouched: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nwbagent.server.uploads as uploads

    monkeypatch.setattr(
        uploads, "open", lambda path, mode: _FullDisk(path, "wb" if mode == "xb" else mode), raising=False
    )
    err = rejected([("small.bin", b"s" * 1000), ("rec/big.bin", os.urandom(3 * MiB))], dest)
    assert (err.status_code, err.error) == (507, "disk_full")
    assert "rec/big.bin" in err.message and "Nothing of this upload was kept" in err.hint


def test_cancelled_upload_leaves_nothing(dest: Path, untouched: None) -> None:
    async def body() -> AsyncIterator[bytes]:
        async for chunk in chunked(pieces([("a.bin", b"a" * MiB), ("rec/b.bin", b"b" * 2 * MiB)])):
            yield chunk
        await asyncio.sleep(30)  # the client stalls before the closing boundary
        yield b""

    async def run() -> None:
        task = asyncio.create_task(receive_multipart(body(), CT, dest, LIMITS))
        for _ in range(100):
            await asyncio.sleep(0.02)
            if (dest / "rec/b.bin").exists():
                break
        assert (dest / "a.bin").exists()  # written, so the cleanup below has real work to undo
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())


# ---- archives ---------------------------------------------------------------------------------------------


def test_zip_of_a_real_recording_is_extracted(dest: Path, ephy_data: Path, tmp_path: Path) -> None:
    source = ephy_data / SPIKEGLX
    archive = Path(shutil.make_archive(str(tmp_path / source.name), "zip", source.parent, source.name))
    data = archive.read_bytes()
    result = receive([(f"uploads/{archive.name}", data)], dest)
    folder = dest / "uploads" / source.name
    originals = sorted(p.name for p in source.iterdir())
    assert sorted(p.name for p in folder.iterdir()) == originals  # no doubled TEST_.../TEST_... folder
    assert result.archives_extracted == [f"uploads/{archive.name}"]
    assert not (dest / "uploads" / archive.name).exists()
    for f in result.files:
        original = source / PurePosixPath(f.relative_path).name
        assert f.relative_path == f"uploads/{source.name}/{original.name}"
        assert f.sha256 == sha(original.read_bytes())
    assert result.total_bytes == sum(p.stat().st_size for p in source.iterdir())
    assert result.total_bytes == dir_size(dest) - len(b"old")


@pytest.mark.parametrize(
    ("suffix", "mode"),
    [(".tar.gz", "w:gz"), (".tgz", "w:gz"), (".tar", "w"), (".tar.bz2", "w:bz2"), (".TAR.XZ", "w:xz")],
)
def test_tar_is_extracted_and_nested_archives_are_kept(
    dest: Path, tmp_path: Path, suffix: str, mode: str
) -> None:
    inner = make_zip(tmp_path / "inner.zip", {"x.txt": b"x"}).read_bytes()
    archive = tmp_path / f"day1{suffix}"
    with tarfile.open(archive, mode) as tf:  # type: ignore[call-overload]
        add_tar_member(tf, ".", type=tarfile.DIRTYPE)
        add_tar_member(tf, "./probe0", type=tarfile.DIRTYPE)
        add_tar_member(tf, "./probe0/a.bin", b"A" * 5000)
        add_tar_member(tf, "./notes/inner.zip", inner)
    result = receive([(archive.name, archive.read_bytes()), ("other.txt", b"o")], dest)
    assert sorted(f.relative_path for f in result.files) == [
        "day1/notes/inner.zip",
        "day1/probe0/a.bin",
        "other.txt",
    ]
    assert (dest / "day1/notes/inner.zip").read_bytes() == inner
    assert result.archives_extracted == [archive.name]


def test_macos_resource_forks_are_skipped(dest: Path, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "rec.zip", {"rec/a.bin": b"a", "__MACOSX/rec/._a.bin": b"junk"})
    result = extract_archive(archive, dest, LIMITS)
    assert [f.relative_path for f in result] == ["rec/a.bin"]
    assert not (dest / "rec" / "__MACOSX").exists()


def test_extraction_folder_that_exists_is_refused(dest: Path, untouched: None, tmp_path: Path) -> None:
    data = make_zip(tmp_path / "x.zip", {"a.txt": b"a"}).read_bytes()
    (tmp_path / "x.zip").unlink()
    err = rejected([("earlier.zip", data)], dest)
    assert (err.status_code, err.error) == (409, "already_exists")


def zip_with(tmp_path: Path, mutate: Callable[[zipfile.ZipFile], None], name: str = "evil.zip") -> bytes:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("fine.txt", b"fine")
        mutate(zf)
    data = path.read_bytes()
    path.unlink()
    return data


def _symlink_entry(zf: zipfile.ZipFile) -> None:
    info = zipfile.ZipInfo("link")
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    zf.writestr(info, "/etc/passwd")


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda zf: zf.writestr("../evil.txt", b"evil"), "'..'"),
        (lambda zf: zf.writestr("a/../../evil.txt", b"evil"), "'..'"),
        (lambda zf: zf.writestr("/abs.txt", b"evil"), "absolute"),
        (lambda zf: zf.writestr("C:/evil.txt", b"evil"), "drive letter"),
        (lambda zf: zf.writestr("fine.txt", b"again"), "more than once"),
        (_symlink_entry, "link"),
    ],
    ids=["zip-slip", "nested-slip", "absolute", "drive", "duplicate", "symlink"],
)
def test_unsafe_zip_entries_are_refused(
    dest: Path, untouched: None, tmp_path: Path, mutate: Callable[[zipfile.ZipFile], None], reason: str
) -> None:
    data = zip_with(tmp_path, mutate)
    err = rejected([("ok.bin", b"ok"), ("evil.zip", data)], dest)
    assert (err.status_code, err.error) == (400, "unsafe_archive")
    assert "evil.zip" in err.message and reason in err.message


@pytest.mark.parametrize(
    "attrs",
    [
        {"type": tarfile.SYMTYPE, "linkname": "/etc/passwd"},
        {"type": tarfile.LNKTYPE, "linkname": "fine.txt"},
        {"type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3},
        {"type": tarfile.BLKTYPE, "devmajor": 8, "devminor": 0},
        {"type": tarfile.FIFOTYPE},
    ],
    ids=["symlink", "hardlink", "chardev", "blockdev", "fifo"],
)
def test_tar_links_and_devices_are_refused(
    dest: Path, untouched: None, tmp_path: Path, attrs: dict[str, object]
) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        add_tar_member(tf, "fine.txt", b"fine")
        add_tar_member(tf, "special", **attrs)
    err = rejected([("evil.tar", buf.getvalue())], dest)
    assert (err.status_code, err.error) == (400, "unsafe_archive")


def test_tar_slip_is_refused(dest: Path, untouched: None) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        add_tar_member(tf, "fine.txt", b"fine")
        add_tar_member(tf, "../../evil.txt", b"evil")
    err = rejected([("evil.tar", buf.getvalue())], dest)
    assert err.error == "unsafe_archive"


def test_zip_bomb_is_refused_by_ratio(dest: Path, untouched: None, tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("zeros.bin", "w") as fh:
        block = b"\x00" * MiB
        for _ in range(200):
            fh.write(block)
    data = path.read_bytes()
    path.unlink()
    assert len(data) < 400_000
    err = rejected([("bomb.zip", data)], dest, UploadLimits(300 * MiB, 300 * MiB, 1000, 200))
    assert (err.status_code, err.error) == (413, "archive_bomb")


def test_tar_gz_bomb_is_stopped_while_streaming(dest: Path, untouched: None, tmp_path: Path) -> None:
    path = tmp_path / "bomb.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for i in range(10):
            add_tar_member(tf, f"zeros{i}.bin", b"\x00" * 2 * MiB)
    data = path.read_bytes()
    path.unlink()
    err = rejected([("bomb.tar.gz", data)], dest, UploadLimits(300 * MiB, 300 * MiB, 1000, 100))
    assert (err.status_code, err.error) == (413, "archive_bomb")


@pytest.mark.parametrize("mode", ["w", "w:gz"], ids=["tar", "tar.gz"])
def test_truncated_tar_is_named_truncated_not_a_bomb(dest: Path, untouched: None, mode: str) -> None:
    """Issue #13 item 14: the first entry's header claims far more than the ratio allows of what is left of
    the archive; that is what a cut-off download looks like, and it must be called that."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        add_tar_member(tf, "rec/a.bin", os.urandom(3 * MiB))
    cut = buf.getvalue()[:60_000]
    err = rejected(
        [("rec.tar" if mode == "w" else "rec.tar.gz", cut)], dest, UploadLimits(MiB * 10, MiB * 10, 100, 10)
    )
    assert (err.status_code, err.error) == (400, "truncated_archive")
    assert "ends early" in err.message and "bomb" not in err.message


def test_tar_bomb_with_honest_headers_is_still_a_bomb(dest: Path, untouched: None) -> None:
    """Checking the ratio on real bytes (for tars) must still stop a real bomb before it is written."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        add_tar_member(tf, "zeros.bin", b"\x00" * 8 * MiB)
    err = rejected([("bomb.tar.gz", buf.getvalue())], dest, UploadLimits(100 * MiB, 100 * MiB, 100, 20))
    assert (err.status_code, err.error) == (413, "archive_bomb")


def test_zip_with_too_many_entries_is_refused(dest: Path, untouched: None, tmp_path: Path) -> None:
    path = tmp_path / "count.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for i in range(20_000):
            zf.writestr(f"f{i}", b"")
    data = path.read_bytes()
    path.unlink()
    limits = UploadLimits(10 * MiB, 100 * MiB, 10_000, 1e9)
    err = rejected([("count.zip", data)], dest, limits)
    assert (err.status_code, err.error) == (413, "archive_too_many_entries")
    assert "20,000" in err.message


def test_tar_with_too_many_entries_is_refused(dest: Path, untouched: None) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for i in range(60):
            add_tar_member(tf, f"f{i}", b"x")
    err = rejected([("count.tar", buf.getvalue())], dest, UploadLimits(MiB, MiB, 50, 1e9))
    assert err.error == "archive_too_many_entries"


def test_honest_tar_over_the_session_budget_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "rec.tar"
    with tarfile.open(archive, "w") as tf:
        add_tar_member(tf, "a.bin", os.urandom(600_000))
        add_tar_member(tf, "b.bin", os.urandom(600_000))
    before = snapshot(tmp_path)
    limits = UploadLimits(10 * MiB, 2 * MiB, 100, 100)
    with pytest.raises(UploadRejected) as info:
        extract_archive(archive, tmp_path, limits, already_used_bytes=int(1.2 * MiB))
    assert (info.value.status_code, info.value.error) == (413, "session_too_large")
    assert "b.bin" in info.value.message
    assert snapshot(tmp_path) == before  # a.bin, which fitted, was removed too; the archive is kept
    assert len(extract_archive(archive, tmp_path, limits)) == 2
    assert not archive.exists()


def test_archive_entry_over_the_file_limit_is_refused(dest: Path, untouched: None, tmp_path: Path) -> None:
    data = zip_with(tmp_path, lambda zf: zf.writestr("big.bin", os.urandom(2 * MiB)))
    err = rejected([("evil.zip", data)], dest, UploadLimits(MiB, 100 * MiB, 100, 100))
    assert (err.status_code, err.error) == (413, "file_too_large")


def _patch_declared_size(data: bytes, name: bytes, size: int) -> bytes:
    """Rewrite the uncompressed size a zip's table of contents declares for ``name``."""
    buf = bytearray(data)
    pos = 0
    while True:
        pos = buf.find(b"PK\x01\x02", pos)
        assert pos >= 0
        name_len = int.from_bytes(buf[pos + 28 : pos + 30], "little")
        if bytes(buf[pos + 46 : pos + 46 + name_len]) == name:
            buf[pos + 24 : pos + 28] = size.to_bytes(4, "little")
            return bytes(buf)
        pos += 4


@pytest.mark.parametrize(("declared", "reason"), [(1000, "CRC"), (300_000, "shorter than its header")])
def test_zip_header_lying_about_size_is_refused(
    dest: Path, untouched: None, tmp_path: Path, declared: int, reason: str
) -> None:
    data = zip_with(tmp_path, lambda zf: zf.writestr("liar.bin", os.urandom(200_000)))
    err = rejected([("evil.zip", _patch_declared_size(data, b"liar.bin", declared))], dest)
    assert (err.status_code, err.error) == (400, "bad_archive")
    assert reason in err.message


def test_copy_is_bounded_by_real_bytes_not_headers() -> None:
    class Endless(io.RawIOBase):
        """A stream that would go on forever, as a lying decompressor could."""

        served = 0

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
            n = len(b)
            b[:n] = b"\x00" * n
            self.served += n
            return n

    src, out = Endless(), io.BytesIO()
    overflow = UploadRejected(400, "bad_archive", "too much", "hint")
    with pytest.raises(UploadRejected) as info:
        copy_bounded(io.BufferedReader(src), out, 3 * MiB, overflow)
    assert info.value is overflow
    assert out.tell() <= 3 * MiB
    assert src.served <= 5 * MiB
    assert copy_bounded(io.BytesIO(b"abc"), io.BytesIO(), 3, overflow) == (3, sha(b"abc"))


def test_damaged_archive_is_refused(dest: Path, untouched: None) -> None:
    err = rejected([("broken.zip", b"PK\x03\x04 not really a zip"), ("broken2.tgz", b"nope")], dest)
    assert (err.status_code, err.error) == (400, "bad_archive")


def test_second_archive_failing_removes_the_first_extraction(
    dest: Path, untouched: None, tmp_path: Path
) -> None:
    good = make_zip(tmp_path / "good.zip", {"a.txt": b"a", "sub/b.txt": b"b"}).read_bytes()
    bad = zip_with(tmp_path, lambda zf: zf.writestr("../evil.txt", b"evil"))
    (tmp_path / "good.zip").unlink()
    err = rejected([("good.zip", good), ("bad.zip", bad)], dest)
    assert err.error == "unsafe_archive"


# ---- server-side paths and helpers ------------------------------------------------------------------------


def test_server_paths_must_be_inside_a_root(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "mouse1" / "day3").mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.mkdir()
    (root / "escape").symlink_to(secret)
    roots = [str(root)]

    assert resolve_server_path(str(root / "mouse1" / "day3"), roots) == (root / "mouse1/day3").resolve()
    assert resolve_server_path("mouse1/day3", roots) == (root / "mouse1/day3").resolve()
    assert resolve_server_path(str(root), roots) == root.resolve()

    for bad in (str(secret), str(root / "escape"), str(root / ".." / "secret"), "../secret", "/etc"):
        with pytest.raises(UploadRejected) as info:
            resolve_server_path(bad, roots)
        assert (info.value.status_code, info.value.error) == (403, "path_not_allowed")
        assert str(root) in info.value.message
        assert "NWBAGENT_DATA_ROOTS" in info.value.hint

    with pytest.raises(UploadRejected) as info:
        resolve_server_path(str(root / "nope"), roots)
    assert info.value.status_code == 404
    with pytest.raises(UploadRejected) as info:
        resolve_server_path(str(root / "a\x00b"), roots)
    assert info.value.status_code == 400


def test_server_paths_without_roots_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UploadRejected) as info:
        resolve_server_path(str(tmp_path), [])
    assert info.value.status_code == 403
    assert "NWBAGENT_DATA_ROOTS" in info.value.hint


def test_dir_size_counts_files_not_links(tmp_path: Path) -> None:
    (tmp_path / "a/b").mkdir(parents=True)
    (tmp_path / "a/x.bin").write_bytes(b"x" * 10)
    (tmp_path / "a/b/y.bin").write_bytes(b"y" * 5)
    (tmp_path / "a/link").symlink_to(tmp_path / "a/x.bin")
    (tmp_path / "a/dirlink").symlink_to(tmp_path / "a")
    assert dir_size(tmp_path / "a") == 15
    assert dir_size(tmp_path / "missing") == 0


def test_limits_from_settings_and_human_sizes() -> None:
    limits = UploadLimits.from_settings(Settings(max_archive_entries=7))
    assert limits.max_archive_entries == 7
    assert limits.max_file_bytes == 20 * 1024**3
    assert human_bytes(20 * 1024**3) == "20 GiB"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(12) == "12 bytes"
    assert UploadRejected(413, "x", "m", "h").to_dict() == {"error": "x", "message": "m", "hint": "h"}
