"""Write the four renderings of a report beside the NWB file, each appearing only once complete.

A report that is half written (a crash during PDF layout, a full disk) must not sit next to a good NWB file
looking finished, so each rendering goes to a hidden temporary name and is renamed into place.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from nwbagent import outputs
from nwbagent.report.model import Report

FORMATS: tuple[str, ...] = tuple(outputs.REPORT_KINDS)


#: ``x.nwb`` → ``x``: the stem every sidecar's name starts from (owned by :mod:`nwbagent.outputs`).
report_stem = outputs.stem
report_path = outputs.report_path


def render(report: Report, fmt: str) -> bytes:
    """One rendering as bytes; HTML and PDF renderers are imported only when asked for (matplotlib, fpdf)."""
    if fmt == "json":
        return report.model_dump_json(indent=2).encode()
    if fmt == "text":
        from nwbagent.report.text import render_text

        return render_text(report).encode()
    if fmt == "html":
        from nwbagent.report.html import render_html

        return render_html(report).encode()
    if fmt == "pdf":
        from nwbagent.report.pdf import render_pdf

        return render_pdf(report)
    raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")


def write_report(report: Report, path: Path, fmt: str) -> Path:
    """Render one format to exactly ``path`` (atomically)."""
    return outputs.write_atomic(path, render(report, fmt))


def write_reports(
    report: Report,
    stem: Path,
    formats: Sequence[str] = FORMATS,
    *,
    timings: dict[str, float] | None = None,
    on_error: Callable[[str, Exception], None] | None = None,
) -> dict[str, Path]:
    """Write ``<stem>.report.<ext>`` for each format; returns the paths written, by format.

    ``timings`` (if given) receives the seconds each rendering took. With ``on_error`` a failing rendering
    is reported there and the others are still written; without it the failure propagates.
    """
    written: dict[str, Path] = {}
    Path(stem).parent.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        started = time.monotonic()
        try:
            written[fmt] = write_report(report, report_path(Path(stem), fmt), fmt)
        except Exception as exc:
            if on_error is None:
                raise
            on_error(fmt, exc)
            continue
        finally:
            if timings is not None:
                timings[fmt] = round(time.monotonic() - started, 3)
    return written
