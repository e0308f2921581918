"""The character board in headless Chromium: find the characters offline, filter, edit a want, save, make two
portraits and see the first one among the earlier portraits.

Reuses test_browser's server, browser and page fixtures and its writer steps (imported, not copied).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from test_browser import (SMALL_BOOK_TIMEOUT, _tab, _visible, browser, expect, new_writer, page, server,  # noqa: F401
                          upload, wait_until_ready)

pytestmark = [pytest.mark.browser, pytest.mark.committed]
BOARD_TIMEOUT = 120_000  # ms: the first spaCy load in the app process, then the job


def story_book(folder: Path) -> Path:
    """Three chapters with a few named people (and places that are not people)."""
    chapters = [
        "Mr. Thomas Ashcombe came home to Fernley on a Monday in June. \u201cYou are late,\u201d said Harriet Vale. "
        "Harriet was tall and proud, with dark hair and grey eyes. Mrs. Ashcombe replied, \u201cThe roads from "
        "London were dreadful.\u201d Harriet wished to leave Fernley for London.",
        "Harriet walked with Dr. Pell in the garden. \u201cYou must not trust Ashcombe,\u201d said Dr. Pell. "
        "Harriet believed that Ashcombe loved her. \u201cHarriet is foolish,\u201d said Mrs. Ashcombe.",
        "In the end Harriet left Fernley. Mr. Ashcombe was cruel and Harriet hated him. \u201cGoodbye,\u201d said "
        "Harriet. Dr. Pell smiled. Mrs. Ashcombe wept. Harriet was happy at last.",
    ]
    weather = ("The rain fell on the old house and its garden for most of the day, the fires were lit early, the "
               "clocks in the hall ran slow, and the letters that came by the evening coach were read twice over "
               "at the long table before anyone would say what they meant or what ought to be done about them.")
    text = "\n\n\n".join(f"CHAPTER {roman}\n\n{body}\n\n{weather}"
                          for roman, body in zip(("I", "II", "III"), chapters))
    path = folder / "the_vale_letters.txt"
    path.write_text(f"The Vale Letters\n\nby A. Tester\n\n\n{text}\n", encoding="utf-8")
    return path


def choose(page, label: str, option: str) -> None:
    _visible(page.get_by_role("combobox", name=label)).first.click()
    page.get_by_role("option", name=option, exact=True).click()


def test_board_filter_edit_want_and_portrait_history(page, tmp_path):
    new_writer(page)
    upload(page, story_book(tmp_path))
    wait_until_ready(page, SMALL_BOOK_TIMEOUT)
    page.get_by_role("link", name="Characters", exact=True).click()
    page.get_by_role("button", name="Find the characters").click()
    harriet = re.compile(r"^Harriet( Vale)?$")  # the board names her by the name the book uses most
    expect(page.get_by_text(harriet).first).to_be_visible(timeout=BOARD_TIMEOUT)
    expect(page.get_by_text("Dr. Pell", exact=True).first).to_be_visible()
    expect(page.get_by_text("Fernley", exact=True)).to_have_count(0)  # a place, not a card
    total = int(re.search(r"of (\d+) characters", page.get_by_text(re.compile(r"^\d+ of \d+ characters$"))
                          .inner_text()).group(1))
    assert total >= 3

    choose(page, "Role", "protagonist")
    expect(page.get_by_text(f"1 of {total} characters", exact=True)).to_be_visible()
    expect(page.get_by_text("Dr. Pell", exact=True)).to_have_count(0)
    page.get_by_role("button", name="Open profile", exact=True).first.click()
    expect(page.get_by_role("heading", name=harriet)).to_be_visible()

    _tab(page, "Edit").click()
    want = _visible(page.locator("textarea[aria-label='Want']"))
    want.fill("To see the sea before winter.")
    page.get_by_role("button", name="Save as a new version").click()
    _tab(page, "Versions").click()
    expect(page.get_by_text(re.compile(r"^Version 2 · edited by hand")).first).to_be_visible()
    choose(page, "Role", "All")
    expect(page.get_by_text("To see the sea before winter.", exact=True).first).to_be_visible()

    _tab(page, "Portrait").click()
    page.get_by_role("button", name="Regenerate portrait").click()
    _tab(page, "Portrait").click()
    expect(page.get_by_text(re.compile(r"^Portrait 1 · local-card")).first).to_be_visible()
    page.get_by_role("button", name="Regenerate portrait").click()
    _tab(page, "Portrait").click()
    expect(page.get_by_text(re.compile(r"^Portrait 2 · local-card")).first).to_be_visible()
    expect(page.get_by_role("heading", name="Earlier portraits")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Portrait 1 · \d{4}-")).first).to_be_visible()
    page.get_by_role("button", name="Make current").click()
    _tab(page, "Portrait").click()
    expect(page.get_by_text(re.compile(r"^Portrait 1 · local-card")).first).to_be_visible()
