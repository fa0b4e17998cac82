"""The plain-text rendering: the whole report for a terminal, an e-mail or a lab notebook, at 100 columns.

Same sections, same order as the HTML page, so a reader who switches between them finds things in the same
place; images become their alt text, which says what the picture shows.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from typing import Any

from nwbagent.report.model import FindingRow, Report

WIDTH = 100
_VERDICT_LABEL = {"PASSED": "PASSED", "PASSED_WITH_ISSUES": "PASSED with issues", "FAILED": "FAILED"}
_IMPORTANCE_ORDER = (
    "ERROR",
    "PYNWB_VALIDATION",
    "CRITICAL",
    "BEST_PRACTICE_VIOLATION",
    "BEST_PRACTICE_SUGGESTION",
)
SECTIONS = (
    "VERDICT",
    "SOURCE",
    "NWB CONTENTS",
    "METADATA",
    "FINDINGS",
    "TOOL FAULTS",
    "TRACE",
    "LLM USAGE",
    "PLOTS",
    "NOTES",
    "VERSIONS",
)


def render_text(report: Report) -> str:
    """Every section, always present (an empty one says so), so the text diffs cleanly between runs."""
    out: list[str] = [report.title, "=" * min(len(report.title), WIDTH)]
    out.append(
        f"Generated {report.generated_at:%Y-%m-%d %H:%M:%S %Z} (report schema {report.schema_version})"
    )
    out.extend(_verdict(report))
    out.extend(_source(report))
    out.extend(_contents(report))
    out.extend(_metadata(report))
    out.extend(_findings(report))
    out.extend(_faults(report))
    out.extend(_trace(report))
    out.extend(_llm(report))
    out.extend(_plots(report))
    out.extend(_notes(report))
    out.extend(_versions(report))
    return "\n".join(out).rstrip() + "\n"


def _heading(name: str) -> list[str]:
    return ["", name, "-" * len(name)]


def _wrap(text: str, indent: str = "  ", first: str | None = None) -> list[str]:
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=first if first is not None else indent,
        subsequent_indent=indent,
        break_long_words=True,
        break_on_hyphens=False,
    ) or [first or indent]


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """A fixed-width table that fits ``WIDTH``: the widest column gives up space first and wraps."""
    if not rows:
        return []
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    budget = WIDTH - len(indent) - 2 * (len(headers) - 1)
    floors = [max(len(h), 6) for h in headers]
    while sum(widths) > budget:
        i = max(range(len(widths)), key=lambda k: widths[k] - floors[k])
        if widths[i] <= floors[i]:
            break
        widths[i] -= 1
    lines = [indent + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append(indent + "  ".join("-" * w for w in widths))
    for row in rows:
        cells = [
            textwrap.wrap(c, w, break_on_hyphens=False) or [""] for c, w in zip(row, widths, strict=True)
        ]
        for k in range(max(len(c) for c in cells)):
            parts = [(c[k] if k < len(c) else "").ljust(w) for c, w in zip(cells, widths, strict=True)]
            lines.append(indent + "  ".join(parts).rstrip())
    return lines


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def _verdict(report: Report) -> list[str]:
    v = report.verdict
    lines = _heading("VERDICT")
    lines.append(f"  Inspection:  {_VERDICT_LABEL[v.verdict]}")
    lines.append(f"  DANDI-ready: {'yes' if v.dandi_ready else 'no'}")
    counts = ", ".join(f"{n} {name}" for name, n in v.counts.items() if n)
    if counts:
        lines.append(f"  Counts:      {counts}")
    lines.append("  Why:")
    for reason in v.reasons:
        lines.extend(_wrap(reason, "      ", "    - "))
    return lines


def _source(report: Report) -> list[str]:
    lines = _heading("SOURCE")
    src = report.source
    if src is None:
        lines.append("  Not known: the file has no recipe beside it and no source folder was given.")
        return lines
    lines.append(f"  Folder: {src.folder or 'unknown'}")
    if src.units:
        lines.append("  Readers:")
        lines.extend(
            _table(
                ["interface", "stream", "category", "confidence"],
                [
                    [
                        u.interface,
                        u.stream or "-",
                        u.category,
                        f"{u.confidence:.2f}" if u.confidence is not None else "-",
                    ]
                    for u in src.units
                ],
                indent="    ",
            )
        )
    if src.files:
        lines.append(f"  Files ({len(src.files)}):")
        lines.extend(
            _table(
                ["path", "size", "sha256"],
                [[f.path, _size(f.size_bytes), f.sha256 or "not hashed (too large)"] for f in src.files],
                indent="    ",
            )
        )
    else:
        lines.append("  Files: none found")
    return lines


def _contents(report: Report) -> list[str]:
    c = report.contents
    lines = _heading("NWB CONTENTS")
    lines.append(f"  File:        {c.file}")
    lines.append(f"  Size:        {_size(c.size_bytes)} ({c.backend}, NWB {c.nwb_version or 'unknown'})")
    lines.append(f"  Identifier:  {c.identifier or '-'}")
    lines.append(f"  Start time:  {_value(c.session_start_time)}")
    if c.session_description:
        lines.extend(_wrap(c.session_description, "               ", "  Description: "))
    lines.append("")
    if c.series:
        lines.extend(
            _table(
                ["series", "type", "shape", "dtype", "Hz", "seconds", "unit", "compression"],
                [
                    [
                        s.path,
                        s.neurodata_type,
                        " x ".join(str(n) for n in s.shape) or "scalar",
                        s.dtype,
                        f"{s.rate_hz:g}" if s.rate_hz is not None else "-",
                        f"{s.duration_s:.3f}" if s.duration_s is not None else "-",
                        s.unit or "-",
                        s.compression or "none",
                    ]
                    for s in c.series
                ],
            )
        )
    else:
        lines.append("  No time series.")
    lines.append("")
    if c.electrodes is None:
        lines.append("  Electrodes: none")
    else:
        e = c.electrodes
        positions = "with positions" if e.has_positions else "without positions"
        lines.append(f"  Electrodes: {e.count} ({positions})")
        lines.extend(
            _table(
                ["group", "electrodes", "device", "location"],
                [[g.name, str(g.electrodes), g.device or "-", g.location or "-"] for g in e.groups],
                indent="    ",
            )
        )
    if c.units_count is None:
        lines.append("  Units (sorted neurons): none")
    else:
        columns = ", ".join(c.units_columns) or "-"
        lines.extend(_wrap(f"{c.units_count} rows; columns: {columns}", "    ", "  Units (sorted neurons): "))
    return lines


def _metadata(report: Report) -> list[str]:
    lines = _heading("METADATA")
    if not report.metadata:
        lines.append("  None recorded.")
        return lines
    rows = []
    for m in report.metadata:
        conf = f"{m.confidence:.2f}" if m.confidence is not None else "-"
        rows.append([m.field, m.source, conf, _value(m.value)])
    lines.extend(_table(["field", "source", "confidence", "value"], rows))
    with_detail = [m for m in report.metadata if m.evidence or m.overridden]
    if with_detail:
        lines.append("")
        lines.append("  Where each value came from:")
    for m in with_detail:
        if m.evidence:
            lines.extend(_wrap(m.evidence, "        ", f"    {m.field}: "))
        else:
            lines.append(f"    {m.field}:")
        for old in m.overridden:
            text = f"overrode {_value(old.value)!s} ({old.source}" + (
                f"; {old.evidence})" if old.evidence else ")"
            )
            lines.extend(_wrap(text, "          ", "      - "))
    return lines


def _finding(f: FindingRow) -> list[str]:
    where = " ".join(filter(None, [f.object, f"at {f.location}" if f.location else None]))
    head = f"{f.check_name}" + (f" [{where}]" if where else "")
    lines = _wrap(head, "      ", "    * ")
    pad = " " * 15
    lines.extend(_wrap(f.message, pad, "      Message: "))
    if f.explanation:
        lines.extend(_wrap(f.explanation, pad, "      Means:   "))
    if f.fix:
        lines.extend(_wrap(f.fix, pad, "      Fix:     "))
    return lines


def _findings(report: Report) -> list[str]:
    lines = _heading("FINDINGS")
    counted = [f for f in report.findings if not f.stub_false_positive]
    stub_only = [f for f in report.findings if f.stub_false_positive]
    if not report.findings:
        lines.append("  None: the NWB Inspector found nothing to report.")
        return lines
    for importance in _IMPORTANCE_ORDER:
        group = [f for f in counted if f.importance == importance]
        if not group:
            continue
        lines.append(f"  {importance} ({len(group)})")
        for f in group:
            lines.extend(_finding(f))
    if stub_only:
        lines.append(
            f"  Ignored in this stub preview ({len(stub_only)}): known false positives on short stubs"
        )
        for f in stub_only:
            lines.extend(_finding(f))
    return lines


def _faults(report: Report) -> list[str]:
    lines = _heading("TOOL FAULTS")
    if not report.tool_faults:
        lines.append("  None: every inspector check ran.")
        return lines
    lines.extend(_wrap("Checks that crashed inside the inspector; not a verdict on the data.", "  "))
    for fault in report.tool_faults:
        times = f" (x{fault.count})" if fault.count > 1 else ""
        lines.extend(_wrap(f"{fault.check_name}{times}: {fault.exception}", "      ", "    - "))
    return lines


def _trace(report: Report) -> list[str]:
    lines = _heading("TRACE")
    if not report.trace:
        lines.append("  None: this report was not made inside an agent session.")
        return lines
    lines.extend(
        _table(
            ["time", "step", "actor", "reason"],
            [
                [f"{t.at:%H:%M:%S}", f"{t.from_state} -> {t.to_state}", t.actor, t.reason]
                for t in report.trace
            ],
        )
    )
    return lines


def _llm(report: Report) -> list[str]:
    lines = _heading("LLM USAGE")
    u = report.llm
    if u is None:
        lines.append("  None: no language model was used.")
        return lines
    model = f" ({u.model})" if u.model else ""
    lines.append(f"  Provider: {u.provider}{model}")
    lines.append(f"  Calls:    {u.calls} ({u.retries} retries)")
    lines.append(f"  Tokens:   {u.input_tokens} in, {u.output_tokens} out")
    lines.append(f"  Cost:     ${u.cost_usd:.4f}")
    return lines


def _plots(report: Report) -> list[str]:
    lines = _heading("PLOTS")
    if not report.plots:
        lines.append("  None.")
    for plot in report.plots:
        lines.extend(_wrap(f"{plot.title}: {plot.alt}", "      ", "    - "))
    return lines


def _notes(report: Report) -> list[str]:
    lines = _heading("NOTES")
    if not report.notes:
        lines.append("  None.")
    for note in report.notes:
        lines.extend(_wrap(note, "      ", "    - "))
    return lines


def _versions(report: Report) -> list[str]:
    lines = _heading("VERSIONS")
    lines.extend(_wrap(", ".join(f"{k} {v}" for k, v in report.versions.items()), "  "))
    return lines
