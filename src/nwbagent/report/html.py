"""The HTML rendering: one self-contained page a PI can open offline, print, or attach to an email.

Everything that came from a user, a file or a language model is untrusted text, so the Jinja2 environment
autoescapes every template (including ones built from strings) and the template never uses ``|safe``.
The plots are embedded as ``data:`` URIs built here from base64 that is checked to be base64, so even that
needs no escaping bypass. The formatting helpers are shared with the PDF rendering so both say the same.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from nwbagent.report.model import FindingRow, Plot, Report
from nwbagent.report.plots import IMPORTANCE_COLORS, IMPORTANCES

TEMPLATES = Path(__file__).with_name("templates")
LONG_VALUE = 300  # characters shown inline before a value is put in its own scrollable box / appendix


class Section(NamedTuple):
    id: str
    title: str


SECTIONS: tuple[Section, ...] = (
    Section("verdict", "Verdict"),
    Section("source", "Source files"),
    Section("contents", "NWB contents"),
    Section("metadata", "Metadata"),
    Section("findings", "Findings"),
    Section("tool-faults", "Tool faults"),
    Section("trace", "Workflow trace"),
    Section("llm", "LLM usage"),
    Section("versions", "Software versions"),
    Section("plots", "Plots"),
)

IMPORTANCE_LABELS = {
    "ERROR": "Errors",
    "PYNWB_VALIDATION": "Schema validation failures",
    "CRITICAL": "Critical",
    "BEST_PRACTICE_VIOLATION": "Best-practice violations",
    "BEST_PRACTICE_SUGGESTION": "Best-practice suggestions",
}

_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def human_size(size: int | None) -> str:
    """Binary units, because that is what file managers and ``du -h`` show next to the file."""
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover  (loop always returns)


def format_value(value: Any) -> str:
    """One readable string for any metadata value; structures as compact JSON so nothing is hidden."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def format_time(value: datetime | None) -> str:
    return "—" if value is None else value.isoformat(sep=" ", timespec="seconds")


def format_confidence(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def format_number(value: float | None, unit: str = "", digits: int = 6) -> str:
    if value is None:
        return "—"
    text = f"{value:.{digits}g}"
    return f"{text} {unit}".strip()


def format_shape(shape: list[int]) -> str:
    return " × ".join(str(n) for n in shape) if shape else "scalar"


def verdict_label(verdict: str) -> str:
    return verdict.replace("_", " ")


def findings_by_importance(report: Report) -> list[tuple[str, str, list[FindingRow]]]:
    """(importance, label, findings) in severity order, only levels that have findings."""
    groups: list[tuple[str, str, list[FindingRow]]] = []
    for level in IMPORTANCES:
        rows = [f for f in report.findings if f.importance == level]
        if rows:
            groups.append((level, IMPORTANCE_LABELS[level], rows))
    return groups


def finding_counts(report: Report) -> dict[str, int]:
    """Counts from the findings themselves, falling back to the verdict's counts when findings are absent."""
    counts = {level: 0 for level in IMPORTANCES}
    for f in report.findings:
        counts[f.importance] += 1
    if not report.findings:
        for level, n in report.verdict.counts.items():
            if level in counts:
                counts[level] = n
    return counts


def valid_plots(report: Report) -> list[Plot]:
    """Plots whose payload is really base64, so a hand-edited report cannot smuggle markup into ``src``."""
    return [p for p in report.plots if _BASE64.fullmatch(p.png_base64)]


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        size=human_size,
        value=format_value,
        time=format_time,
        confidence=format_confidence,
        number=format_number,
        shape=format_shape,
        verdict_label=verdict_label,
    )
    return env


ENV = _environment()


def render_html(report: Report) -> str:
    """The whole report as one standalone HTML document."""
    return ENV.get_template("report.html.j2").render(
        r=report,
        sections=SECTIONS,
        titles={s.id: s.title for s in SECTIONS},
        finding_groups=findings_by_importance(report),
        counts=finding_counts(report),
        importance_labels=IMPORTANCE_LABELS,
        importance_colors=IMPORTANCE_COLORS,
        plots=valid_plots(report),
        long_value=LONG_VALUE,
    )
