"""Both web UIs read their words from ``GET /api/vocabulary`` and validate through the server's normalizers
(``POST /api/metadata/check``), in a real browser (Debian Chromium via Playwright) against the real service:
the guided form accepts what the server accepts (man, intersex, n/a, "aged 8 weeks") and says how it will be
saved, refuses what the server refuses with its example, names a value the chat gave "you (chat)", and both
pages show states and importance levels in the vocabulary's words and order. Screenshots go to
test-output/screenshots/vocabulary-*.png, timings to test-output/e2e-timings.json."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

pytest.register_assert_rewrite("e2e_helpers")  # before the import: its asserts get pytest's messages

from e2e_helpers import COLLECTING, DESCRIPTION, READY, UI  # noqa: E402

pytest_plugins = ("e2e_helpers",)


def _saved_value(ui: UI, field: str, expected: Any, timeout: float = 30.0) -> dict[str, Any]:
    """The stored value of ``field`` once it is ``expected`` (the save is a request the page makes)."""
    deadline = time.monotonic() + timeout
    while True:
        values = ui.api(f"/api/sessions/{ui.session_id()}/metadata")["values"]
        if field in values and values[field]["value"] == expected:
            return dict(values[field])
        assert time.monotonic() < deadline, f"{field} never became {expected!r}: {values.get(field)}"
        time.sleep(0.2)


def _vocabulary(ui: UI) -> dict[str, Any]:
    return dict(ui.api("/api/vocabulary"))


def _sample(ui: UI, page: Page) -> None:
    page.get_by_role("button", name="Use the sample recording").click()
    expect(page.locator("#state")).to_have_attribute("data-state", COLLECTING, timeout=60_000)


@pytest.mark.parametrize(
    ("field", "typed", "saved"),
    [("sex", "man", "M"), ("sex", "intersex", "O"), ("sex", "n/a", "U"), ("age", "aged 8 weeks", "P56D")],
)
def test_guided_form_saves_what_the_server_accepts(ui: UI, field: str, typed: str, saved: str) -> None:
    page = ui.page
    ui.open("/guided")
    with ui.timer.step("sample + detect"):
        _sample(ui, page)
    box = page.locator(f"#field-{field}")
    with ui.timer.step("type: the server's reading is shown"):
        box.fill(typed)
        note = page.locator(f"#note-{field}")
        expect(note).to_have_text(f"You typed “{typed}”; saved as “{saved}”.", timeout=10_000)
        expect(page.locator(f"#error-{field}")).to_have_text("")
        expect(box).not_to_have_attribute("aria-invalid", "true")
        expect(box).to_have_accessible_description(re.compile(re.escape(f"saved as “{saved}”")))
        ui.shot(f"vocabulary-guided-{field}-{re.sub(r'[^a-z0-9]+', '-', typed)}")

    with ui.timer.step("save"):
        page.get_by_role("button", name="Save metadata", exact=True).click()
        expect(page.locator("#metadata-saved")).to_have_text(re.compile(r"^Saved "), timeout=30_000)
        stored = _saved_value(ui, field, saved)
        assert stored["source"] == "user", stored
        expect(box).to_have_value(saved)
        expect(note).to_have_text(f"You typed “{typed}”; saved as “{saved}”.")  # still said after the save
    ui.assert_no_js_errors()


def test_guided_form_refuses_what_the_server_refuses(ui: UI) -> None:
    page = ui.page
    ui.open("/guided")
    with ui.timer.step("sample + detect"):
        _sample(ui, page)
    sex = page.locator("#field-sex")
    before = ui.api(f"/api/sessions/{ui.session_id()}/metadata")["values"].get("sex")
    with ui.timer.step("a value the server cannot read"):
        sex.fill("sometimes")
        error = page.locator("#error-sex")
        expect(error).to_contain_text("not understood", timeout=10_000)  # the server's own words
        expect(error).to_contain_text("'M' (male)")
        expect(sex).to_have_attribute("aria-invalid", "true")
        page.get_by_role("button", name="Save metadata", exact=True).click()
        expect(page.locator("#metadata-saved")).to_have_text("Check: Sex.")
        assert ui.api(f"/api/sessions/{ui.session_id()}/metadata")["values"].get("sex") == before
        ui.shot("vocabulary-guided-refused")

    with ui.timer.step("corrected: saved"):
        sex.fill("female")
        expect(page.locator("#note-sex")).to_have_text("You typed “female”; saved as “F”.", timeout=10_000)
        expect(error).to_have_text("")
        page.get_by_role("button", name="Save metadata", exact=True).click()
        _saved_value(ui, "sex", "F")
    ui.assert_no_js_errors()


def test_chat_table_checks_through_the_server(ui: UI) -> None:
    page = ui.page
    ui.open("/")
    with ui.timer.step("sample + detect"):
        _sample(ui, page)
    sex = page.locator("#metadata").get_by_label("sex", exact=True)
    with ui.timer.step("intersex"):
        sex.fill("intersex")
        check = page.locator("#md-check-sex")
        expect(check).to_have_text("You typed “intersex”; saved as “O”.", timeout=10_000)
        page.get_by_role("button", name="Save sex").click()
        _saved_value(ui, "sex", "O")
        expect(sex).to_have_value("O", timeout=10_000)
    with ui.timer.step("refused"):
        sex.fill("sometimes")
        expect(check).to_contain_text("not understood", timeout=10_000)
        page.get_by_role("button", name="Save sex").click()
        expect(sex).to_be_focused()
        assert ui.api(f"/api/sessions/{ui.session_id()}/metadata")["values"]["sex"]["value"] == "O"
    ui.assert_no_js_errors()


def test_both_pages_speak_the_vocabulary(ui: UI) -> None:
    """A value the chat gave is "you (chat)" in both pages; states and importance levels are the
    vocabulary's labels, in its order, on both."""
    page = ui.page
    vocab = _vocabulary(ui)
    sources = {s["name"]: s["label"] for s in vocab["sources"]}
    states = {s["name"]: s["label"] for s in vocab["states"]}
    levels = [i["label"] for i in vocab["importance"]]
    assert "chat" in sources["user-text"], sources

    with ui.timer.step("chat: sample + description"):
        ui.open("/")
        _sample(ui, page)
        page.get_by_label("Message", exact=True).fill(DESCRIPTION)
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#state")).to_have_attribute("data-state", READY, timeout=60_000)
        expect(page.locator("#state")).to_have_text(states[READY])
        row = page.locator("#metadata tr[data-field='subject_id']")
        expect(row.locator("td.source")).to_have_text(sources["user-text"])
        expect(page.locator("#findings .counts dt").first).to_be_visible(timeout=30_000)  # the preview's
        chat_counts = page.locator("#findings .counts dt").all_inner_texts()
        assert chat_counts and chat_counts == [x for x in levels if x in chat_counts], chat_counts

    with ui.timer.step("guided: the same session"):
        ui.open(f"/guided#s={ui.session_id()}")
        expect(page.locator("#state")).to_have_attribute("data-state", READY, timeout=30_000)
        expect(page.locator("#state")).to_have_text(states[READY])
        expect(page.locator("#field-subject_id")).to_have_value("M12", timeout=30_000)
        expect(page.locator("#source-subject_id")).to_have_text(sources["user-text"])
        assert page.locator("#source-subject_id").get_attribute("data-source") == "user-text"
        expect(page.locator("#field-subject_id")).to_have_accessible_description(
            re.compile(re.escape(sources["user-text"]))
        )
        expect(page.locator("#body-preview .counts dt").first).to_be_visible()
        guided_counts = page.locator("#body-preview .counts dt").all_inner_texts()
        assert guided_counts == chat_counts, (guided_counts, chat_counts)  # one order in both pages
        ui.shot("vocabulary-guided-chat-source")

    with ui.timer.step("guided: edited in the form"):
        page.locator("#field-subject_id").fill("M14")
        page.get_by_role("button", name="Save metadata", exact=True).click()
        expect(page.locator("#source-subject_id")).to_have_text(sources["user"], timeout=30_000)
        _saved_value(ui, "subject_id", "M14")
    ui.assert_no_js_errors()
