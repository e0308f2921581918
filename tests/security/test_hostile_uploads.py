"""Hostile uploads: each is refused with one sentence by a child process under a memory ceiling, and the
app (this process) carries on. Peak memory of each child is printed."""

from __future__ import annotations

import pytest

from core.errors import UnreadableBookError
from core.ingest.sandbox import TOO_MUCH_MEMORY, run_parser
from core.services import library
from security import hostile
from security.conftest import record

CEILING_MB = 512  # half the default PARSE_MEMORY_MB: every refusal below fits well inside it
APP_LIMITS = {"max_bytes": 50 * 1024 * 1024, "max_words": 3_000_000}

HOSTILE = {
    # name: (file name, builder, what the sentence says)
    "spine bomb (2 KB, 6,000 spine entries)": ("bomb.epub", hostile.spine_bomb, "suspiciously compressed"),
    "zip bomb in an EPUB (100 MB of zeros)": ("bomb.epub", lambda: hostile.zip_bomb("epub"), "suspiciously compressed"),
    "zip bomb in a DOCX (100 MB of zeros)": ("bomb.docx", lambda: hostile.zip_bomb("docx"), "suspiciously compressed"),
    "PDF of 5,000 empty pages": ("empty.pdf", hostile.empty_pages_pdf, "5,000 pages"),
    "DOCX nested 100,000 deep": ("deep.docx", hostile.nested_docx, "damaged"),
    "EPUB contents nested 100,000 deep": ("deep.epub", hostile.nested_epub, "damaged"),
    "50 MB single-line text (10 M words)": ("line.txt", hostile.single_line, "more than 3,000,000 words"),
}


def _one_sentence(message: str) -> bool:
    return bool(message) and "\n" not in message and "Traceback" not in message and message.rstrip()[-1] in ".!?"


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_file_is_refused_in_one_sentence_within_the_ceiling(name):
    filename, build, says = HOSTILE[name]
    data = build()
    result = run_parser(filename, data, memory_mb=CEILING_MB, **APP_LIMITS, min_words=200)
    record("hostile uploads", f"{name}: {len(data):,} bytes -> peak {result.peak_rss_kib / 1024:.0f} MiB "
                              f"(ceiling {CEILING_MB} MiB): {result.error}")
    assert result.book is None and result.error and says in result.error
    assert _one_sentence(result.error)
    assert 0 < result.peak_rss_kib < CEILING_MB * 1024


def test_a_spine_that_repeats_one_document_reads_it_once(database):
    """Stored (so no compression ratio gives it away), the spine bomb is one 2,400-word document."""
    result = run_parser("bomb.epub", hostile.spine_bomb(compress=False), memory_mb=CEILING_MB, **APP_LIMITS)
    record("hostile uploads", f"spine bomb, stored ({len(hostile.spine_bomb(compress=False)):,} bytes) -> peak "
                              f"{result.peak_rss_kib / 1024:.0f} MiB, read as "
                              f"{sum(len(c.text.split()) for c in result.book.chapters):,} words")
    assert result.error is None
    assert sum(len(c.text.split()) for c in result.book.chapters) < 3000


def test_zip_members_that_expand_past_the_cap_together_are_refused():
    data = hostile.expands_past_the_cap()
    result = run_parser("many.epub", data, memory_mb=CEILING_MB, max_bytes=5_000_000, max_words=1_000_000)
    assert result.error and "would expand to" in result.error and _one_sentence(result.error)


def test_a_file_needing_more_memory_than_the_ceiling_fails_alone(writer_a):
    """A book that is fine but bigger than the ceiling allows: the child runs out, the app does not."""
    book = ("CHAPTER I\n\n" + "word " * 2_000_000).encode()
    result = run_parser("big.txt", book, memory_mb=160, **APP_LIMITS)
    record("hostile uploads", f"10 MB book under a 160 MiB ceiling -> {result.error}")
    assert result.error == TOO_MUCH_MEMORY
    assert library.list_books(writer_a.id) == []  # and this process still works


def test_the_service_reads_uploads_through_the_sandbox(database):
    with pytest.raises(UnreadableBookError, match="5,000 pages"):
        library.preview_split("empty.pdf", hostile.empty_pages_pdf())


@pytest.mark.parametrize("given, kept", [
    ("../../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\Windows\\win.ini.txt", "win.ini.txt"),
    ("nul\x00byte.txt", "nulbyte.txt"),
    ("\u202eevil\u202c.txt", "evil.txt"),
    ("<img src=x onerror=alert(1)>.txt", "<img src=x onerror=alert(1)>.txt"),
    ("a" * 5000 + ".txt", "a" * 196 + ".txt"),
])
def test_odd_file_names_are_kept_as_plain_names(writer_a, given, kept):
    job_id = library.start_ingest(writer_a.id, given, b"CHAPTER I\n\nSome words of a book.", queue=False)
    from core import jobs

    book = library.get_book(writer_a.id, jobs.get_job(writer_a.id, job_id).book_id)
    assert book.source_filename == kept and jobs.get_job(writer_a.id, job_id).params["filename"] == kept


def test_a_name_that_is_only_a_path_is_refused_in_a_sentence(writer_a):
    with pytest.raises(UnreadableBookError, match="not a format Plot Studio reads"):
        library.start_ingest(writer_a.id, "../../etc/", b"data", queue=False)
