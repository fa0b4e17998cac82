"""Both web UIs (chat ``/`` and guided ``/guided``) on folders that need more than one click: a stream whose
reader needs a value the files lack, an Open Ephys node with three experiments (only one converted), an .abf
that two readers could read ("none of these"), and a SpikeGLX run with an orphaned LF header (left out,
with its fix, while AP converts). Real browser (Debian Chromium via Playwright) against the real service;
the cases are built into a temporary folder that the service gets as an extra data root. Screenshots go to
test-output/screenshots/streams-*.png, timings to test-output/e2e-timings.json."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

pytest.register_assert_rewrite("e2e_helpers")  # before the import: its asserts get pytest's messages

import corpus  # noqa: E402
from e2e_helpers import (  # noqa: E402
    COLLECTING,
    DESCRIPTION,
    DESKTOP,
    FINISHED,
    PHONE,
    READY,
    SPIKEGLX_RUN,
    UI,
    assert_controls_named,
    assert_no_horizontal_scroll,
    save_download,
    service,
)
from server_helpers import Server  # noqa: E402

pytest_plugins = ("e2e_helpers",)

KINDS = ["chat", "guided"]
WHITEMATTER_NAME = "HSW_2024_12_12__10_28_23__70min_17sec__hsamp_64ch_stub.bin"  # the rate cut from the name
SUBJECT = {"subject_id": "M12", "species": "mouse", "sex": "M", "age": "8 weeks"}
VERDICTS = {"PASSED": "Passed", "PASSED_WITH_ISSUES": "Passed with issues", "FAILED": "Failed"}


@dataclass(frozen=True)
class Cases:
    root: Path
    whitematter: Path  # a folder: one eCube file whose name lost its sampling rate
    openephys_node: Path  # "Record Node 101" with experiment1..3
    abf: Path  # a folder: one .abf, intracellular or extracellular
    spikeglx_orphan_lf: Path  # the real AP pair plus an LF .meta without its .bin
    only_orphan: Path  # that LF .meta alone: nothing to convert


@pytest.fixture(scope="session")
def stream_cases(tmp_path_factory: pytest.TempPathFactory, ephy_data: Path) -> Cases:
    root = tmp_path_factory.mktemp("stream-cases")
    whitematter = root / "whitematter"
    whitematter.mkdir()
    (source,) = sorted((ephy_data / "whitematter").glob("*.bin"))
    shutil.copyfile(source, whitematter / WHITEMATTER_NAME)

    session = corpus.build_openephys_multi_experiment(root / "openephys")
    node = session / "Record Node 101"
    assert (node / "experiment3").is_dir(), sorted(node.iterdir())

    abf = root / "abf"
    abf.mkdir()
    shutil.copyfile(ephy_data / "axon" / "File_axon_1.abf", abf / "File_axon_1.abf")

    glx = root / "spikeglx" / "TEST_20210920_0_g0"
    glx.mkdir(parents=True)
    stem = "TEST_20210920_0_g0_t0.imec0.ap"
    for suffix in (".meta", ".bin"):
        shutil.copyfile(ephy_data / SPIKEGLX_RUN / f"{stem}{suffix}", glx / f"{stem}{suffix}")
    meta = (glx / f"{stem}.meta").read_text().replace(".imec0.ap.bin", ".imec0.lf.bin")
    (glx / "TEST_20210920_0_g0_t0.imec0.lf.meta").write_text(meta)
    alone = root / "orphan" / "TEST_20210920_0_g0"
    alone.mkdir(parents=True)
    (alone / "TEST_20210920_0_g0_t0.imec0.lf.meta").write_text(meta)
    return Cases(root, whitematter, node, abf, glx, alone)


@pytest.fixture(scope="session")
def e2e_server(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path, stream_cases: Cases
) -> Iterator[Server]:
    """This module's service: the shared recordings and the built cases are its data roots."""
    with service(tmp_path_factory, [shared_data, stream_cases.root], "streams") as srv:
        yield srv


# ---- one flow, two pages -----------------------------------------------------------------------------


