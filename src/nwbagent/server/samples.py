"""The bundled one-click sample: made once per data dir, shared read-only by every session that picks it.

It is 250 MB of synthetic Neuropixels data, written at start-up. A start on a small disk must neither leave
a half-written sample filling that disk nor die with a bare ``OSError``: the space is checked first, the
sample is written under a temporary name, and any failure removes it and explains how much space is needed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nwbagent.errors import UserFacingError
from nwbagent.server.upload_rules import human_bytes

SAMPLES = {"neuropixels": "Synthetic Neuropixels 1.0 SpikeGLX run (10 s, 385 channels, AP + LF)"}
SAMPLE_SECONDS = 10.0
_META_BYTES = 64 * 1024  # the .meta files and folder entries, generously


def sample_path(data_dir: Path, name: str) -> Path:
    return data_dir / "samples" / name / "sample_g0"


def sample_bytes(seconds: float = SAMPLE_SECONDS) -> int:
    """What the sample occupies on disk: its AP and LF ``.bin`` files plus their headers."""
    from nwbagent.sample import n_frames, n_saved_channels

    return sum(n_frames(s, seconds) * n_saved_channels(s) * 2 for s in ("ap", "lf")) + _META_BYTES


def ensure_sample(data_dir: Path, seconds: float = SAMPLE_SECONDS) -> Path:
    """Write the neuropixels sample into ``data_dir`` unless it is there; returns its folder.

    Raises :class:`UserFacingError` (and leaves nothing behind) when the disk is too small or the write
    fails.
    """
    from nwbagent.sample import make_spikeglx_sample

    folder = sample_path(data_dir, "neuropixels")
    if (folder / "sample_g0_t0.imec0.ap.meta").exists():
        return folder
    tmp = folder.parent.with_name("neuropixels.partial")
    shutil.rmtree(tmp, ignore_errors=True)  # left by a start that was killed mid-write
    needed = sample_bytes(seconds)
    where = folder.parent.parent
    fix = (
        f"Free at least {human_bytes(needed)} on that disk, or point NWBAGENT_DATA_DIR at a folder on a "
        "larger one."
    )
    try:
        where.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(where).free
    except OSError as exc:
        raise UserFacingError(
            f"Cannot prepare the bundled sample recording ({exc.strerror}).", fix=fix, path=where
        ) from None
    if free < needed:
        raise UserFacingError(
            f"The bundled sample recording needs {human_bytes(needed)} of free space, but only "
            f"{human_bytes(free)} is free.",
            fix=fix,
            path=where,
            code="disk_too_small",
        )
    try:
        made = make_spikeglx_sample(tmp, seconds)
        shutil.rmtree(folder.parent, ignore_errors=True)
        tmp.rename(folder.parent)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserFacingError(
            f"Writing the bundled sample recording failed ({exc.strerror or exc}); it needs "
            f"{human_bytes(needed)} of free space. The partial copy was removed.",
            fix=fix,
            path=where,
            code="disk_too_small",
        ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    assert (folder.parent / made.name).exists()
    return folder
