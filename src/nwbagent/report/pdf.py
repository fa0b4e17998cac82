"""The PDF rendering: the same content as the HTML page, for archiving next to the data and for printing.

Fonts: the DejaVu TTFs that ship inside matplotlib are embedded, so the PDF needs no system fonts and Greek,
Cyrillic and accented Latin text is legible. DejaVu has no CJK glyphs and no pip package installed here
carries a CJK font, so matplotlib's *Last Resort* font is the fallback: such characters appear as boxes
naming their Unicode block, while the text layer keeps the real characters (copy, search and ``pdftotext``
still get them). The HTML report shows them properly.

Wrapping: every table uses fixed column widths and fpdf2 word wrapping, which also breaks a single token
longer than its cell (hashes, paths). A table row cannot span pages, so any value longer than
``LONG_VALUE`` characters is cut in its cell with a pointer to an appendix where it is printed in full.
"""

from __future__ import annotations

import io
import struct
import unicodedata
from base64 import b64decode
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import matplotlib
from fpdf import FPDF, FontFace
from fpdf.enums import Align, TableCellFillMode, WrapMode, XPos, YPos

from nwbagent.report.html import (
    IMPORTANCE_LABELS,
    LONG_VALUE,
    SECTIONS,
    finding_counts,
    findings_by_importance,
    format_confidence,
    format_number,
    format_shape,
    format_time,
    format_value,
    human_size,
    valid_plots,
    verdict_label,
)
from nwbagent.report.model import Report
from nwbagent.report.plots import IMPORTANCE_COLORS

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
SANS = "DejaVu"
MONO = "DejaVuMono"
FALLBACK = "LastResort"
TITLES = {s.id: s.title for s in SECTIONS}
APPENDIX_TITLE = "Appendix: long values"

_VERDICT_COLORS = {
    "PASSED": ((230, 244, 234), (13, 74, 29)),
    "PASSED_WITH_ISSUES": ((255, 244, 214), (92, 61, 0)),
    "FAILED": ((253, 231, 233), (122, 0, 16)),
}
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_HEAD_FILL = (232, 237, 242)
_STRIPE = (247, 249, 251)