class Flow:
    """The same steps in either UI: where each page puts a control is the only difference."""

    def __init__(self, ui: UI, kind: str) -> None:
        self.ui = ui
        self.kind = kind
        self.page: Page = ui.page
        self.state = self.page.locator("#state")

    def open(self) -> None:
        self.ui.open("/" if self.kind == "chat" else "/guided")

    def give_folder(self, path: Path) -> None:
        self.page.get_by_label("Folder on the server").fill(str(path))
        self.page.get_by_role("button", name="Use this folder", exact=True).click()

    def streams(self) -> Locator:
        """The detected streams' rows."""
        return self.page.locator("#detection-units" if self.kind == "chat" else "#format-units")

    def values(self) -> Locator:
        """Where the value questions are asked (guided: the metadata step, before the preview)."""
        return self.page.locator("#detection-values" if self.kind == "chat" else "#step-metadata")

    def give_subject(self) -> None:
        if self.kind == "chat":
            self.page.get_by_label("Message", exact=True).fill(DESCRIPTION)
            self.page.get_by_role("button", name="Send").click()
            return
        for name, value in SUBJECT.items():
            self.page.locator(f"#field-{name}").fill(value)
        self.page.get_by_role("button", name="Save metadata", exact=True).click()

    def convert(self) -> None:
        self.page.get_by_role("button", name="Convert", exact=True).click()
        expect(self.state).to_have_attribute("data-state", FINISHED, timeout=90_000)

    def shots(self, name: str) -> None:
        """Desktop and phone screenshots; at 390 px nothing may scroll sideways."""
        self.ui.shot(f"streams-{self.kind}-{name}")
        self.page.set_viewport_size(PHONE)
        assert_no_horizontal_scroll(self.page)
        self.ui.shot(f"streams-{self.kind}-phone-{name}")
        self.page.set_viewport_size(DESKTOP)

    def session(self) -> dict:
        return dict(self.ui.api(f"/api/sessions/{self.ui.session_id()}"))


@pytest.fixture(params=KINDS)
def flow(ui: UI, request: pytest.FixtureRequest) -> Flow:
    return Flow(ui, request.param)


# ---- the cases ---------------------------------------------------------------------------------------


def test_value_question_sampling_frequency(flow: Flow, stream_cases: Cases) -> None:
    page, ui = flow.page, flow.ui
    with ui.timer.step("detect"):
        flow.open()
        flow.give_folder(stream_cases.whitematter)
        expect(flow.state).to_have_attribute("data-state", COLLECTING, timeout=60_000)
        row = flow.streams().locator(".su-unit")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("WhiteMatter Recording")
        expect(row.locator(".su-needs")).to_have_text("needs: sampling frequency (Hz)")
        assert "Interface" not in row.inner_text(), "a reader class name outside its (closed) details"

    field = flow.values().get_by_role("textbox", name=re.compile(r"sampling frequency", re.I))
    with ui.timer.step("a refused value"):
        expect(field).to_be_visible()
        expect(field).to_have_attribute("placeholder", "e.g. 25000")
        expect(field).to_have_attribute("aria-required", "true")
        expect(flow.values().locator(".su-value .badge.required")).to_have_text("required")
        field.fill("fast")
        field.press("Enter")
        error = flow.values().locator(".su-value-error")
        expect(error).to_contain_text("must be a number", timeout=30_000)
        expect(error).to_contain_text("25000")
        expect(field).to_have_attribute("aria-invalid", "true")
        assert_controls_named(page)
        flow.shots("value-1-refused")

    with ui.timer.step("25 kHz"):
        field.fill("25 kHz")
        flow.values().get_by_role("button", name="Save sampling frequency (Hz)").click()
        expect(field).to_have_count(0, timeout=30_000)
        expect(flow.values().locator(".su-value-note")).to_contain_text("25000", timeout=30_000)
        expect(flow.state).to_have_attribute("data-state", re.compile(f"^({COLLECTING}|{READY})$"))
        expect(row.locator(".su-needs")).to_have_count(0)
        session = flow.session()
        assert session["state"] in (COLLECTING, READY), session["state"]
        (unit,) = session["units"]
        assert unit["needs"] == [] and unit["selected"], unit
        assert not [q for q in session["questions"] if q["kind"] == "value"], session["questions"]
        flow.shots("value-2-saved")
    ui.assert_no_js_errors()


