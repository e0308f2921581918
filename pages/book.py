"""One book: its details, the chapter split to review, and search."""

import html
import re

import streamlit as st

from core.errors import PlotStudioError
from core.retrieval import search_book
from core.services import library
from pages import _shared as ui

account = ui.require_account()
books = [b for b in library.list_books(account.id) if b.status == "ready"]
if not books:
    st.info("No book is ready yet. Add one in the Library.")
    st.stop()

ids = [b.id for b in books]
chosen = st.session_state.get("book_id")
book = st.selectbox("Book", books, index=ids.index(chosen) if chosen in ids else 0,
                    format_func=lambda b: b.title, key="book_select")
st.session_state.book_id = book.id

st.title(book.title)
st.caption(" · ".join(filter(None, [book.author, f"{book.word_count:,} words", f"split by {book.split_method}",
                                    f"indexed with {book.embedding_model}"])))
for note in book.notes:
    st.info(note)
if library.needs_reindex(book):
    st.warning(f"This book was indexed with {book.embedding_model}; Plot Studio now embeds with another model, "
               "so search needs a re-index.")
    if st.button("Re-index the book"):
        library.start_reindex(account.id, book.id)
        st.toast("Re-indexing: the Library page shows the progress.")

with st.expander("Edit title and author"):
    with st.form("book_details"):
        title = st.text_input("Title", value=book.title)
        author = st.text_input("Author", value=book.author or "")
        if st.form_submit_button("Save"):
            try:
                library.rename_book(account.id, book.id, title=title, author=author)
                st.rerun()
            except PlotStudioError as error:
                ui.show_error(error)

search_tab, chapters_tab = st.tabs(["Search the book", "Chapters"])

with search_tab:
    query = st.text_input("Search by meaning", placeholder="e.g. the first proposal is refused",
                          key="search_query")
    if query:
        for hit in search_book(account.id, book.id, query, k=8):
            with st.container(border=True):
                st.markdown(f"**{html.escape(hit.chapter_title)}** · similarity {hit.score:.2f}")
                words = [re.escape(w) for w in query.split() if len(w) > 3]
                passage = html.escape(hit.text)
                if words:
                    passage = re.sub(rf"\b({'|'.join(words)})", r"<mark>\1</mark>", passage, flags=re.IGNORECASE)
                st.markdown(passage, unsafe_allow_html=True)

with chapters_tab:
    chapters = library.list_chapters(account.id, book.id)
    st.caption(f"{len(chapters)} chapters. Review the split: rename, merge with the next, or split at a paragraph. "
               "Only the chapters you change are re-indexed.")
    for chapter in chapters:
        with st.expander(f"{chapter.number}. {chapter.title} — {chapter.words:,} words"):
            st.caption(chapter.opening + "…")
            with st.form(f"rename-{chapter.id}"):
                new_title = st.text_input("Title", value=chapter.title)
                if st.form_submit_button("Rename"):
                    try:
                        library.rename_chapter(account.id, chapter.id, new_title)
                        st.rerun()
                    except PlotStudioError as error:
                        ui.show_error(error)
            left, right = st.columns(2)
            if chapter.number < len(chapters) and left.button("Merge with next chapter", key=f"merge-{chapter.id}"):
                try:
                    with st.spinner("Merging and re-indexing…"):
                        library.merge_with_next(account.id, chapter.id)
                    st.rerun()
                except PlotStudioError as error:
                    ui.show_error(error)
            if chapter.paragraphs > 1:
                with right.form(f"split-{chapter.id}"):
                    at = st.number_input("Start a new chapter at paragraph", min_value=2,
                                         max_value=chapter.paragraphs, value=2, step=1)
                    new_title = st.text_input("Title of the new chapter", key=f"split-title-{chapter.id}")
                    if st.form_submit_button("Split"):
                        try:
                            with st.spinner("Splitting and re-indexing…"):
                                library.split_chapter(account.id, chapter.id, at_paragraph=int(at) - 1,
                                                      new_title=new_title)
                            st.rerun()
                        except PlotStudioError as error:
                            ui.show_error(error)
