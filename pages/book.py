"""One book: search it, and review its chapters (read, rename, split at a paragraph, merge, undo)."""

import html

import streamlit as st

from core.errors import PlotStudioError
from core.retrieval import highlight_words, search_book
from core.services import library
from pages import _shared as ui

PARAGRAPHS_PER_PAGE = 20

account = ui.require_account()
book = ui.choose_book(account, key="book_select")

st.title(ui.plain(book.title))
st.caption(" · ".join(filter(None, [ui.plain(book.author), f"{book.word_count:,} words", f"split by {book.split_method}",
                                    f"indexed with {book.embedding_model}"])))
st.page_link("pages/plot.py", label="Plot overview of this book", icon="🧭", query_params={"book": str(book.id)})
for note in book.notes:
    st.info(ui.plain(note))
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


def act(action, *args, **kwargs):
    """Run one review action; show its error in place instead of a traceback. True when it worked."""
    try:
        with st.spinner("Saving and re-indexing the chapters that changed…"):
            action(account.id, *args, **kwargs)
        return True
    except PlotStudioError as error:
        ui.show_error(error)
        return False


def search_panel() -> None:
    query = st.text_input("Search by meaning or by words", placeholder="e.g. the first proposal is refused",
                          key="search_query")
    if not query:
        return
    try:
        hits = search_book(account.id, book.id, query, k=8)
    except PlotStudioError as error:
        ui.show_error(error)
        return
    for rank, hit in enumerate(hits, start=1):
        with st.container(border=True):
            st.markdown(f"**{ui.plain(hit.chapter_title)}** · match {rank}")
            passage = "".join(f"<mark>{html.escape(piece)}</mark>" if matched else html.escape(piece)
                              for piece, matched in highlight_words(hit.text, query))
            # st.html, not st.markdown: the book's text is escaped HTML and never read as Markdown, so
            # `![x](http://…)` in a book stays text instead of loading a remote image.
            st.html(f'<div style="white-space: pre-wrap">{passage}</div>')


SECTION_KINDS = {"chapter": "Chapter", "front_matter": "Front matter", "back_matter": "Back matter"}


def section_label(chapter) -> str:
    """A section in the review: chapters by their number among chapters, matter marked as such; with its words."""
    place = f"{chapter.ordinal}." if chapter.kind == "chapter" else f"[{SECTION_KINDS[chapter.kind]}]"
    return f"{place} {chapter.title} — {chapter.words:,} words"


def section_kind(chapter) -> None:
    """Let the writer turn front/back matter into a chapter, and a chapter into matter."""
    kinds = list(SECTION_KINDS)
    chosen = st.radio("This section is", kinds, index=kinds.index(chapter.kind), format_func=SECTION_KINDS.get,
                      horizontal=True, key=f"kind-{chapter.id}",
                      help="Front and back matter (title page, contents, notes, index) stay with the book and its "
                           "search, but are not numbered as chapters or adapted.")
    if chosen != chapter.kind:
        library.set_chapter_kind(account.id, chapter.id, chosen)
        st.rerun()


def merge_controls(chapter, following) -> None:
    """Merge with the next section, once the writer confirms (in a popover: nothing changes until then)."""
    if following is None:
        return
    with st.popover("Merge with the next chapter…"):
        st.markdown(f"Merge **{html.escape(chapter.title)}** and **{html.escape(following.title)}** into one "
                    "chapter? You can undo it: the second chapter's title and text are kept.")
        if st.button("Merge them", type="primary", key="merge-yes"):
            if act(library.merge_with_next, chapter.id):
                st.session_state.last_merge = chapter.id
                st.rerun()