def test_parts_only_experiment2(flow: Flow, stream_cases: Cases, tmp_path: Path) -> None:
    page, ui = flow.page, flow.ui
    with ui.timer.step("detect"):
        flow.open()
        flow.give_folder(stream_cases.openephys_node)
        expect(flow.state).to_have_attribute("data-state", COLLECTING, timeout=60_000)
        acquisitions = page.get_by_role("group", name=re.compile(r"^Acquisitions"))
        expect(acquisitions.get_by_role("checkbox")).to_have_count(3)
        for n in (1, 2, 3):
            experiment = acquisitions.get_by_role("checkbox", name=f"experiment{n}", exact=True)
            expect(experiment).not_to_be_checked()
        expect(page.get_by_role("checkbox", name="All parts")).to_be_checked()
        rows = flow.streams().locator(".su-unit")
        expect(rows).to_have_count(9)  # AP, LFP and NI-DAQ of each experiment
        expect(rows.filter(has_text="experiment3").first).to_contain_text("will be converted")
        flow.shots("parts-1-detected")

    with ui.timer.step("pick experiment2"):
        box = acquisitions.get_by_role("checkbox", name="experiment2", exact=True)
        expect(box).to_be_enabled()  # off while the page still waits for the agents' answer
        box.focus()
        page.keyboard.press("Space")  # keyboard, like a user without a mouse
        expect(box).to_be_checked()
        expect(page.get_by_role("checkbox", name="All parts")).not_to_be_checked()
        page.get_by_role("button", name="Apply parts").click()
        now = page.locator(".su-parts-now")
        expect(now).to_have_text("Now converting only: experiment2.", timeout=30_000)
        expect(rows.filter(has_text="will be converted")).to_have_count(3)
        session = flow.session()
        assert session["parts"]["selected"] == ["experiment2"], session["parts"]
        chosen = {u["acquisition"] for u in session["units"] if u["selected"]}
        assert chosen == {"experiment2"}, session["units"]
        assert_controls_named(page)

    with ui.timer.step("metadata + convert"):
        flow.give_subject()
        expect(flow.state).to_have_attribute("data-state", READY, timeout=60_000)
        # Record, on every change of the page, whether the parts could be changed while a file is written.
        page.evaluate(_WATCH_PARTS)
        flow.convert()
        seen = page.evaluate("window.__partsWhileRunning")
        assert seen and all(seen[-3:]), f"the parts picker stayed usable during the conversion: {seen}"

    with ui.timer.step("one file"):
        results = ui.api(f"/api/sessions/{ui.session_id()}/results")
        assert [f["acquisition"] for f in results["all_files"]] == ["experiment2"], results["all_files"]
        link = page.get_by_role("link", name="Download NWB file")
        expect(link).to_have_count(1, timeout=30_000)
        expect(link).to_have_attribute("download", re.compile(r"experiment2.*\.nwb$"))
        expect(page.locator("body")).to_contain_text("One file, from experiment2.")
        expect(page.locator(".su-file")).to_have_count(0)  # one file: no per-file groups
        with page.expect_download() as info:
            link.click()
        nwb = save_download(info.value, tmp_path)
        assert "experiment2" in nwb.name and nwb.stat().st_size > 0, nwb
        flow.shots("parts-2-results")

    with ui.timer.step("accept: parts frozen"):
        page.get_by_role("button", name="Accept", exact=True).click()
        expect(flow.state).to_have_attribute("data-state", "accepted", timeout=30_000)
        expect(page.get_by_role("button", name="Apply parts")).to_be_disabled()
        expect(page.get_by_role("checkbox", name="experiment1", exact=True)).to_be_disabled()
    ui.assert_no_js_errors()