def _clean(text: str) -> str:
    """Control characters and lone surrogates would corrupt the layout or crash the font subsetter."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return "".join(ch if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cs") else " " for ch in text)


def _hex(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


class _PDF(FPDF):
    def __init__(self, footer_name: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_name = footer_name

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(SANS, "", 7.5)
        self.set_text_color(70, 70, 70)
        self.cell(0, 5, f"{self.footer_name}  ·  page {self.page_no()} of {{nb}}", align=Align.C)


@dataclass
class _Writer:
    """Layout state: the document plus the long values deferred to the appendix."""

    pdf: _PDF
    long_values: list[tuple[str, str]] = field(default_factory=list)

    # ------------------------------------------------------------------------------------ primitives

    @property
    def width(self) -> float:
        return float(self.pdf.epw)

    def h2(self, section_id: str) -> None:
        title = TITLES.get(section_id, section_id)
        pdf = self.pdf
        if pdf.will_page_break(30):
            pdf.add_page()
        pdf.ln(4)
        pdf.start_section(title, level=0)
        pdf.set_font(SANS, "B", 14)
        pdf.set_text_color(20, 30, 45)
        pdf.cell(0, 8, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_draw_color(51, 71, 91)
        pdf.set_line_width(0.5)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + self.width, pdf.get_y())
        pdf.ln(2)
        pdf.set_text_color(26, 26, 26)

    def h3(self, title: str, color: tuple[int, int, int] | None = None) -> None:
        pdf = self.pdf
        if pdf.will_page_break(20):
            pdf.add_page()
        pdf.ln(1.5)
        pdf.start_section(_clean(title), level=1)
        pdf.set_font(SANS, "B", 11)
        if color:
            pdf.set_fill_color(*color)
            pdf.cell(2, 6, "", fill=True)
            pdf.cell(2, 6, "")
        pdf.multi_cell(0, 6, _clean(title), align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def para(self, text: str, style: str = "", size: float = 9, family: str = SANS) -> None:
        self.pdf.set_font(family, style, size)
        self.pdf.multi_cell(0, size * 0.5, _clean(text), align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(1)

    def cut(self, value: Any, label: str) -> str:
        """The value as cell text, moved to the appendix when too long for a table row."""
        text = _clean(format_value(value))
        if len(text) <= LONG_VALUE:
            return text
        self.long_values.append((label, text))
        ref = f"A{len(self.long_values)}"
        return f"{text[:LONG_VALUE]}… [{len(text):,} characters; full value in appendix {ref}]"

    def table(
        self,
        headings: Sequence[str] | None,
        rows: Sequence[Sequence[str]],
        widths: Sequence[float],
        mono: Sequence[int] = (),
        size: float = 8,
        row_heads: bool = False,
    ) -> None:
        """A bordered table; ``mono`` columns are set in DejaVu Sans Mono (paths, hashes, field names)."""
        pdf = self.pdf
        pdf.set_font(SANS, "", size)
        pdf.set_fill_color(*_STRIPE)  # fpdf2 stripes with the current fill colour, not only cell_fill_color
        pdf.set_draw_color(150, 160, 170)
        pdf.set_line_width(0.2)
        scale = self.width / sum(widths)
        mono_face = FontFace(family=MONO, size_pt=size - 0.5)
        head_face = FontFace(family=SANS, emphasis="BOLD", fill_color=_HEAD_FILL)
        with pdf.table(
            col_widths=tuple(w * scale for w in widths),
            width=self.width,
            text_align=Align.L,
            v_align="TOP",
            line_height=size * 0.5,
            headings_style=head_face,
            first_row_as_headings=headings is not None,
            repeat_headings=1,
            wrapmode=WrapMode.WORD,
            cell_fill_color=_STRIPE,
            cell_fill_mode=TableCellFillMode.ROWS,
            padding=(0.8, 1.2),
            borders_layout="ALL",
        ) as table:
            if headings is not None:
                head = table.row()
                for h in headings:
                    head.cell(h)
            for cells in rows:
                row = table.row()
                for i, text in enumerate(cells):
                    if i in mono:
                        row.cell(_clean(text), style=mono_face)
                    elif row_heads and i == 0:
                        row.cell(_clean(text), style=FontFace(family=SANS, emphasis="BOLD"))
                    else:
                        row.cell(_clean(text))
        pdf.ln(2)

    def kv(self, rows: Sequence[tuple[str, str]], mono_values: bool = False) -> None:
        self.table(None, [list(r) for r in rows], (45, 135), mono=(1,) if mono_values else (), row_heads=True)

    # ------------------------------------------------------------------------------------ sections

    def title(self, r: Report) -> None:
        pdf = self.pdf
        pdf.set_font(SANS, "B", 17)
        pdf.multi_cell(0, 8, _clean(r.title), align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(70, 70, 70)
        self.para(f"Report generated {format_time(r.generated_at)} · file {r.contents.file}", size=8.5)
        pdf.set_text_color(26, 26, 26)

    def verdict(self, r: Report) -> None:
        self.h2("verdict")
        pdf = self.pdf
        fill, ink = _VERDICT_COLORS[r.verdict.verdict]
        pdf.set_fill_color(*fill)
        pdf.set_draw_color(*ink)
        pdf.set_text_color(*ink)
        pdf.set_line_width(0.8)
        pdf.set_font(SANS, "B", 22)
        pdf.cell(
            0,
            14,
            " " + verdict_label(r.verdict.verdict),
            border=1,
            fill=True,
            align=Align.L,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.set_text_color(26, 26, 26)
        pdf.set_line_width(0.2)
        pdf.set_draw_color(0, 0, 0)
        pdf.ln(2)
        self.para(f"DANDI-ready: {'yes' if r.verdict.dandi_ready else 'no'}", style="B", size=11)
        for reason in r.verdict.reasons:
            self.para(f"•  {reason}")
        if r.notes:
            self.h3("Limits of this report")
            for note in r.notes:
                self.para(f"•  {note}")
        counts = finding_counts(r)
        self.table(
            ("Importance", "Findings"),
            [(IMPORTANCE_LABELS[k], str(n)) for k, n in counts.items()],
            (120, 60),
            row_heads=True,
        )

    def source(self, r: Report) -> None:
        self.h2("source")
        if r.source is None:
            self.para(
                "The source of this file is unknown (the report was built from the NWB file alone).",
                style="I",
            )
            return
        if r.source.folder:
            self.para(f"Folder: {r.source.folder}")
        if r.source.files:
            rows: list[tuple[str, ...]] = [
                (
                    self.cut(f.path, f"source file {i + 1} path"),
                    human_size(f.size_bytes),
                    f.sha256 or "not hashed (too large to hash in time)",
                )
                for i, f in enumerate(r.source.files)
            ]
            self.table(("File", "Size", "SHA-256"), rows, (70, 20, 90), mono=(0, 2))
        else:
            self.para("No source files were recorded.", style="I")
        if r.source.units:
            self.h3("Detected interfaces and streams")
            rows = [
                (u.interface, format_value(u.stream), u.category, format_confidence(u.confidence))
                for u in r.source.units
            ]
            self.table(("Interface", "Stream", "Category", "Confidence"), rows, (70, 45, 40, 25))

    def contents(self, r: Report) -> None:
        self.h2("contents")
        c = r.contents
        self.kv(
            [
                ("File", self.cut(c.file, "NWB file")),
                ("Size", human_size(c.size_bytes)),
                ("Backend", c.backend),
                ("NWB version", format_value(c.nwb_version)),
                ("Identifier", self.cut(c.identifier, "identifier")),
                ("Session start", format_value(c.session_start_time)),
                ("Session description", self.cut(c.session_description, "session description")),
            ]
        )
        self.h3("Time series")
        if c.series:
            rows: list[tuple[str, ...]] = [
                (
                    self.cut(s.path, "series path"),
                    s.neurodata_type,
                    format_shape(s.shape),
                    format_number(s.rate_hz, "Hz"),
                    format_number(s.duration_s, "s", 4),
                    s.dtype,
                    format_value(s.unit),
                    format_value(s.compression),
                )
                for s in c.series
            ]
            self.table(
                ("Path", "Type", "Shape", "Rate", "Duration", "Data type", "Unit", "Compression"),
                rows,
                (44, 26, 20, 18, 17, 14, 14, 27),
                mono=(0,),
                size=7.5,
            )
        else:
            self.para("The file holds no time series.", style="I")
        self.h3("Electrodes")
        e = c.electrodes
        if e is None:
            self.para("The file has no electrodes table.", style="I")
        else:
            self.para(
                f"{e.count} electrode{'s' if e.count != 1 else ''} in {len(e.groups)} "
                f"group{'s' if len(e.groups) != 1 else ''}; positions "
                f"{'recorded' if e.has_positions else 'not recorded'}."
            )
            if e.groups:
                rows = [
                    (g.name, format_value(g.location), format_value(g.device), str(g.electrodes))
                    for g in e.groups
                ]
                self.table(("Group", "Location", "Device", "Electrodes"), rows, (55, 45, 55, 25))
        self.h3("Units (sorted spikes)")
        if c.units_count is None:
            self.para("The file has no units table.", style="I")
        else:
            cols = f"; columns: {', '.join(c.units_columns)}" if c.units_columns else ""
            self.para(f"{c.units_count} unit{'s' if c.units_count != 1 else ''}{cols}.")

    def metadata(self, r: Report) -> None:
        self.h2("metadata")
        if not r.metadata:
            self.para("No metadata rows were recorded.", style="I")
            return
        self.para(
            "Where each value came from (user, user-text, file, inferred, default) and how sure we are.",
            size=8.5,
        )
        rows = []
        for m in r.metadata:
            value = self.cut(m.value, f"metadata {m.field}")
            for o in m.overridden:
                old = self.cut(o.value, f"metadata {m.field}, replaced value")
                note = (
                    f": {self.cut(o.evidence, f'metadata {m.field}, replaced evidence')}"
                    if o.evidence
                    else ""
                )
                value += f"\nreplaced: {old} ({o.source}{note})"
            rows.append(
                (
                    m.field,
                    value,
                    m.source,
                    format_confidence(m.confidence),
                    self.cut(m.evidence, f"metadata {m.field}, evidence"),
                )
            )
        self.table(
            ("Field", "Value", "Source", "Confidence", "Evidence"), rows, (32, 60, 18, 21, 49), mono=(0,)
        )

    def findings(self, r: Report) -> None:
        self.h2("findings")
        groups = findings_by_importance(r)
        if not groups:
            self.para("No findings: every check passed.", style="I")
            return
        for level, label, findings in groups:
            self.h3(f"{label} ({len(findings)})", color=_hex(IMPORTANCE_COLORS[level]))
            rows = []
            for f in findings:
                check = f.check_name + ("\n(expected for a stub file)" if f.stub_false_positive else "")
                where = f.location or ""
                if f.object:
                    where += f" ({f.object})"
                found = self.cut(f.message, f"finding {f.check_name}") + (f"\nat {where}" if where else "")
                rows.append(
                    (
                        check,
                        found,
                        self.cut(f.explanation, f"finding {f.check_name}, meaning"),
                        self.cut(f.fix, f"finding {f.check_name}, fix"),
                    )
                )
            self.table(
                ("Check", "What was found", "What it means", "How to fix"), rows, (36, 50, 50, 44), mono=(0,)
            )

    def tool_faults(self, r: Report) -> None:
        self.h2("tool-faults")
        if not r.tool_faults:
            self.para("No checks crashed.", style="I")
            return
        self.para("These checks crashed instead of judging the file; their verdict is unknown.")
        rows = [
            (t.check_name, self.cut(t.exception, f"tool fault {t.check_name}"), str(t.count))
            for t in r.tool_faults
        ]
        self.table(("Check", "Exception", "Times"), rows, (50, 110, 20), mono=(0,))

    def trace(self, r: Report) -> None:
        self.h2("trace")
        if not r.trace:
            self.para(
                "No workflow trace was recorded (converted directly, not through the agents).", style="I"
            )
            return
        rows = [
            (
                format_time(t.at),
                f"{t.from_state} → {t.to_state}",
                t.actor,
                self.cut(t.reason, f"trace {t.from_state} → {t.to_state}"),
            )
            for t in r.trace
        ]
        self.table(("Time", "Step", "Actor", "Reason"), rows, (36, 50, 24, 70))

    def llm(self, r: Report) -> None:
        self.h2("llm")
        u = r.llm
        if u is None:
            self.para("No language model was used.", style="I")
            return
        self.kv(
            [
                ("Provider", u.provider),
                ("Model", format_value(u.model)),
                ("Calls", str(u.calls)),
                ("Retries", str(u.retries)),
                ("Input tokens", f"{u.input_tokens:,}"),
                ("Output tokens", f"{u.output_tokens:,}"),
                ("Cost", f"US${u.cost_usd:.4f}"),
            ]
        )

    def versions(self, r: Report) -> None:
        self.h2("versions")
        if not r.versions:
            self.para("No versions were recorded.", style="I")
            return
        self.table(("Software", "Version"), sorted(r.versions.items()), (70, 110), row_heads=True)

    def plots(self, r: Report) -> None:
        self.h2("plots")
        plots = valid_plots(r)
        if not plots:
            self.para("No plots were drawn.", style="I")
            return
        pdf = self.pdf
        for p in plots:
            png = b64decode(p.png_base64)
            if png[:8] != _PNG_MAGIC:
                continue
            px_w, px_h = struct.unpack(">II", png[16:24])  # IHDR: width, height
            w = min(self.width, px_w * 25.4 / 110)  # ~110 dpi on paper: readable, not blown up
            h = px_h * w / px_w
            max_h = pdf.eph * 0.6
            if h > max_h:
                w, h = w * max_h / h, max_h
            if pdf.will_page_break(h + 16):
                pdf.add_page()
            self.h3(p.title)
            pdf.image(
                io.BytesIO(png), x=pdf.l_margin + (self.width - w) / 2, w=w, h=h, alt_text=_clean(p.alt)
            )
            pdf.ln(1)
            self.para(p.alt, style="I", size=8)

    def appendix(self) -> None:
        if not self.long_values:
            return
        pdf = self.pdf
        pdf.add_page()
        pdf.start_section(APPENDIX_TITLE, level=0)
        pdf.set_font(SANS, "B", 14)
        pdf.cell(0, 8, APPENDIX_TITLE, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for i, (label, text) in enumerate(self.long_values, start=1):
            self.para(f"A{i}. {label} ({len(text):,} characters)", style="B", size=9)
            self.para(text, size=8, family=MONO)


def _add_fonts(pdf: FPDF, text: str) -> None:
    """DejaVu for everything it covers; Last Resort (boxes naming the missing script) only when needed.

    Loading Last Resort costs seconds (fpdf2 indexes every code point of its cmap), which would dominate a
    whole conversion, so it is added only when ``text`` holds a character some DejaVu face lacks.
    """
    pdf.add_font(SANS, "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font(SANS, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.add_font(SANS, "I", str(FONT_DIR / "DejaVuSans-Oblique.ttf"))
    pdf.add_font(SANS, "BI", str(FONT_DIR / "DejaVuSans-BoldOblique.ttf"))
    pdf.add_font(MONO, "", str(FONT_DIR / "DejaVuSansMono.ttf"))
    pdf.add_font(MONO, "B", str(FONT_DIR / "DejaVuSansMono-Bold.ttf"))
    used = {ord(c) for c in text if c.isprintable()}
    covered = all(used <= font.cmap.keys() for font in pdf.fonts.values() if hasattr(font, "cmap"))
    last_resort = FONT_DIR / "LastResortHE-Regular.ttf"
    if not covered and last_resort.exists():
        pdf.add_font(FALLBACK, "", str(last_resort))
        pdf.set_fallback_fonts([FALLBACK], exact_match=False)


def render_pdf(report: Report) -> bytes:
    """The whole report as a PDF; deterministic for a given report (creation date = report date)."""
    name = PurePath(report.contents.file).name or "report"
    footer_name = name if len(name) <= 80 else f"{name[:38]}…{name[-38:]}"
    pdf = _PDF(_clean(footer_name))
    _add_fonts(pdf, report.model_dump_json() + footer_name)
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=16)
    pdf.set_title(_clean(report.title))
    pdf.set_subject(f"NWB conversion report for {_clean(name)}")
    pdf.set_author("nwbagent")
    pdf.set_creator("nwbagent")
    pdf.set_lang("en")
    pdf.set_creation_date(report.generated_at)
    pdf.add_page()

    w = _Writer(pdf)
    w.title(report)
    w.verdict(report)
    w.source(report)
    w.contents(report)
    w.metadata(report)
    w.findings(report)
    w.tool_faults(report)
    w.trace(report)
    w.llm(report)
    w.versions(report)
    w.plots(report)
    w.appendix()
    return bytes(pdf.output())
