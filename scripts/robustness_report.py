"""Print, per format family of ../shared/data and per robustness-corpus case, what detection found, how the
full conversion ended, and what ``dandi validate`` says of each file (or the refusal's text).

    .venv/bin/python scripts/robustness_report.py [--markdown]

The same conversions are asserted in tests/test_robustness.py; this script shows them as one table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import corpus  # noqa: E402
from nwbagent.convert import convert  # noqa: E402
from nwbagent.errors import UserFacingError  # noqa: E402
from nwbagent.formats import detect  # noqa: E402
from nwbagent.inspect import inspect_nwb  # noqa: E402
from nwbagent.sample import sample_metadata  # noqa: E402
from test_convert_formats import COMPLETE, _case_folders  # noqa: E402
from test_robustness import NEEDS_START, START, dandi_errors  # noqa: E402


def _row(name: str, source: Path, out: Path, metadata: dict[str, object], interface: str | None) -> list[str]:
    found = detect(source)
    units = ", ".join(u.label for u in found.units) or "none"
    left = "; ".join(x.label for x in found.left_out)
    try:
        outputs = convert(source, out, user_metadata=metadata, interface=interface, inspect=False)
    except UserFacingError as error:
        return [name, units, left, "refused: " + error.paragraph(), "–"]
    verdicts, dandi = [], []
    for output in outputs:
        verdicts.append(f"{Path(output.nwb).name}: {inspect_nwb(output.nwb).verdict}")
        errors = dandi_errors(output.nwb)
        dandi.append("no errors" if not errors else "; ".join(errors)[:200])
    return [name, units, left, "<br>".join(verdicts), "<br>".join(dandi)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    ephy = REPO.parent / "shared" / "data" / "ephy_testing_data"
    rows = [["case", "detected", "left out", "conversion", "dandi validate"]]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for folder in _case_folders():
            interface = "AxonRecordingInterface" if folder == "axon" else None
            rows.append(_row(folder, ephy / folder, root / "families" / folder, COMPLETE, interface))
        base = {k: v for k, v in sample_metadata().items() if k != "session_start_time"}
        for name, build in corpus.CASES.items():
            metadata = {**base, "session_start_time": START} if name in NEEDS_START else base
            source = build(root / "cases" / name)
            rows.append(_row(name, source, root / "out" / name, metadata, None))
    if args.markdown:
        print("| " + " | ".join(rows[0]) + " |")
        print("|" + "---|" * len(rows[0]))
        for row in rows[1:]:
            print("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |")
    else:
        for row in rows[1:]:
            print(" · ".join(row))


if __name__ == "__main__":
    main()
