"""Library: the writer's books, uploads and their ingestion progress."""

import streamlit as st

from core import jobs
from core.errors import PlotStudioError
from core.ingest.formats import SUPPORTED_EXTENSIONS
from core.services import library
from pages import _shared as ui

account = ui.require_account()
st.title("Library")

with st.container(border=True):
    st.markdown("**Add a book**")
    with st.form("upload", clear_on_submit=True, border=False):
        upload = st.file_uploader("Book file", type=[e.lstrip(".") for e in SUPPORTED_EXTENSIONS],
                                  help="Plain text or Markdown in any common encoding, EPUB, Word (.docx), "
                                       "or a PDF with a text layer.")
        title = st.text_input("Title (optional: read from the book when left empty)")
        if st.form_submit_button("Add to library", type="primary"):
            if upload is None:
                st.warning("Choose a file first.")
            else:
                try:
                    library.start_ingest(account.id, upload.name, upload.getvalue(), title=title or None)
                    st.toast(f"“{ui.plain(upload.name)}” is being read. You can keep working meanwhile.")
                except PlotStudioError as error:
                    ui.show_error(error)


# Settings are read once per process, so one look per browser session finds every stale book.
if "stale_books_checked" not in st.session_state:
    st.session_state.stale_books_checked = True
    if library.reindex_stale_books(account.id):
        st.toast("The embedding model changed: your books are being re-indexed.")


@st.fragment(run_every=1.5)
def ingest_progress() -> None:
    """Live progress of uploads being read; reruns the page when one ends."""
    active = library.active_book_jobs(account.id)
    known = st.session_state.setdefault("active_ingests", set())
    ids = {job.id for job in active}
    if known - ids:
        st.session_state.active_ingests = ids
        st.rerun(scope="app")
    st.session_state.active_ingests = ids
    for job in active:
        fraction = job.progress_done / job.progress_total if job.progress_total else 0.0
        left, right = st.columns([5, 1])
        # "312 of 754 passages embedded" from the first batch on; before that, what the reader is doing.
        left.progress(min(fraction, 1.0), text=f"{ui.plain(job.params.get('filename')) or 'Book'}: {ui.plain(job.message)}")
        if right.button("Cancel", key=f"cancel-{job.id}"):
            jobs.cancel(account.id, job.id)
            st.toast(f"Cancelled {ui.plain(job.params.get('filename')) or 'the upload'}: nothing of it is kept.")


ingest_progress()

for job in library.recent_failures(account.id):
    message, dismiss = st.columns([6, 1])
    message.error(f"Could not add {ui.plain(job.params.get('filename')) or 'the upload'}: {ui.plain(job.error)}")
    if dismiss.button("Dismiss", key=f"dismiss-{job.id}"):
        library.dismiss_failure(account.id, job.id)
        st.rerun()



def delete_with_confirmation(book, left, right) -> None:
    """Delete asks first (in a popover): the book goes with its chapters, its index and all made from it."""
    with right.popover("Delete…"):
        st.markdown(f"Delete “{book.title}” for good? Its chapters, its index and everything made from it go too.")
        if st.button("Delete for good", key=f"delete-yes-{book.id}", type="primary"):
            library.delete_book(account.id, book.id)
            st.rerun()


books = library.list_books(account.id)
if not books:
    st.info("Your library is empty. Add a book above — .txt, .md, .epub, .docx or a PDF with text. "
            "Plot Studio splits it into chapters and indexes every passage, so the plot overview, "
            "characters and scripts you write next can cite the book.")

for book in books:
    with st.container(border=True):
        left, right = st.columns([4, 1])
        left.subheader(ui.plain(book.title))
        byline = " · ".join(filter(None, [ui.plain(book.author), f"{book.word_count:,} words" if book.word_count else None,
                                          ui.plain(book.source_filename)]))
        left.caption(byline)
        if book.status == "ready":
            left.badge("Ready to read and search", icon=":material/check:", color="green")
            if right.button("Open", key=f"open-{book.id}", type="primary"):
                st.session_state.book_id = book.id
                st.switch_page("pages/book.py", query_params={"book": str(book.id)})
        elif book.status == "processing":
            left.badge("Being read…", icon=":material/hourglass_top:", color="blue")
        else:
            left.error(f"Reading {ui.plain(book.source_filename) or 'this book'} failed: {ui.plain(book.error)}")
            if right.button("Retry", key=f"retry-{book.id}"):
                library.retry_ingest(account.id, book.id)
                st.rerun()
        delete_with_confirmation(book, left, right)  # in any state: deleting cancels the book's jobs first
