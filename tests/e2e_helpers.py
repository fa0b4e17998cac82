"""Shared pieces of the end-to-end browser tests (Playwright driving Debian's Chromium against the real
service in a subprocess). Loaded by the e2e test modules through ``pytest_plugins``, so its fixtures and its
``pytest_terminal_summary`` hook (the timings table) apply to them.

Chromium comes from Debian (``/usr/bin/chromium``, installed by ``scripts/ensure-tools.sh`` in ``make
test``); when it is missing the tests FAIL with the command that installs it, they never skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Download, Page, Playwright, sync_playwright

from server_helpers import REPO, Server

CHROMIUM = Path(os.environ.get("NWBAGENT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]
OUTPUT = REPO / "test-output"
SCREENSHOTS = OUTPUT / "screenshots"
TIMINGS_FILE = OUTPUT / "e2e-timings.json"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

SPIKEGLX_RUN = "spikeglx/TEST_20210920_0_g0"  # under ephy_testing_data
DESCRIPTION = "I'm Dr. Jane Smith from MIT. Mouse M12, an 8 week old male mouse, recorded in CA1."
FINISHED_STATES = ("passed", "passed_with_issues")

#: Markup that would run script if any of it reached the DOM as HTML.
XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS_SCRIPT = "<script>window.__xss=2</script>"
XSS_FILE_NAME = "<img src=x onerror=window.__xss=3>.txt"


# ---- timings -----------------------------------------------------------------------------------------


@dataclass
class Timings:
    """Seconds per test and per main step of each test; written to test-output/e2e-timings.json."""

    tests: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(self, test: str, step: str, seconds: float) -> None:
        entry = self.tests.setdefault(test, {"total_s": None, "steps": {}})
        entry["steps"][step] = round(seconds, 2)

    def finish(self, test: str, seconds: float, outcome: str) -> None:
        entry = self.tests.setdefault(test, {"total_s": None, "steps": {}})
        entry["total_s"] = round(seconds, 2)
        entry["outcome"] = outcome

    def write(self) -> None:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        TIMINGS_FILE.write_text(json.dumps(self.tests, indent=2) + "\n")

    def lines(self) -> list[str]:
        out = []
        for test, entry in self.tests.items():
            total = entry.get("total_s")
            out.append(test if total is None else f"{test}: {total} s ({entry.get('outcome', '?')})")
            out.extend(f"    {step}: {seconds} s" for step, seconds in entry["steps"].items())
        return out


TIMINGS = Timings()


class StepTimer:
    """``with timer.step("convert"):`` records how long one main step of the current test took."""

    def __init__(self, test: str) -> None:
        self.test = test

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            TIMINGS.record(self.test, name, time.perf_counter() - started)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TIMINGS.tests:
        return
    TIMINGS.write()
    terminalreporter.section("end-to-end timings")
    for line in TIMINGS.lines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"(written to {TIMINGS_FILE.relative_to(REPO)})")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_OUTCOME] = report.outcome


_OUTCOME = pytest.StashKey[str]()


# ---- server, browser, pages --------------------------------------------------------------------------


@contextlib.contextmanager
def service(
    tmp_path_factory: pytest.TempPathFactory, roots: list[Path], name: str = "e2e"
) -> Iterator[Server]:
    """The real service in a subprocess, with ``roots`` as its server-side data roots."""
    data = tmp_path_factory.mktemp(f"{name}-service")
    env = {
        "NWBAGENT_DATA_ROOTS": json.dumps([str(root) for root in roots]),
        "NWBAGENT_TIMEZONE": "UTC",
        "NWBAGENT_MAX_CONCURRENT_CONVERSIONS": "2",
    }
    started = time.perf_counter()
    srv = Server(data, env).start()
    TIMINGS.record(f"({name}) server", "start", time.perf_counter() - started)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def e2e_server(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Server]:
    """The real service, with the shared recordings as a server-side data root."""
    with service(tmp_path_factory, [shared_data], "shared") as srv:
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: the end-to-end tests need it. `make test` installs it "
            "(scripts/ensure-tools.sh); by hand: sudo apt-get install -y chromium chromium-driver "
            "(or set NWBAGENT_CHROMIUM to another Chromium binary).",
            pytrace=False,
        )
    pw: Playwright = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    except Exception as exc:
        pw.stop()
        pytest.fail(f"Chromium at {CHROMIUM} did not start: {exc}", pytrace=False)
    yield b
    b.close()
    pw.stop()


@dataclass
class UI:
    """One test's browser tab on the service, plus what it saw go wrong and its step timer."""

    page: Page
    context: BrowserContext
    base_url: str
    timer: StepTimer
    js_errors: list[str]
    console_errors: list[str]

    def open(self, path: str = "/") -> Page:
        self.page.goto(self.base_url + path)
        return self.page

    def shot(self, name: str, *, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def session_id(self) -> str:
        """The session the page works on: the ``#s=<id>`` it keeps in its URL."""
        match = re.search(r"[#&]s=([^&]+)", self.page.url)
        assert match, f"no #s=<id> in the page URL {self.page.url}"
        return match.group(1)

    def api(self, path: str) -> Any:
        """GET a JSON API path with the page's own cookies (the session token)."""
        r = self.context.request.get(self.base_url + path)
        assert r.ok, f"GET {path}: {r.status} {r.text()[:500]}"
        return r.json()

    def assert_no_js_errors(self) -> None:
        """No uncaught error, and nothing logged as an error in the console (a failed request included)."""
        assert not self.js_errors, f"uncaught errors in the page: {self.js_errors}"
        assert not self.console_errors, f"errors in the browser console: {self.console_errors}"


@pytest.fixture
def ui(browser: Browser, e2e_server: Server, request: pytest.FixtureRequest) -> Iterator[UI]:
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    js_errors: list[str] = []
    console_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    name = request.node.name
    started = time.perf_counter()
    handle = UI(page, context, e2e_server.base_url, StepTimer(name), js_errors, console_errors)
    try:
        yield handle
    finally:
        outcome = request.node.stash.get(_OUTCOME, "error")
        TIMINGS.finish(name, time.perf_counter() - started, outcome)
        if outcome != "passed":
            with contextlib.suppress(Exception):
                handle.shot(f"FAILED-{name}")
            if console_errors:
                print(f"browser console errors: {console_errors}")
            print(f"server log: {e2e_server.log}")
        context.close()


# ---- checks ------------------------------------------------------------------------------------------


def spikeglx_files(ephy_data: Path) -> list[Path]:
    """The two files of the real SpikeGLX run (a .bin and its .meta)."""
    files = sorted((ephy_data / SPIKEGLX_RUN).iterdir())
    assert [p.suffix for p in files] == [".bin", ".meta"], files
    return files


def save_download(download: Download, dest_dir: Path) -> Path:
    failure = download.failure()
    assert failure is None, f"download failed: {failure}"
    path = dest_dir / download.suggested_filename
    download.save_as(path)
    return path


def read_nwb_subject(path: Path) -> dict[str, str]:
    """Subject fields of an NWB file, read back with pynwb (so the file is a valid NWB file too)."""
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        subject = io.read().subject
        assert subject is not None, f"{path.name} has no subject"
        return {name: str(getattr(subject, name)) for name in ("subject_id", "species", "sex", "age")}


def assert_markup_inert(page: Page, literals: list[str]) -> None:
    """Nothing the user typed became markup: no flag set, no injected elements, ``literals`` shown as
    text (input values are not text: check those with ``to_have_value``)."""
    assert page.evaluate("window.__xss") is None, "injected script ran"
    assert page.locator("img[src='x']").count() == 0, "an <img> from user text reached the DOM"
    injected = page.evaluate(
        "Array.from(document.scripts).filter(s => s.textContent.includes('__xss')).length"
    )
    assert injected == 0, "a <script> from user text reached the DOM"
    assert page.locator("[onerror]").count() == 0, "an element with an onerror attribute reached the DOM"
    body = page.locator("body").inner_text()
    for literal in literals:
        assert literal in body, f"{literal!r} is not shown as text"


def assert_no_horizontal_scroll(page: Page) -> None:
    """The page is no wider than its viewport (nothing to scroll sideways, nothing cut off)."""
    wide = page.evaluate("document.documentElement.scrollWidth")
    width = page.evaluate("window.innerWidth")
    assert wide <= width, f"the page is {wide} px wide in a {width} px viewport"


#: Visible controls without an accessible name: no label (or aria-label/-labelledby/title) and no text.
_UNNAMED_CONTROLS = """() => Array.from(
    document.querySelectorAll('button, input, select, textarea, a[href], summary'))
  .filter((el) => el.offsetParent !== null && el.type !== 'hidden')
  .filter((el) => {
    if (el.getAttribute('aria-label') || el.getAttribute('title')) return false;
    const by = el.getAttribute('aria-labelledby');
    const text = (id) => (document.getElementById(id)?.textContent || '').trim();
    if (by && by.split(/\\s+/).some(text)) return false;
    if (el.labels && Array.from(el.labels).some((l) => l.textContent.trim())) return false;
    if (['BUTTON', 'A', 'SUMMARY'].includes(el.tagName) && el.textContent.trim()) return false;
    return true;
  })
  .map((el) => el.outerHTML.slice(0, 160))"""


def assert_controls_named(page: Page) -> None:
    """Every visible control has an accessible name (its label, text or aria-label)."""
    unnamed = page.evaluate(_UNNAMED_CONTROLS)
    assert not unnamed, f"controls without an accessible name: {unnamed}"


# The workflow state is the ``data-state`` attribute of ``#state`` (its text is a plain-language label).
COLLECTING = "collecting_metadata"
READY = "ready"
RUNNING = re.compile(r"^(converting|inspecting)$")
FINISHED = re.compile(r"^passed(_with_issues)?$")
ACCEPTED = "accepted"
