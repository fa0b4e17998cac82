"""The chat UI (``/``) in a real browser against the real service: a full conversion of a real SpikeGLX
recording uploaded through the file input, with a metadata correction and a reload in the middle; user
markup staying inert; a chat session continued in the guided UI. Screenshots go to
test-output/screenshots/, timings to test-output/e2e-timings.json."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytest.register_assert_rewrite("e2e_helpers")  # before the import: its asserts get pytest's messages

from e2e_helpers import (  # noqa: E402
    ACCEPTED,
    COLLECTING,
    DESCRIPTION,
    DESKTOP,
    FINISHED,
    PHONE,
    READY,
    RUNNING,
    UI,
    XSS_FILE_NAME,
    XSS_IMG,
    XSS_SCRIPT,
    assert_markup_inert,
    read_nwb_subject,
    save_download,
    spikeglx_files,
)

pytest_plugins = ("e2e_helpers",)


def test_chat_full_conversion_with_correction_and_reload(ui: UI, ephy_data: Path, tmp_path: Path) -> None:
    page = ui.page
    with ui.timer.step("open"):
        ui.open("/")
        expect(page.get_by_role("button", name="Use the sample recording")).to_be_visible()
        ui.shot("chat-1-start")
        page.set_viewport_size(PHONE)
        ui.shot("chat-phone-1-start")
        page.set_viewport_size(DESKTOP)

    with ui.timer.step("upload + detect"):
        page.locator("#file-input").set_input_files([str(p) for p in spikeglx_files(ephy_data)])
        expect(page.locator("#state")).to_have_attribute("data-state", COLLECTING, timeout=60_000)
        expect(page.locator("#chat")).to_contain_text("SpikeGLX Recording")
    session_id = ui.session_id()

    with ui.timer.step("describe in chat"):
        page.get_by_label("Message", exact=True).fill(DESCRIPTION)
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#state")).to_have_attribute("data-state", READY, timeout=60_000)
        expect(page.locator("#chat")).to_contain_text(DESCRIPTION)
        expect(page.locator("#chat")).to_contain_text("Smith, Jane")
        subject = page.locator("#metadata").get_by_label("subject_id", exact=True)
        expect(subject).to_have_value("M12")
        expect(page.locator("#metadata").get_by_label("species", exact=True)).to_have_value("Mus musculus")
        ui.shot("chat-2-metadata")

    with ui.timer.step("correct subject_id inline"):
        subject.fill("M13")
        page.get_by_role("button", name="Save subject_id").click()
        expect(page.locator("#chat")).to_contain_text("subject_id = M13", timeout=30_000)
        expect(page.locator("#state")).to_have_attribute("data-state", READY, timeout=60_000)
        expect(subject).to_have_value("M13")
        meta = ui.api(f"/api/sessions/{session_id}/metadata")["values"]["subject_id"]
        assert meta["value"] == "M13" and meta["source"] == "user", meta

    with ui.timer.step("reload"):
        page.reload()
        assert ui.session_id() == session_id
        expect(page.locator("#state")).to_have_attribute("data-state", READY, timeout=30_000)
        expect(page.locator("#chat")).to_contain_text(DESCRIPTION)
        expect(page.locator("#chat")).to_contain_text("subject_id = M13")
        expect(page.locator("#metadata").get_by_label("subject_id", exact=True)).to_have_value("M13")

    with ui.timer.step("convert"):
        page.get_by_role("button", name="Convert").click()
        expect(page.locator("#state")).to_have_attribute("data-state", RUNNING, timeout=30_000)
        progress = page.get_by_role("progressbar", name="Conversion progress")
        expect(progress).to_be_visible(timeout=30_000)
        ui.shot("chat-3-converting")
        nwb_link = page.get_by_role("link", name="Download NWB file")
        expect(nwb_link).to_be_visible(timeout=90_000)
        expect(page.locator("#state")).to_have_attribute("data-state", FINISHED, timeout=30_000)
        if progress.is_visible():
            assert float(progress.evaluate("p => p.value")) == 100.0

    with ui.timer.step("accept"):
        page.get_by_role("button", name="Accept").click()
        expect(page.locator("#state")).to_have_attribute("data-state", ACCEPTED, timeout=30_000)
        expect(nwb_link).to_be_visible()
        ui.shot("chat-4-results")
        page.set_viewport_size(PHONE)
        ui.shot("chat-phone-4-results")
        page.set_viewport_size(DESKTOP)

    with ui.timer.step("download + read NWB"):
        with page.expect_download() as info:
            nwb_link.click()
        nwb = save_download(info.value, tmp_path)
        assert nwb.name.startswith("sub-M13_"), nwb.name
        subject_fields = read_nwb_subject(nwb)
        assert subject_fields["subject_id"] == "M13"
        assert subject_fields["species"] == "Mus musculus"
        assert subject_fields["sex"] == "M" and subject_fields["age"] == "P56D"
        with page.expect_download() as info:
            page.get_by_role("link", name="Download PDF report").click()
        assert save_download(info.value, tmp_path).read_bytes()[:5] == b"%PDF-"
    ui.assert_no_js_errors()


def test_chat_markup_stays_inert(ui: UI) -> None:
    page = ui.page
    ui.open("/")
    with ui.timer.step("sample + detect"):
        page.get_by_role("button", name="Use the sample recording").click()
        expect(page.locator("#state")).to_have_attribute("data-state", COLLECTING, timeout=60_000)

    with ui.timer.step("markup in a chat message"):
        text = f"Subject {XSS_IMG} and {XSS_SCRIPT}"
        page.get_by_label("Message", exact=True).fill(text)
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#chat")).to_contain_text(text, timeout=30_000)
        assert_markup_inert(page, [XSS_IMG, XSS_SCRIPT])

    with ui.timer.step("markup in a metadata field"):
        field = page.locator("#metadata").get_by_label("subject_description", exact=True)
        field.fill(XSS_IMG)
        page.get_by_role("button", name="Save subject_description").click()
        expect(page.locator("#chat")).to_contain_text(f"subject_description = {XSS_IMG}", timeout=30_000)
        expect(field).to_have_value(XSS_IMG)
        page.reload()
        expect(page.locator("#metadata").get_by_label("subject_description", exact=True)).to_have_value(
            XSS_IMG, timeout=30_000
        )
        assert_markup_inert(page, [XSS_IMG, XSS_SCRIPT])

    with ui.timer.step("markup in an uploaded file name"):
        page.get_by_role("button", name="New session").click()
        expect(page.locator("#chat")).not_to_contain_text(XSS_SCRIPT, timeout=15_000)
        page.locator("#file-input").set_input_files(
            [{"name": XSS_FILE_NAME, "mimeType": "text/plain", "buffer": b"not a recording\n"}]
        )
        # Accepted (nothing convertible is found then) or refused: the markup stays inert either way ...
        expect(page.locator("#state")).not_to_have_attribute("data-state", "", timeout=30_000)
        expect(page.locator("#chat")).to_contain_text("Agent", timeout=30_000)
        assert_markup_inert(page, [])
        # ... and the name the user chose is shown back as text.
        expect(page.locator("body")).to_contain_text(XSS_FILE_NAME, timeout=10_000)
    ui.assert_no_js_errors()


def test_chat_session_continues_in_guided_ui(ui: UI) -> None:
    page = ui.page
    ui.open("/")
    with ui.timer.step("chat: sample + description"):
        page.get_by_role("button", name="Use the sample recording").click()
        expect(page.locator("#state")).to_have_attribute("data-state", COLLECTING, timeout=60_000)
        page.get_by_label("Message", exact=True).fill(DESCRIPTION)
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#state")).to_have_attribute("data-state", READY, timeout=60_000)
    session_id = ui.session_id()

    with ui.timer.step("guided: open the same session"):
        ui.open(f"/guided#s={session_id}")
        expect(page.get_by_role("heading", name=re.compile(r"^1\. Source"))).to_be_visible()
        expect(page.locator("#state")).to_have_attribute("data-state", READY, timeout=30_000)
        expect(page.locator("#field-subject_id")).to_have_value("M12", timeout=30_000)
        expect(page.locator("#field-species")).to_have_value("Mus musculus")
        assert ui.session_id() == session_id
    ui.assert_no_js_errors()
