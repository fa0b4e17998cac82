"""HTML, PDF and plot renderings of conversion reports, on a real SpikeGLX conversion and hostile metadata."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import h5py
import pytest

from nwbagent.report.html import ENV, SECTIONS, render_html
from nwbagent.report.model import (
    ElectrodeGroupInfo,
    ElectrodesInfo,
    FindingRow,
    LlmUsage,
    MetadataRow,
    NwbContents,
    OverriddenValue,
    Plot,
    Report,
    SeriesInfo,
    SourceFile,
    SourceInfo,
    SourceUnit,
    ToolFaultRow,
    TraceRow,
    VerdictSummary,
)
from nwbagent.report.pdf import APPENDIX_TITLE, render_pdf
from nwbagent.report.plots import IMPORTANCES, make_plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
USER_METADATA = {
    "subject_id": "M12",
    "species": "mouse",
    "sex": "M",
    "age": "P90D",
    "experimenter": "Jane Doe",
    "institution": "U",
    "session_start_time": "2021-09-20T14:13:34+00:00",
    "brain_region": "CA1",
}
SCRIPT = "<script>alert(1)</script>"
QUOTES = "\"quotes' & <b>"
LONG = "x" * 5000
CYRILLIC = "Лаборатория"
GREEK = "Ελληνικά"
JAPANESE = "東京大学"
SHA = "ab" * 32


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def converted(ephy_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real SpikeGLX excerpt converted to NWB (no inspection: only the file is needed here)."""
    from nwbagent.convert import convert

    root = tmp_path_factory.mktemp("spikeglx")
    src = root / "src" / "TEST_20210920_0_g0"
    shutil.copytree(ephy_data / "spikeglx" / "TEST_20210920_0_g0", src)
    for f in src.iterdir():
        f.chmod(0o644)
    outputs = convert(src, root / "out", user_metadata=USER_METADATA, inspect=False)
    return Path(outputs[0].nwb)


