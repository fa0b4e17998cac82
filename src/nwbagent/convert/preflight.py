"""Cheap checks of the raw files before NeuroConv opens them.

NeuroConv and neo fail on damaged input with messages about their internals (``AssertionError: stream_id
imec0.lf is not in [...]``, ``cannot mmap an empty file``, ``Size of available data is not a multiple of the
data-type size``) or, worse, silently drop a stream. Each check here reads headers and file sizes only, and
turns one such case into a paragraph naming the file, the problem and the fix. A check returns warnings
(conditions worth telling the user about that do not stop the conversion) and raises
:class:`~nwbagent.errors.UserFacingError` for input that cannot convert.
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from nwbagent.errors import UserFacingError
from nwbagent.formats.probes.spikeglx import read_meta

#: A check looks at every file found and returns warnings; it raises UserFacingError on bad input.
Check = Callable[[list[Path]], list[str]]

_MAX_FILES = 200_000

# ---------------------------------------------------------------------------------------------- SpikeGLX

_COMMON_META_KEYS = ("fileCreateTime", "fileName", "nSavedChans", "snsSaveChanSubset", "~snsChanMap")
_META_KEYS_BY_KIND: dict[str, tuple[str, ...]] = {
    "imec": ("imAiRangeMax", "imDatPrb_pn", "imSampRate", "~imroTbl"),
    "nidq": ("niSampRate", "niAiRangeMax", "snsMnMaXaDw", "niMNGain", "niMAGain"),
    "obx": ("obSampRate", "obAiRangeMax", "obMaxInt"),
}
_RATE_KEY = {"imec": "imSampRate", "nidq": "niSampRate", "obx": "obSampRate"}


def read_spikeglx_meta(meta_path: Path) -> dict[str, str]:
    """Parse a SpikeGLX ``.meta`` (``key=value`` lines; table keys keep their ``~``); raise if it is not
    one."""
    raw = meta_path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise UserFacingError(
            "This .meta file is binary, not the key=value text SpikeGLX writes: it is corrupt or another "
            "file was saved under this name.",
            fix="Copy the .meta again from the acquisition machine (a small text file next to the .bin).",
            path=meta_path,
            code="corrupt_header",
        )
    meta = read_meta(meta_path)
    if not meta:
        raise UserFacingError(
            "This .meta file holds no key=value lines, so it is not a SpikeGLX metadata file (empty or "
            "overwritten).",
            fix="Copy the .meta again from the acquisition machine.",
            path=meta_path,
            code="corrupt_header",
        )
    return meta


def _spikeglx_kind(meta_path: Path, meta: dict[str, str]) -> str:
    kind = meta.get("typeThis")
    if kind in _META_KEYS_BY_KIND:
        return kind
    name = meta_path.name.lower()
    if ".nidq." in name:
        return "nidq"
    if ".obx" in name:
        return "obx"
    return "imec"


@lru_cache(maxsize=1)
def _known_probe_part_numbers() -> frozenset[str]:
    """Part numbers neo knows; read from neo's JSON without importing neo (which is slow)."""
    spec = importlib.util.find_spec("neo")
    if spec is None or spec.origin is None:
        return frozenset()
    table = Path(spec.origin).parent / "resources" / "neuropixels_probe_features.json"
    try:
        return frozenset(json.loads(table.read_text())["neuropixels_probes"])
    except (OSError, ValueError, KeyError):
        return frozenset()


def _spikeglx_meta_paths(files: list[Path]) -> list[Path]:
    metas = {f for f in files if f.suffix == ".meta"}
    # A .bin given on its own is checked through its .meta.
    metas.update(
        f.with_suffix(".meta") for f in files if f.suffix == ".bin" and f.with_suffix(".meta").exists()
    )
    return sorted(metas)