#: Collects, while the state is converting/inspecting, whether the "Apply parts" button is disabled.
_WATCH_PARTS = """() => {
  window.__partsWhileRunning = [];
  const check = () => {
    const state = document.getElementById('state').dataset.state;
    const apply = document.querySelector('.su-parts button[type=submit]');
    if (apply && /^(converting|inspecting)$/.test(state)) window.__partsWhileRunning.push(apply.disabled);
  };
  new MutationObserver(check).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


def test_format_choice_none_of_these(flow: Flow, stream_cases: Cases) -> None:
    page, ui = flow.page, flow.ui
    with ui.timer.step("detect"):
        flow.open()
        flow.give_folder(stream_cases.abf)
        expect(flow.state).to_have_attribute("data-state", "needs_format_choice", timeout=60_000)
        choices = page.locator(".su-choices")
        expect(choices.get_by_role("button", name="Use 1: ABF Icephys")).to_be_visible()
        expect(choices.get_by_role("button", name="Use 2: Axon Recording")).to_be_visible()
        expect(choices).to_contain_text("patch-clamp (intracellular)")
        expect(choices).to_contain_text("read as an extracellular recording")
        assert "Interface" not in choices.inner_text(), "a reader class name outside its details"
        none = choices.get_by_role("button", name="None of these")
        expect(none).to_have_accessible_description(re.compile("give other files"))
        assert_controls_named(page)
        flow.shots("choice-1-readers")

    with ui.timer.step("none of these"):
        expect(none).to_be_enabled()
        none.focus()
        page.keyboard.press("Enter")
        expect(flow.state).to_have_attribute("data-state", "files_received", timeout=30_000)
        next_step = page.locator(".su-next")
        expect(next_step).to_be_visible()
        expect(next_step).to_contain_text("None of the readers offered fits these files.")
        expect(next_step.get_by_role("button", name="Start over")).to_be_enabled()
        expect(page.get_by_label("Folder on the server")).to_be_editable()
        expect(page.get_by_role("button", name="Use this folder", exact=True)).to_be_enabled()
        expect(page.locator(".su-choices")).to_have_count(0)
        assert_controls_named(page)
        flow.shots("choice-2-none")

    with ui.timer.step("other files in the same session"):
        session_id = ui.session_id()
        flow.give_folder(stream_cases.whitematter)
        expect(flow.state).to_have_attribute("data-state", COLLECTING, timeout=60_000)
        assert ui.session_id() == session_id
        expect(page.locator(".su-next")).to_have_count(0)
        expect(flow.streams()).to_contain_text("WhiteMatter Recording")

    with ui.timer.step("start over"):
        page.locator("#new-session").click()  # "New session" (chat) / "Start a new session" (guided)
        flow.give_folder(stream_cases.abf)
        expect(flow.state).to_have_attribute("data-state", "needs_format_choice", timeout=60_000)
        page.locator(".su-choices").get_by_role("button", name="None of these").click()
        start_over = page.locator(".su-next").get_by_role("button", name="Start over")
        start_over.click()
        expect(flow.state).to_have_attribute("data-state", "" if flow.kind == "chat" else "none")
        assert "#s=" not in page.url, page.url
        expect(page.get_by_role("button", name="Use the sample recording")).to_be_enabled()
    ui.assert_no_js_errors()


def test_left_out_orphaned_lf_header(flow: Flow, stream_cases: Cases, tmp_path: Path) -> None:
    page, ui = flow.page, flow.ui
    with ui.timer.step("detect"):
        flow.open()
        flow.give_folder(stream_cases.spikeglx_orphan_lf)
        expect(flow.state).to_have_attribute("data-state", COLLECTING, timeout=60_000)
        item = page.locator(".su-left")
        expect(item).to_have_count(1)
        expect(item.locator(".su-left-label")).to_contain_text("imec0.lf")
        expect(item.locator(".su-path")).to_have_text("TEST_20210920_0_g0_t0.imec0.lf.meta")  # relative
        lf_bin = "TEST_20210920_0_g0_t0.imec0.lf.bin"
        expect(item.locator(".su-problem")).to_contain_text(f"{lf_bin} is missing")
        expect(item.locator(".su-fix")).to_contain_text(f"Copy {lf_bin} into this folder")
        details = item.locator("details")
        expect(details.locator("summary")).to_have_text("Technical details")
        expect(details.get_by_text("missing_data_file")).to_be_hidden()  # folded until asked for
        details.locator("summary").click()
        expect(details.get_by_text("missing_data_file")).to_be_visible()
        ap = flow.streams().locator(".su-unit").filter(has_text="imec0.ap").first
        expect(ap).to_contain_text("SpikeGLX Recording")
        expect(ap).to_contain_text("will be converted")
        flow.shots("left-out-1")

    with ui.timer.step("metadata + convert"):
        flow.give_subject()
        expect(flow.state).to_have_attribute("data-state", READY, timeout=60_000)
        flow.convert()

    with ui.timer.step("AP converted"):
        link = page.get_by_role("link", name="Download NWB file")
        expect(link).to_be_visible(timeout=30_000)
        with page.expect_download() as info:
            link.click()
        nwb = save_download(info.value, tmp_path)
        from pynwb import NWBHDF5IO

        with NWBHDF5IO(str(nwb), "r") as io:
            series = io.read().acquisition
            assert any("AP" in name for name in series), sorted(series)
            assert not any("LF" in name for name in series), sorted(series)
        expect(page.locator(".su-left")).to_contain_text("imec0.lf")  # still said after the conversion
    ui.assert_no_js_errors()


def test_nothing_convertible_shows_the_next_step(flow: Flow, stream_cases: Cases) -> None:
    page, ui = flow.page, flow.ui
    with ui.timer.step("detect"):
        flow.open()
        flow.give_folder(stream_cases.only_orphan)
        expect(flow.state).to_have_attribute("data-state", "files_received", timeout=60_000)
        next_step = page.locator(".su-next")
        expect(next_step).to_be_visible(timeout=30_000)
        expect(next_step).to_contain_text("Nothing here can be converted as it is")
        expect(page.locator(".su-left .su-fix")).to_contain_text("Copy TEST_20210920_0_g0_t0.imec0.lf.bin")
        expect(page.get_by_text("detecting the format")).to_have_count(0)  # no endless "working" note
        assert_controls_named(page)
        flow.shots("nothing-1")

    with ui.timer.step("start over"):
        next_step.get_by_role("button", name="Start over").click()
        expect(flow.state).to_have_attribute("data-state", "" if flow.kind == "chat" else "none")
        expect(page.locator(".su-next")).to_have_count(0)
        flow.give_folder(stream_cases.spikeglx_orphan_lf)
        expect(flow.state).to_have_attribute("data-state", COLLECTING, timeout=60_000)
    ui.assert_no_js_errors()


def test_downloads_one_group_per_file(flow: Flow, stream_cases: Cases, tmp_path: Path) -> None:
    page, ui = flow.page, flow.ui
    with ui.timer.step("detect + metadata"):
        flow.open()
        flow.give_folder(stream_cases.openephys_node)
        expect(flow.state).to_have_attribute("data-state", COLLECTING, timeout=60_000)
        flow.give_subject()
        expect(flow.state).to_have_attribute("data-state", READY, timeout=60_000)

    with ui.timer.step("convert all three"):
        flow.convert()
        groups = page.locator(".su-file")
        expect(groups).to_have_count(3, timeout=30_000)
        results = ui.api(f"/api/sessions/{ui.session_id()}/results")
        files = results["all_files"]
        assert [f["acquisition"] for f in files] == ["experiment1", "experiment2", "experiment3"], files

    with ui.timer.step("each group"):
        for i, f in enumerate(files):
            group = groups.nth(i)
            heading = group.get_by_role("heading")
            expect(heading).to_contain_text(f"File {i + 1} of 3: {f['acquisition']}")
            expect(heading).to_contain_text(VERDICTS[f["verdict"]])
            link = group.get_by_role("link", name=f"Download NWB file ({f['acquisition']})")
            expect(link).to_have_attribute("href", f["files"]["nwb"]["url"])
            expect(link).to_have_attribute("download", f["files"]["nwb"]["name"])
            for kind in ("recipe", "metadata", "report-html"):
                expect(group.locator(f"a[href='{f['files'][kind]['url']}']")).to_have_count(1)
        with page.expect_download() as info:
            groups.nth(2).get_by_role("link", name="Download NWB file (experiment3)").click()
        nwb = save_download(info.value, tmp_path)
        assert "experiment3" in nwb.name, nwb.name
        assert_controls_named(page)
        groups.first.scroll_into_view_if_needed()
        flow.shots("downloads-three-files")
    ui.assert_no_js_errors()
