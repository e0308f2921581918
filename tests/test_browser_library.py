"""The chapter review in headless Chromium: read a chapter, split at a chosen paragraph, merge and undo,
and a refresh that comes back to the same book, tab and chapter (the server helpers are test_browser's)."""

from __future__ import annotations

import re

import pytest

from test_browser import (LONG_BOOK_TIMEOUT, UI_TIMEOUT, _tab, browser, expect, new_writer, page,  # noqa: F401
                          server, tiny_book, upload, wait_until_ready)

pytestmark = [pytest.mark.browser, pytest.mark.committed]


def chapter_rows(email: str) -> list[tuple[str, str]]:
    """(title, text) of the writer's one book's chapters, in order, as stored."""
    from sqlalchemy import select

    from core.services.accounts import account_by_email
    from db.engine import unit_of_work
    from db.models import Chapter

    writer = account_by_email(email)
    with unit_of_work(writer.id) as session:
        return [tuple(row) for row in session.execute(select(Chapter.title, Chapter.text).order_by(Chapter.number))]


def caption(page, chapters: int):
    return page.get_by_text(re.compile(rf"^{chapters} chapters and \d+ sections? of front or back matter\."))


def paragraph(page, number: int):
    return page.locator(f".st-key-paragraph-{number}")


@pytest.fixture
def patient():
    """Re-embedding a chapter is a model call per action: allow a busy machine three times the usual wait."""
    expect.set_options(timeout=UI_TIMEOUT * 3)
    yield
    expect.set_options(timeout=UI_TIMEOUT)


def test_a_writer_reads_splits_merges_undoes_and_refreshes(page, tmp_path, patient):
    email = new_writer(page)
    upload(page, tiny_book(tmp_path))
    wait_until_ready(page, LONG_BOOK_TIMEOUT)  # a busy machine loads the model slowly
    page.get_by_role("button", name="Open").click()
    expect(page).to_have_url(re.compile(r"[?&]book=[0-9a-f-]{36}"))
    _tab(page, "Chapters").click()
    expect(caption(page, 3)).to_be_visible()

    # Read: the first chapter's paragraphs, numbered, as plain text.
    first_title, first_text = chapter_rows(email)[-3]
    expect(paragraph(page, 1)).to_contain_text("¶ 1")
    expect(paragraph(page, 1)).to_contain_text("Mara Quill walked to the harbour before dark")
    expect(paragraph(page, 4)).to_contain_text("the fourth time she had watched him")

    # Split by choosing the paragraph itself.
    paragraph(page, 3).get_by_role("button", name="Start a new chapter here").click()
    title = page.get_by_label("Title of the new chapter").filter(visible=True)
    title.fill("The Watch")
    title.press("Enter")
    page.get_by_role("button", name="Split here").filter(visible=True).click()
    expect(caption(page, 4)).to_be_visible()
    split = chapter_rows(email)
    titles = [t for t, _ in split]
    assert titles[titles.index(first_title) + 1] == "The Watch"
    assert split[titles.index("The Watch")][1].startswith("The wind rose over the harbour")

    # Merge asks first; undo brings both chapters back exactly.
    page.get_by_role("button", name="Merge with the next chapter…").click()
    page.get_by_role("button", name="Merge them").filter(visible=True).click()
    expect(caption(page, 3)).to_be_visible()
    assert "The Watch" not in [t for t, _ in chapter_rows(email)]
    page.get_by_role("button", name="Undo the merge").click()
    expect(caption(page, 4)).to_be_visible()
    assert chapter_rows(email) == split

    # A refresh comes back to the same book, tab and chapter.
    url = page.url
    assert re.search(r"[?&]tab=", url) and re.search(r"[?&]chapter=[0-9a-f-]{36}", url), url
    page.reload()
    expect(caption(page, 4)).to_be_visible()
    expect(paragraph(page, 1)).to_contain_text("Mara Quill walked to the harbour before dark")
    expect(paragraph(page, 3)).to_have_count(0)  # the first chapter now ends at its second paragraph
    assert first_text.startswith(split[titles.index(first_title)][1])