def check_spikeglx(files: list[Path]) -> list[str]:
    """A SpikeGLX stream is a ``.meta``/``.bin`` pair: the header must parse, the data file must exist and
    hold whole samples. A data file shorter than the header says is converted as it is, with a warning."""
    warnings: list[str] = []
    for meta_path in _spikeglx_meta_paths(files):
        meta = read_spikeglx_meta(meta_path)
        kind = _spikeglx_kind(meta_path, meta)
        required = _COMMON_META_KEYS + _META_KEYS_BY_KIND[kind]
        if kind == "imec" and "imProbeOpt" in meta:  # Phase 3A probes carry no part number
            required = tuple(k for k in required if k != "imDatPrb_pn")
        missing = [key for key in required if key not in meta]
        if missing:
            raise UserFacingError(
                f"This SpikeGLX .meta lacks the key(s) {', '.join(missing)}, which the reader needs "
                "(the header is truncated or was edited).",
                fix="Copy the .meta again from the acquisition machine; if it was edited by hand, restore "
                "the missing lines from the original.",
                path=meta_path,
                code="corrupt_header",
            )
        part_number = meta.get("imDatPrb_pn")
        known = _known_probe_part_numbers()
        if kind == "imec" and part_number is not None and known and part_number not in known:
            raise UserFacingError(
                f"The probe part number imDatPrb_pn={part_number!r} is not one the Neuropixels reader knows.",
                fix="Check the imDatPrb_pn line against the original .meta; if it is a new probe, update "
                "neo/probeinterface to a release that lists it.",
                path=meta_path,
                code="corrupt_header",
            )
        try:
            n_channels = int(meta["nSavedChans"])
            rate = float(meta[_RATE_KEY[kind]])
        except ValueError:
            raise UserFacingError(
                f"nSavedChans={meta['nSavedChans']!r} or {_RATE_KEY[kind]}={meta[_RATE_KEY[kind]]!r} is not "
                "a number, so the .meta is corrupt.",
                fix="Copy the .meta again from the acquisition machine.",
                path=meta_path,
                code="corrupt_header",
            ) from None
        if n_channels <= 0 or rate <= 0:
            raise UserFacingError(
                f"nSavedChans={n_channels} and {_RATE_KEY[kind]}={rate:g} must both be positive.",
                fix="Copy the .meta again from the acquisition machine.",
                path=meta_path,
                code="corrupt_header",
            )
        bin_path = meta_path.with_suffix(".bin")
        if not bin_path.exists():
            raise UserFacingError(
                f"This SpikeGLX header has no data file: {bin_path.name} is missing next to it, so the "
                "stream cannot be read (NeuroConv would report it as an unknown stream id).",
                fix=f"Copy {bin_path.name} into {meta_path.parent} (it is the large file recorded with this "
                ".meta), or remove the .meta to convert the other streams without it.",
                path=meta_path,
                code="missing_data_file",
            )
        size = bin_path.stat().st_size
        bytes_per_sample = n_channels * 2
        if size == 0:
            raise UserFacingError(
                "This SpikeGLX data file is empty (0 bytes): the copy failed or the recording never started.",
                fix="Copy the .bin again from the acquisition machine; if it is empty there too, leave this "
                "stream out.",
                path=bin_path,
                code="empty_data_file",
            )
        if size % bytes_per_sample:
            whole = size - size % bytes_per_sample
            raise UserFacingError(
                f"This SpikeGLX data file holds {size:,} bytes, which is not a whole number of samples "
                f"({n_channels} channels x 2 bytes = {bytes_per_sample} bytes per sample; "
                f"{size % bytes_per_sample} bytes are left over): the file was cut off mid-sample, usually "
                "by an interrupted copy.",
                fix="Copy the file again from the acquisition machine, or keep the "
                f"{whole // bytes_per_sample:,} whole samples by trimming it to {whole:,} bytes "
                f"(e.g. `truncate -s {whole} {bin_path.name}`).",
                path=bin_path,
                code="truncated_data_file",
            )
        declared = _int_or_none(meta.get("fileSizeBytes"))
        if declared is not None and size < declared:
            held = size // bytes_per_sample / rate
            full = declared // bytes_per_sample / rate
            warnings.append(
                f"{bin_path}: file holds {held:.2f} s of the {full:.2f} s the .meta declares; converting "
                "what is there (if this is not a deliberate excerpt, the copy is incomplete: copy it again)."
            )
    return warnings


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# --------------------------------------------------------------------------------- binary header magics