@pytest.fixture(scope="module")
def with_positions(converted: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The converted file with the probe's real contact positions as rel_x/rel_y.

    NeuroConv 0.10.2 with SpikeInterface 0.105 does not write them (the probe lives in ``contact_vector``,
    which NeuroConv skips), so they are added here from the same recording, in the same channel order.
    """
    from neuroconv.datainterfaces import SpikeGLXRecordingInterface
    from pynwb import NWBHDF5IO

    path = tmp_path_factory.mktemp("positions") / converted.name
    shutil.copy(converted, path)
    with h5py.File(path, "r") as f:
        if "rel_x" in f["general/extracellular_ephys/electrodes"]:
            return path
    folder = converted.parents[2] / "src" / "TEST_20210920_0_g0"
    rec = SpikeGLXRecordingInterface(folder_path=folder, stream_id="imec0.ap").recording_extractor
    locations = rec.get_channel_locations()
    with NWBHDF5IO(path, "a") as io:
        nwb = io.read()
        nwb.electrodes.add_column("rel_x", "x position on the probe (um)", data=locations[:, 0].tolist())
        nwb.electrodes.add_column("rel_y", "y position on the probe (um)", data=locations[:, 1].tolist())
        io.write(nwb)
    return path


def hostile_report(plots: list[Plot] | None = None) -> Report:
    """Every section filled, with the nastiest strings a user, a file or an LLM could give."""
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    return Report(
        generated_at=at,
        title=f"Conversion report: sub-M12 {SCRIPT}",
        verdict=VerdictSummary(
            verdict="PASSED_WITH_ISSUES",
            dandi_ready=False,
            reasons=["The subject's age is missing.", f"Odd reason {QUOTES}"],
            counts={"CRITICAL": 1, "BEST_PRACTICE_SUGGESTION": 1},
        ),
        source=SourceInfo(
            folder="/data/" + "deep/" * 60 + "TEST_20210920_0_g0",
            files=[
                SourceFile(path="TEST_20210920_0_g0_t0.imec0.ap.bin", size_bytes=770_000, sha256=SHA),
                SourceFile(path="p" * 400 + ".meta", size_bytes=15_528, sha256=None),
            ],
            units=[SourceUnit(interface="SpikeGLXRecordingInterface", stream="imec0.ap", category="ecephys")],
        ),
        contents=NwbContents(
            file="/out/sub-M12/sub-M12_ecephys.nwb",
            size_bytes=946_744,
            identifier="abc-123",
            session_start_time=at,
            session_description=f"{CYRILLIC} {GREEK} {JAPANESE} {SCRIPT}",
            nwb_version="2.11.0",
            series=[
                SeriesInfo(
                    path="acquisition/ElectricalSeriesAP",
                    neurodata_type="ElectricalSeries",
                    shape=[1000, 384],
                    dtype="int16",
                    rate_hz=30000.0,
                    duration_s=1000 / 30000,
                    unit="volts",
                    compression="gzip",
                ),
                SeriesInfo(
                    path="acquisition/" + "Nested" * 40,
                    neurodata_type="TimeSeries",
                    shape=[1000, 1],
                    dtype="int16",
                    rate_hz=30000.0,
                ),
            ],
            electrodes=ElectrodesInfo(
                count=384,
                groups=[
                    ElectrodeGroupInfo(name=f"Shank{i}", location="CA1", electrodes=96) for i in range(4)
                ],
                has_positions=True,
            ),
            units_count=None,
        ),
        metadata=[
            MetadataRow(field="institution", value=CYRILLIC + " " + GREEK, source="user", confidence=1.0),
            MetadataRow(field="lab", value=JAPANESE, source="user-text", confidence=0.8, evidence="said so"),
            MetadataRow(field="session_description", value=SCRIPT, source="user"),
            MetadataRow(field="keywords", value=QUOTES, source="inferred", confidence=0.55, evidence=QUOTES),
            MetadataRow(field="notes", value=LONG, source="file", evidence="y" * 3000),
            MetadataRow(
                field="species",
                value="Mus musculus",
                source="user",
                overridden=[
                    OverriddenValue(value="Rattus norvegicus", source="file", evidence="probe .meta")
                ],
            ),
            MetadataRow(field="related", value={"doi": ["10.1/x", 3]}, source="default"),
        ],
        findings=[
            FindingRow(
                importance="CRITICAL",
                check_name="check_subject_age",
                message=f"Subject is missing age {SCRIPT}",
                location="/general/subject",
                explanation="DANDI needs the age to search by developmental stage.",
                fix="Pass --age P90D (ISO 8601 duration).",
            ),
            FindingRow(
                importance="BEST_PRACTICE_SUGGESTION",
                check_name="check_small_dataset_compression",
                message="z" * 2000,
                stub_false_positive=True,
            ),
        ],
        tool_faults=[ToolFaultRow(check_name="check_timestamps", exception="ValueError: " + "w" * 700)],
        trace=[
            TraceRow(at=at, from_state="detecting", to_state="converting", actor="agent", reason=QUOTES),
            TraceRow(at=at, from_state="converting", to_state="inspecting", actor="system", reason="done"),
        ],
        llm=LlmUsage(provider="anthropic", model="claude", calls=3, input_tokens=12345, output_tokens=678),
        versions={"nwbagent": "0.1.0", "pynwb": "4.2.0", "neuroconv": "0.10.2"},
        plots=plots or [],
        notes=["The source folder was not found; file sizes come from the recipe."],
    )


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.starts: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.starts.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Collector:
    parser = _Collector()
    parser.feed(html)
    parser.close()
    return parser


def _poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(
            f"{tool} (poppler-utils) is not installed; the PDF tests need it: apt-get install poppler-utils",
            pytrace=False,
        )
    return path


def _pdftotext(pdf: Path, *args: str) -> str:
    out = subprocess.run(
        [_poppler("pdftotext"), *args, str(pdf), "-"], check=True, capture_output=True, text=True
    )
    return out.stdout


# ------------------------------------------------------------------------------------------ plots


def _png(plot: Plot) -> bytes:
    data = base64.b64decode(plot.png_base64, validate=True)
    assert data[:8] == PNG_MAGIC, plot.name
    assert 2_000 < len(data) <= 150_000, (plot.name, len(data))
    assert plot.alt and plot.title
    return data


def test_plots_from_real_conversion(with_positions: Path) -> None:
    report = hostile_report()
    plots = {p.name: p for p in make_plots(with_positions, report)}
    assert set(plots) == {"traces", "probe_layout", "findings"}
    for plot in plots.values():
        _png(plot)
    # The excerpt holds 1000 frames at 30 kHz: the plot uses what exists and says so.
    assert plots["traces"].alt.startswith("0.033 s of 8 of 384 channels from acquisition/ElectricalSeriesAP")
    assert "µV" in plots["traces"].alt  # scaled with the stored conversion, volts shown as microvolts
    assert "384 of 384 electrodes" in plots["probe_layout"].alt
    assert "4 groups" in plots["probe_layout"].alt
    for level in IMPORTANCES:
        assert level in plots["findings"].alt
    assert "CRITICAL 1" in plots["findings"].alt and "ERROR 0" in plots["findings"].alt


def test_plots_without_positions_or_series(converted: Path, tmp_path: Path) -> None:
    report = hostile_report()
    names = [p.name for p in make_plots(converted, report)]
    # nwbagent's convert keeps the probe geometry (rel_x, rel_y), so the converted file gets a probe plot.
    with h5py.File(converted, "r") as f:
        has_positions = "rel_x" in f["general/extracellular_ephys/electrodes"]
    assert has_positions and names == ["traces", "probe_layout", "findings"]  # convert keeps positions

    empty = tmp_path / "empty.nwb"
    with h5py.File(empty, "w") as f:
        f.create_group("acquisition")
    assert [p.name for p in make_plots(empty, report)] == ["findings"]
    assert [p.name for p in make_plots(tmp_path / "missing.nwb", report)] == ["findings"]


def test_plots_leave_pyplot_alone(converted: Path) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    make_plots(converted, hostile_report())
    assert plt.get_fignums() == before


# ------------------------------------------------------------------------------------------ HTML


def test_environment_autoescapes() -> None:
    assert ENV.autoescape is True
    assert ENV.from_string("{{ x }}").render(x=SCRIPT) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    template = (Path(__file__).parents[1] / "src/nwbagent/report/templates/report.html.j2").read_text()
    assert "|safe" not in template.replace(" ", "") and "autoescape false" not in template


def test_html_sections_and_escaping(converted: Path) -> None:
    report = hostile_report()
    report.plots = make_plots(converted, report)
    html = render_html(report)
    parsed = _parse(html)

    ids = {attrs.get("id") for _, attrs in parsed.starts}
    for section in SECTIONS:
        assert section.id in ids, section
        assert section.title in html
    tags = [tag for tag, _ in parsed.starts]
    assert "script" not in tags
    assert tags.count("b") == 0  # the <b> inside the hostile string stayed text
    assert ("html", {"lang": "en"}) in parsed.starts
    assert "<h1>" in html and tags.index("h1") < tags.index("h2")

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert SCRIPT not in html
    assert "&#34;quotes&#39; &amp; &lt;b&gt;" in html
    text = "".join(parsed.text)
    for s in (SCRIPT, QUOTES, LONG, CYRILLIC, GREEK, JAPANESE, SHA):
        assert s in text, s[:40]
    assert "PASSED WITH ISSUES" in text and "DANDI-ready: no" in text
    assert "Rattus norvegicus" in text and "<del>" in html  # overridden value kept as a trail
    assert "924.6 KiB" in text and "752.0 KiB" in text
    assert 'th scope="col"' in html

    images = [attrs for tag, attrs in parsed.starts if tag == "img"]
    assert len(images) == len(report.plots) == 3  # traces, probe layout, findings
    for attrs in images:
        assert (attrs["src"] or "").startswith("data:image/png;base64,")
        assert attrs["alt"]
    # self-contained: nothing fetched from elsewhere
    assert not re.search(r"""(src|href)=["'](https?:)?//""", html)


def test_html_drops_a_plot_that_is_not_base64() -> None:
    bad = Plot(name="traces", title="t", png_base64='x" onerror="alert(1)', alt="a")
    html = render_html(hostile_report(plots=[bad]))
    assert "onerror" not in html and "No plots were drawn." in html


# ------------------------------------------------------------------------------------------ PDF


def test_pdf_renders_everything(converted: Path, tmp_path: Path) -> None:
    report = hostile_report()
    report.plots = make_plots(converted, report)
    data = render_pdf(report)
    assert data[:5] == b"%PDF-"
    assert render_pdf(report) == data  # deterministic for one report
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(data)

    info = subprocess.run([_poppler("pdfinfo"), str(pdf)], capture_output=True, text=True).stdout
    assert "Conversion report: sub-M12" in info  # the PDF title metadata

    text = _pdftotext(pdf)
    flat = re.sub(r"\s+", "", text)
    for section in SECTIONS:
        assert section.title in text, section
    assert APPENDIX_TITLE in text  # the 5,000-character value is printed in full there
    assert LONG in flat
    for s in (CYRILLIC, GREEK, "PASSED WITH ISSUES", "DANDI-ready: no", "Rattus norvegicus", SHA):
        assert s in flat.replace("-", "") or s in text, s
    # CJK: DejaVu has no glyphs; the fallback shows block boxes but the text layer keeps the characters.
    assert JAPANESE in flat
    assert b"LastResort" in data  # embedded because the report needs it
    assert "sub-M12_ecephys.nwb" in text and "page 1 of" in text

    layout = _pdftotext(pdf, "-layout")
    assert max(len(line) for line in layout.splitlines()) < 200, "text runs off the page"

    pages = tmp_path / "pages"
    pages.mkdir()
    subprocess.run([_poppler("pdftoppm"), "-png", "-r", "50", str(pdf), str(pages / "p")], check=True)
    pngs = sorted(pages.glob("p-*.png"))
    assert len(pngs) >= 2
    for png in pngs:
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 1000


def test_pdf_minimal_report(tmp_path: Path) -> None:
    """Every optional part absent: still a valid PDF with every section saying so."""
    report = Report(
        generated_at=datetime(2024, 1, 1, tzinfo=UTC),
        title="Minimal",
        verdict=VerdictSummary(verdict="FAILED", dandi_ready=False, reasons=["No data."]),
        contents=NwbContents(file="x.nwb", size_bytes=10),
    )
    pdf = tmp_path / "m.pdf"
    pdf.write_bytes(render_pdf(report))
    text = _pdftotext(pdf)
    assert "FAILED" in text and "No language model was used." in text
    assert APPENDIX_TITLE not in text
    # DejaVu covers every character here, so the costly fallback font (seconds to load) is left out.
    assert b"LastResort" not in pdf.read_bytes()
    html = render_html(report)
    assert "No findings: every check passed." in html
