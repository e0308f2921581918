"""The Scripts page in headless Chromium: generate, read, edit, save, compare side by side, download the PDF."""

from __future__ import annotations

import re

import pytest

from test_browser import (ARTIFACTS, PASSWORD, UI_TIMEOUT, _tab, _visible, browser, expect, expect_library,  # noqa: F401
                          page, server, sign_in)

pytestmark = [pytest.mark.browser, pytest.mark.committed]

PROSE = ("Elinor walked into the drawing-room of the cottage that evening, a letter in her hand.\n\n"
         "“We must be careful with money,” said Elinor.\n\n“I know,” Marianne said. “But the piano!”\n\n"
         "“It stays,” replied Elinor.\n\n“Then I am content.”\n\n"
         "The next morning Marianne walked across the wet fields to the village of Barton.\n\n"
         "“Good morning, Miss Marianne,” said Willoughby, raising his hat.\n\n“Good morning,” said Marianne.")


def ready_book(email_prefix: str):
    """A writer (password PASSWORD) with a one-chapter book that is ready (indexed by the current model)."""
    from core.embeddings import get_embedder
    from db.engine import unit_of_work
    from db.models import Book, Chapter
    from support import make_writer

    writer = make_writer(email_prefix)
    with unit_of_work(writer.id) as session:
        book = Book(user_id=writer.id, title="Sense and Sensibility", status="ready",
                    embedding_model=get_embedder().model_name)
        session.add(book)
        session.flush()
        session.add(Chapter(book_id=book.id, user_id=writer.id, number=1, title="Barton Cottage", text=PROSE,
                            word_count=len(PROSE.split()), content_sha256="0" * 64))
    return writer


def test_generate_edit_save_compare_and_download(page, tmp_path):
    writer = ready_book("scripts")
    sign_in(page, writer.email, PASSWORD)
    expect_library(page)
    page.get_by_role("link", name="Scripts").click()
    expect(page.get_by_role("heading", name="Scripts")).to_be_visible()
    expect(page.get_by_text("This chapter has no script yet")).to_be_visible()

    page.get_by_role("button", name="Generate this chapter").click()
    screenplay = page.get_by_test_id("stHtml").filter(has_text="INT. DRAWING-ROOM - NIGHT").first
    expect(screenplay).to_be_visible(timeout=90_000)  # the job runs on the app's worker
    expect(screenplay.get_by_text("ELINOR", exact=True).first).to_be_visible()
    expect(page.get_by_text(re.compile(r"About \d+\.\d pages · 2 scenes · offline draft"))).to_be_visible()

    _tab(page, "Edit").click()
    editor = _visible(page.get_by_label("Fountain"))
    text = editor.input_value()
    editor.fill(text.replace("It stays.", "It stays, dearest sister."))
    editor.press("Control+Enter")  # apply the text area's value (Streamlit's shortcut)
    expect(_visible(page.get_by_test_id("stHtml")).filter(has_text="dearest sister").first).to_be_visible()
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.get_by_text("Versions (2)")).to_be_visible()
    expect(page.get_by_role("combobox", name="Open version")).to_have_value(re.compile(r"^v2 · .* · your edit"))

    _tab(page, "Compare versions").click()
    table = page.get_by_test_id("stHtml").filter(has_text="v1").filter(has_text="v2").last
    expect(table.locator("ins", has_text="dearest sister")).to_be_visible()
    expect(table.locator("tr.changed")).to_have_count(1)
    expect(table.locator("tr.same")).to_have_count(1)
    box = table.locator("td").nth(0).bounding_box(), table.locator("td").nth(1).bounding_box()
    assert box[0]["x"] < box[1]["x"] and abs(box[0]["y"] - box[1]["y"]) < 2  # side by side

    _tab(page, "Export").click()
    with page.expect_download(timeout=3 * UI_TIMEOUT) as download:  # the PDF is drawn when asked for
        page.get_by_role("button", name="Download PDF").click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.suffix == ".pdf" and path.read_bytes().startswith(b"%PDF")
    import pypdf
    assert len(pypdf.PdfReader(path).pages) >= 2  # title page and the script