def _header_check(
    suffixes: tuple[str, ...],
    accept: Callable[[bytes], bool],
    length: int,
    expected: str,
    family: str,
    names: tuple[str, ...] = (),
) -> Check:
    """A check that reads the first ``length`` bytes of every file with one of ``suffixes``."""

    def check(files: list[Path]) -> list[str]:
        for path in files:
            if path.suffix.lower() not in suffixes and path.name.lower() not in names:
                continue
            with path.open("rb") as handle:
                head = handle.read(length)
            if len(head) < length:
                problem = f"This {family} file is {len(head)} bytes long, too short to hold a header."
            elif not accept(head):
                problem = (
                    f"This file does not start with the {family} header signature ({expected}; found "
                    f"{head!r}): it is corrupt, incompletely copied, or another format under this extension."
                )
            else:
                continue
            raise UserFacingError(
                problem,
                fix="Copy the file again from the acquisition machine; if it opens in the vendor's software, "
                "export it again from there.",
                path=path,
                code="corrupt_header",
            )
        return []

    check.__name__ = f"check_{family.lower().replace(' ', '_')}_header"
    check.__doc__ = f"{family}: the file must start with {expected}."
    return check


def _u32_le(value: int) -> Callable[[bytes], bool]:
    return lambda head: struct.unpack("<I", head[:4])[0] == value


def _blackrock_nsx(head: bytes) -> bool:
    return head[:8] in (b"NEURALSG", b"NEURALCD", b"BRSMPGRP")


def _blackrock_nev(head: bytes) -> bool:
    return head[:8] in (b"NEURALEV", b"BREVENTS")


check_intan_rhd = _header_check((".rhd",), _u32_le(0xC6912702), 4, "magic number 0xC6912702", "Intan RHD")
check_intan_rhs = _header_check((".rhs",), _u32_le(0xD69127AC), 4, "magic number 0xD69127AC", "Intan RHS")
check_abf = _header_check((".abf",), lambda h: h[:4] in (b"ABF ", b"ABF2"), 4, "'ABF ' or 'ABF2'", "Axon ABF")
check_edf = _header_check((".edf",), lambda h: h[:8] == b"0       ", 8, "'0' and 7 spaces", "EDF")
_NSX = tuple(f".ns{i}" for i in range(1, 10))
check_blackrock_nsx = _header_check(
    _NSX, _blackrock_nsx, 8, "NEURALSG, NEURALCD or BRSMPGRP", "Blackrock NSx"
)
check_blackrock_nev = _header_check((".nev",), _blackrock_nev, 8, "NEURALEV or BREVENTS", "Blackrock NEV")

#: Every preflight check, run in this order; the first error stops the run.
CHECKS: list[Check] = [
    check_spikeglx,
    check_intan_rhd,
    check_intan_rhs,
    check_abf,
    check_edf,
    check_blackrock_nsx,
    check_blackrock_nev,
]


def _list_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files: list[Path] = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files.extend(Path(root) / name for name in sorted(names) if not name.startswith("."))
        if len(files) >= _MAX_FILES:
            break
    return files


def preflight(path: Path) -> list[str]:
    """Check the raw files under ``path`` (a folder or one file) before conversion.

    Returns warnings to show the user; raises :class:`UserFacingError` for input that would fail or convert
    wrongly, naming the file, the problem and the fix.
    """
    path = Path(path)
    if not path.exists():
        raise UserFacingError(
            "This path does not exist.", fix="Check the spelling, or give the folder itself.", path=path
        )
    files = _list_files(path)
    warnings: list[str] = []
    for check in CHECKS:
        warnings.extend(check(files))
    return warnings
