"""Damage checks of one SpikeGLX ``.meta``/``.bin`` pair, from the header and the file size alone.

neo and NeuroConv fail on damaged pairs with messages about their internals (``AssertionError: stream_id
imec0.lf is not in [...]``, ``cannot mmap an empty file``, ``Size of available data is not a multiple of the
data-type size``) or silently drop a stream. Each check turns one such case into a paragraph naming the file,
the problem and the fix; a data file shorter than its header says converts as it is, with a warning.
"""

from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path

from nwbagent.errors import UserFacingError
from nwbagent.formats.probes.base import text_head

_COMMON_META_KEYS = ("fileCreateTime", "fileName", "nSavedChans", "snsSaveChanSubset", "~snsChanMap")
_META_KEYS_BY_KIND: dict[str, tuple[str, ...]] = {
    "imec": ("imAiRangeMax", "imDatPrb_pn", "imSampRate", "~imroTbl"),
    "nidq": ("niSampRate", "niAiRangeMax", "snsMnMaXaDw", "niMNGain", "niMAGain"),
    "obx": ("obSampRate", "obAiRangeMax", "obMaxInt"),
}
_RATE_KEY = {"imec": "imSampRate", "nidq": "niSampRate", "obx": "obSampRate"}


def read_meta(path: Path) -> dict[str, str]:
    """``key=value`` lines of a .meta (table keys keep their ``~``); empty for anything else."""
    meta: dict[str, str] = {}
    for line in text_head(path, 65536).splitlines():
        key, sep, value = line.partition("=")
        if sep:
            meta[key.strip()] = value.strip()
    return meta


def read_spikeglx_meta(meta_path: Path) -> dict[str, str]:
    """Parse a SpikeGLX ``.meta``; raise if it is not one."""
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


def _kind(meta_path: Path, meta: dict[str, str]) -> str:
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


def check_pair(meta_path: Path) -> list[str]:
    """A stream is a ``.meta``/``.bin`` pair: the header must parse, the data file must hold whole samples.

    Returns warnings; raises :class:`UserFacingError` for a pair that cannot convert.
    """
    warnings: list[str] = []
    meta = read_spikeglx_meta(meta_path)
    kind = _kind(meta_path, meta)
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
    size = bin_path.stat().st_size
    bytes_per_sample = n_channels * 2
    if size == 0:
        raise UserFacingError(
            "This SpikeGLX data file is empty (0 bytes): the copy failed or the recording never started.",
            fix="Copy the .bin again from the acquisition machine; if it is empty there too, remove it and "
            "its .meta to convert the other streams.",
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
