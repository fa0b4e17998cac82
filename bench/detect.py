"""Detection speed on a 1,000-file folder, warm, against a plain ``os.walk`` + ``stat`` of the same tree.

Not a pytest test: run ``.venv/bin/python bench/detect.py``. Exits 1 when warm detection exceeds 1 s.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(
    os.environ.get("NWBAGENT_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")
)
DATA = SHARED / "ephy_testing_data"
LIMIT_S = 1.0
RUNS = 5


def build(root: Path) -> int:
    """1 SpikeGLX pair + an Open Ephys binary copy + unrelated small files in nested folders: 1,000 files."""
    shutil.copytree(DATA / "spikeglx/TEST_20210920_0_g0", root / "sglx", symlinks=True)
    shutil.copytree(DATA / "openephysbinary/v0.4.4.1_with_video_tracking", root / "oe")
    count = sum(len(files) for _, _, files in os.walk(root))
    index = 0
    while count < 1000:
        folder = root / "misc" / f"d{index // 50}" / f"e{index % 5}"
        folder.mkdir(parents=True, exist_ok=True)
        suffix = (".npy", ".txt", ".csv", ".bin", ".dat", ".json")[index % 6]
        (folder / f"f{index}{suffix}").write_bytes(os.urandom(64))
        index += 1
        count += 1
    return count


def walk_stat(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            os.stat(os.path.join(folder, name))


def timed(function: object, root: Path) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        function(root)  # type: ignore[operator]
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    from nwbagent.formats import detect

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = build(root)
        start = time.perf_counter()
        first = detect(root)
        cold = time.perf_counter() - start
        warm = timed(detect, root)
        baseline = timed(walk_stat, root)
        print(f"files: {files}; units: {[u.label for u in first.units]}")
        print(f"detect first call (imports included): {cold:.3f} s")
        print(f"detect warm median of {RUNS}: {warm:.3f} s")
        print(f"os.walk+stat median of {RUNS}: {baseline:.4f} s; ratio detect/walk: {warm / baseline:.1f}x")
    if warm > LIMIT_S:
        print(f"FAIL: warm detection {warm:.3f} s exceeds {LIMIT_S} s")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
