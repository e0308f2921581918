"""The plot overview in headless Chromium: generate offline, edit the logline, save (version 2), restore version 1.

Reuses test_browser's server, browser and page fixtures and its writer steps (imported, not copied).
"""

from __future__ import annotations

import re

import pytest

from test_browser import (SMALL_BOOK_TIMEOUT, _tab, browser, expect, new_writer, page, server,  # noqa: F401
                          tiny_book, upload, wait_until_ready)

pytestmark = [pytest.mark.browser, pytest.mark.committed]
GENERATE_TIMEOUT = 120_000  # ms: the offline engine embeds its labelled descriptions (first load of the model)


def test_generate_offline_edit_the_logline_save_and_restore(page, tmp_path):
    new_writer(page)
    upload(page, tiny_book(tmp_path))
    wait_until_ready(page, SMALL_BOOK_TIMEOUT)
    page.get_by_role("link", name="Plot", exact=True).click()
    expect(page.get_by_text("This book has no plot overview yet.", exact=False)).to_be_visible()
    page.get_by_role("button", name="Generate the plot overview").click()

    expect(page.get_by_text("offline draft", exact=True).first).to_be_visible(timeout=GENERATE_TIMEOUT)
    expect(page.get_by_text(re.compile(r"Mara Quill")).first).to_be_visible()
    expect(page.locator("textarea[aria-label='Logline']")).to_have_count(1)
    original = page.locator("textarea[aria-label='Logline']").input_value()

    _tab(page, "Edit").click()
    logline = page.locator("textarea[aria-label='Logline']")
    expect(logline).to_have_count(1)
    logline.fill("Mara Quill keeps the lamp lit through the storm while her brother's boat fights its way home.")
    page.get_by_role("button", name="Save as a new version").click()
    _tab(page, "History").click()
    expect(page.get_by_text(re.compile(r"^Version 2 · edited by")).first).to_be_visible()

    page.get_by_role("button", name="Restore").nth(0).click()  # versions newest first: 2 (current) has none
    _tab(page, "History").click()
    expect(page.get_by_text(re.compile(r"^Version 3 · restored by")).first).to_be_visible()
    _tab(page, "Overview").click()
    expect(page.get_by_role("tabpanel", name="Overview").get_by_text(original, exact=True).first).to_be_visible()