def split_confirmation(reading, index: int) -> None:
    """Ask for the new chapter's title (none at a merge seam: the merged chapter comes back) and split."""
    restoring = reading.merged_at.get(index)
    if restoring:
        st.markdown(f"Split here and bring back **{html.escape(restoring)}** as it was before the merge?")
        new_title = None
    else:
        st.markdown(f"Start a new chapter at paragraph {index + 1}?")
        new_title = st.text_input("Title of the new chapter", value=f"{reading.title} (continued)",
                                  key=f"split-title-{index}")
    if st.button("Split here", type="primary", key=f"split-yes-{index}"):
        if act(library.split_chapter, reading.id, at_paragraph=index, new_title=new_title):
            st.rerun()


def paragraph_reader(reading) -> None:
    """The chapter's full text, paragraph by paragraph, numbered and paginated; any paragraph can start a chapter."""
    count = len(reading.paragraphs)
    pages = max(1, -(-count // PARAGRAPHS_PER_PAGE))
    page = 0
    if pages > 1:
        starts = list(range(0, count, PARAGRAPHS_PER_PAGE))
        page = st.selectbox("Paragraphs", range(pages), key=f"page-{reading.id}",
                            format_func=lambda p: f"{starts[p] + 1}–{min(starts[p] + PARAGRAPHS_PER_PAGE, count)} "
                                                  f"of {count}") or 0
    for index in range(page * PARAGRAPHS_PER_PAGE, min((page + 1) * PARAGRAPHS_PER_PAGE, count)):
        with st.container(border=True, key=f"paragraph-{index + 1}"):
            if index in reading.merged_at:
                st.caption(f"“{ui.plain(reading.merged_at[index])}” was merged in here")
            number, body = st.columns([1, 12])
            number.markdown(f"**¶ {index + 1}**")
            body.text(reading.paragraphs[index].text)  # the writer's prose, never read as Markdown
            if index == 0:
                continue
            with body.popover("Start a new chapter here"):
                split_confirmation(reading, index)


def chapters_panel() -> None:
    chapters = library.list_chapters(account.id, book.id)
    matter = sum(chapter.kind != "chapter" for chapter in chapters)
    st.caption(f"{len(chapters) - matter} chapters and {matter} sections of front or back matter. Review the split: "
               "read a chapter, rename it, merge it with the next, or start a new chapter at any paragraph. "
               "Only the chapters you change are re-indexed.")
    undo_into = st.session_state.get("last_merge")
    if undo_into in {c.id for c in chapters}:
        note, undo = st.columns([4, 1])
        note.success("Merged. The second chapter's title and text are kept, so you can undo it.")
        if undo.button("Undo the merge", key="undo-merge"):
            st.session_state.pop("last_merge", None)
            if act(library.unmerge, undo_into):
                st.rerun()

    # The open chapter is in the URL as well (?chapter=…).
    chapter_ids = [str(c.id) for c in chapters]
    wanted = st.query_params.get("chapter")
    first_chapter = next((i for i, c in enumerate(chapters) if c.kind == "chapter"), 0)  # not the title page
    chosen = st.selectbox("Chapter", chapter_ids, key=f"chapter-{book.id}",
                          index=chapter_ids.index(wanted) if wanted in chapter_ids else first_chapter,
                          format_func=lambda i: section_label(chapters[chapter_ids.index(i)]))
    st.query_params["chapter"] = chosen
    position = chapter_ids.index(chosen)
    chapter = chapters[position]
    following = chapters[position + 1] if position + 1 < len(chapters) else None

    section_kind(chapter)
    with st.form(f"rename-{chapter.id}"):
        new_title = st.text_input("Title", value=chapter.title)
        if st.form_submit_button("Rename"):
            if act(library.rename_chapter, chapter.id, new_title):
                st.rerun()
    merge_controls(chapter, following)
    paragraph_reader(library.read_chapter(account.id, chapter.id))


# The tab is in the URL too (?tab=…, through the widget's binding); only the open tab's panel runs.
search_tab, chapters_tab = st.tabs(["Search the book", "Chapters"], key="tab", bind="query-params")
with search_tab:
    if search_tab.open:
        search_panel()
with chapters_tab:
    if chapters_tab.open:
        chapters_panel()
