"""The guided UI (``/guided``) in a real browser against the real service: a full conversion of a real
SpikeGLX recording named by its server-side folder, with the metadata form filled, one value corrected and a
reload in the middle; user markup staying inert. Screenshots go to test-output/screenshots/, timings to
test-output/e2e-timings.json."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytest.register_assert_rewrite("e2e_helpers")  # before the import: its asserts get pytest's messages

from e2e_helpers import (  # noqa: E402
    ACCEPTED,
    COLLECTING,
    DESKTOP,
    FINISHED,
    PHONE,
    READY,
    RUNNING,
    SPIKEGLX_RUN,
    UI,
    XSS_FILE_NAME,
    XSS_IMG,
    XSS_SCRIPT,
    assert_markup_inert,
    read_nwb_subject,
    save_download,
)

pytest_plugins = ("e2e_helpers",)


def _set_field(page: Page, name: str, value: str) -> None:
    """Type (or choose) a value in the metadata form field ``#field-<name>``."""
    field = page.locator(f"#field-{name}")
    if field.evaluate("el => el.tagName") == "SELECT":
        field.select_option(value)
    else:
        field.fill(value)


def _step(page: Page, number: int, title: str) -> None:
    expect(page.get_by_role("heading", name=re.compile(rf"^{number}\. {title}"))).to_be_visible()


def test_guided_full_conversion_with_correction_and_reload(ui: UI, ephy_data: Path, tmp_path: Path) -> None:
    page = ui.page
    state = page.locator("#state")
    with ui.timer.step("open"):
        ui.open("/guided")
        for number, title in enumerate(
            ["Source", "Format and streams", "Metadata", "Preview", "Convert", "Results"], start=1
        ):
            _step(page, number, title)
        ui.shot("guided-1-start")
        page.set_viewport_size(PHONE)
        ui.shot("guided-phone-1-start")
        page.set_viewport_size(DESKTOP)

    with ui.timer.step("server folder + detect"):
        page.get_by_label("Folder on the server").fill(str(ephy_data / SPIKEGLX_RUN))
        page.get_by_role("button", name="Use this folder", exact=True).click()
        expect(state).to_have_attribute("data-state", COLLECTING, timeout=60_000)
        expect(page.locator("body")).to_contain_text("SpikeGLX Recording")
    session_id = ui.session_id()

    with ui.timer.step("fill the metadata form"):
        for name, value in {
            "subject_id": "M12",
            "species": "mouse",
            "sex": "M",
            "age": "8 weeks",
            "experimenter": "Jane Smith",
            "institution": "MIT",
        }.items():
            _set_field(page, name, value)
        page.get_by_role("button", name="Save metadata", exact=True).click()
        expect(state).to_have_attribute("data-state", READY, timeout=60_000)
        expect(page.locator("#field-species")).to_have_value("Mus musculus")
        expect(page.locator("#field-age")).to_have_value("P56D")
        ui.shot("guided-2-metadata")

    with ui.timer.step("correct age and subject_id"):
        _set_field(page, "age", "10 weeks")
        _set_field(page, "subject_id", "M13")
        page.get_by_role("button", name="Save metadata", exact=True).click()
        expect(page.locator("#field-age")).to_have_value("P70D", timeout=30_000)
        expect(state).to_have_attribute("data-state", READY, timeout=60_000)
        values = ui.api(f"/api/sessions/{session_id}/metadata")["values"]
        assert values["age"]["value"] == "P70D" and values["subject_id"]["value"] == "M13", values

    with ui.timer.step("reload"):
        page.reload()
        assert ui.session_id() == session_id
        expect(state).to_have_attribute("data-state", READY, timeout=30_000)
        expect(page.locator("#field-subject_id")).to_have_value("M13", timeout=30_000)
        expect(page.locator("#field-age")).to_have_value("P70D")

    with ui.timer.step("convert"):
        page.get_by_role("button", name="Convert", exact=True).click()
        expect(state).to_have_attribute("data-state", RUNNING, timeout=30_000)
        progress = page.get_by_role("progressbar", name="Conversion progress")
        expect(progress).to_be_visible(timeout=30_000)
        ui.shot("guided-3-converting")
        expect(state).to_have_attribute("data-state", FINISHED, timeout=90_000)
        if progress.is_visible():
            assert float(progress.evaluate("p => p.value")) == 100.0

    with ui.timer.step("accept"):
        page.get_by_role("button", name="Accept", exact=True).click()
        expect(state).to_have_attribute("data-state", ACCEPTED, timeout=30_000)
        nwb_link = page.get_by_role("link", name="Download NWB file")
        expect(nwb_link).to_be_visible()
        ui.shot("guided-4-results")
        page.set_viewport_size(PHONE)
        ui.shot("guided-phone-4-results")
        page.set_viewport_size(DESKTOP)

    with ui.timer.step("download + read NWB"):
        with page.expect_download() as info:
            nwb_link.click()
        nwb = save_download(info.value, tmp_path)
        assert nwb.name.startswith("sub-M13_"), nwb.name
        subject = read_nwb_subject(nwb)
        assert subject["subject_id"] == "M13" and subject["age"] == "P70D", subject
        assert subject["species"] == "Mus musculus" and subject["sex"] == "M", subject
    ui.assert_no_js_errors()


def test_guided_markup_stays_inert(ui: UI) -> None:
    page = ui.page
    state = page.locator("#state")
    ui.open("/guided")
    with ui.timer.step("sample + detect"):
        page.get_by_role("button", name="Use the sample recording", exact=True).click()
        expect(state).to_have_attribute("data-state", COLLECTING, timeout=60_000)

    with ui.timer.step("markup in form fields"):
        _set_field(page, "subject_description", XSS_IMG)
        _set_field(page, "session_description", XSS_SCRIPT)
        page.get_by_role("button", name="Save metadata", exact=True).click()
        expect(page.locator("#replies")).to_contain_text(XSS_IMG, timeout=30_000)
        page.reload()
        expect(page.locator("#field-subject_description")).to_have_value(XSS_IMG, timeout=30_000)
        expect(page.locator("#field-session_description")).to_have_value(XSS_SCRIPT)
        assert_markup_inert(page, [XSS_IMG])

    with ui.timer.step("markup in an uploaded file name"):
        page.get_by_role("button", name="Start a new session", exact=True).click()
        page.locator("#upload-files").set_input_files(
            [{"name": XSS_FILE_NAME, "mimeType": "text/plain", "buffer": b"not a recording\n"}]
        )
        page.get_by_role("button", name="Upload and detect", exact=True).click()
        # Accepted (nothing convertible is found then) or refused: the markup stays inert either way ...
        expect(state).not_to_have_attribute("data-state", "none", timeout=30_000)
        expect(page.locator("#replies")).not_to_be_empty(timeout=30_000)
        assert_markup_inert(page, [])
        # ... and the name the user chose is shown back as text.
        expect(page.locator("body")).to_contain_text(XSS_FILE_NAME, timeout=10_000)
    ui.assert_no_js_errors()
