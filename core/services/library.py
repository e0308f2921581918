"""The writer's library: upload and ingest a book, review its chapters, search it."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core import jobs
from core.config import get_settings
from core.embeddings import get_embedder
from core.errors import PlotStudioError, UnreadableBookError
from core.ingest import ParsedBook
from core.ingest.chunking import chunk_text
from core.ingest.formats import check_file, parse_book
from core.index import ChapterChunks, delete_chapter_chunks, store_book_chunks
from db.engine import unit_of_work
from db.models import Book, BookSource, Chapter, Chunk, Job
from db.repositories import get_visible

INGEST = "ingest_book"
REINDEX = "reindex_book"
EMBED_BATCH = 64


@dataclass(frozen=True)
class ChapterSummary:
    id: uuid.UUID
    number: int
    heading: str
    title: str
    words: int
    opening: str
    paragraphs: int


def _sha256(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def _words(text: str) -> int:
    return len(text.split())


def _limits() -> dict:
    settings = get_settings()
    return {"max_bytes": settings.max_upload_mb * 1024 * 1024, "max_words": settings.max_book_words}


def start_ingest(user_id: uuid.UUID, filename: str, data: bytes, *, title: str | None = None,
                 queue: bool = True) -> uuid.UUID:
    """Keep the upload and queue its ingestion (or leave the job for the caller to run); returns the job."""
    check_file(filename, data, max_bytes=_limits()["max_bytes"])
    with unit_of_work(user_id) as session:
        book = Book(user_id=user_id, title=title or PurePosixPath(filename).stem, source_filename=filename,
                    source_format=PurePosixPath(filename.lower()).suffix.lstrip("."), source_sha256=_sha256(data))
        session.add(book)
        session.flush()
        session.add(BookSource(book_id=book.id, user_id=user_id, filename=filename, data=data))
        book_id = book.id
    return jobs.submit(user_id, INGEST, {"book_id": str(book_id), "title": title, "filename": filename},
                       book_id=book_id, queue=queue)


def preview_split(filename: str, data: bytes) -> dict:
    """How a file would split into chapters, without storing anything (to check before ingesting)."""
    parsed = parse_book(filename, data, **_limits())
    return {"title": parsed.title, "author": parsed.author, "split_method": parsed.split_method,
            "notes": parsed.notes,
            "chapters": [{"number": n, "heading": c.heading, "title": c.title, "words": _words(c.text),
                          "starts_with": " ".join(c.text.split()[:8])}
                         for n, c in enumerate(parsed.chapters, start=1)]}


def retry_ingest(user_id: uuid.UUID, book_id: uuid.UUID, *, queue: bool = True) -> uuid.UUID:
    """Queue a failed book's ingestion again, from the upload kept with it."""
    with unit_of_work(user_id) as session:
        book = _book(session, book_id)
        book.status, book.error = "processing", None
        filename = book.source_filename
    return jobs.submit(user_id, INGEST, {"book_id": str(book_id), "title": None, "filename": filename},
                       book_id=book_id, queue=queue)


def ingest_book(user_id: uuid.UUID, progress: jobs.Progress, *, book_id: str, title: str | None = None,
                filename: str | None = None) -> dict:  # filename: only for the Library page's progress label
    """Parse, split, chunk, embed and index a book in one transaction: it is whole, or it is not there."""
    started = time.perf_counter()
    book_uuid = uuid.UUID(book_id)
    try:
        with unit_of_work(user_id) as session:
            book = _book(session, book_uuid)
            source = session.get(BookSource, book_uuid)
            progress(0, 0, "Reading the file…")
            parsed = parse_book(source.filename, source.data, **_limits())
            progress(0, 0, f"Found {len(parsed.chapters)} chapters ({parsed.split_method}).")
            _describe(book, parsed, title)
            chapters = _insert_chapters(session, book, parsed)
            chunk_count = _index_chapters(session, user_id, book, chapters, progress)
            book.status = "ready"
            summary = {"book_id": str(book.id), "title": book.title,
                       "chapters": [{"number": c.number, "heading": c.heading, "title": c.title, "words": c.word_count}
                                    for c in chapters],
                       "chunks": chunk_count}
    except UnreadableBookError:
        # Bad input: retrying cannot help, so nothing of the book is kept; the job row keeps the reason.
        with unit_of_work(user_id) as session:
            session.execute(delete(Book).where(Book.id == book_uuid))
        raise
    except PlotStudioError as exc:
        _mark_failed(user_id, book_uuid, str(exc))
        raise
    except Exception as exc:
        _mark_failed(user_id, book_uuid, f"{type(exc).__name__}: {exc}")
        raise
    return {**summary, "seconds": round(time.perf_counter() - started, 2)}


def _mark_failed(user_id: uuid.UUID, book_id: uuid.UUID, reason: str) -> None:
    with unit_of_work(user_id) as session:
        session.execute(update(Book).where(Book.id == book_id).values(status="failed", error=reason))


def _describe(book: Book, parsed: ParsedBook, title: str | None) -> None:
    book.title = (title or parsed.title or book.title).strip()
    book.author = parsed.author
    book.split_method = parsed.split_method
    book.notes = list(parsed.notes)
    book.word_count = sum(_words(c.text) for c in parsed.chapters)


def _insert_chapters(session: Session, book: Book, parsed: ParsedBook) -> list[Chapter]:
    session.execute(delete(Chapter).where(Chapter.book_id == book.id))  # a retry starts clean
    chapters = [Chapter(book_id=book.id, user_id=book.user_id, number=n, heading=c.heading, title=c.title,
                        text=c.text, word_count=_words(c.text), content_sha256=_sha256(c.text))
                for n, c in enumerate(parsed.chapters, start=1)]
    session.add_all(chapters)
    session.flush()
    return chapters


def _index_chapters(session: Session, user_id: uuid.UUID, book: Book, chapters: list[Chapter],
                    progress: jobs.Progress | None = None) -> int:
    """Chunk and embed these chapters (only these: the rest of the book keeps its index)."""
    embedder = get_embedder()
    whole_book = len(chapters) == session.scalar(select(func.count()).select_from(Chapter)
                                                 .where(Chapter.book_id == book.id))
    if book.embedding_model and book.embedding_model != embedder.model_name and not whole_book:
        # One book, one vector space: mixing two models' vectors would make its search meaningless.
        raise PlotStudioError(f"This book was indexed with {book.embedding_model}; re-index it with "
                              f"{embedder.model_name} before changing its chapters.")
    spans = [chunk_text(chapter.text) for chapter in chapters]
    flat = [span.text for chapter_spans in spans for span in chapter_spans]
    if progress:
        progress(0, len(flat), f"Split into {len(flat)} passages; embedding them…")
    vectors = []
    for start in range(0, len(flat), EMBED_BATCH):
        vectors.extend(embedder.encode(flat[start:start + EMBED_BATCH]))
        if progress:
            done = min(start + EMBED_BATCH, len(flat))
            progress(done, len(flat), f"Embedded {done} of {len(flat)} passages")
    batches, offset = [], 0
    for chapter, chapter_spans in zip(chapters, spans):
        delete_chapter_chunks(session, chapter.id)
        batches.append(ChapterChunks(chapter.id, chapter_spans, np.asarray(vectors[offset:offset + len(chapter_spans)])))
        offset += len(chapter_spans)
    store_book_chunks(session, book_id=book.id, user_id=user_id, chapters=batches)
    book.embedding_model, book.embedding_dim = embedder.model_name, embedder.dimension
    return len(flat)


def start_reindex(user_id: uuid.UUID, book_id: uuid.UUID, *, queue: bool = True) -> uuid.UUID:
    """Queue a re-index of the whole book (after the embedding model changed)."""
    book = get_book(user_id, book_id)
    return jobs.submit(user_id, REINDEX, {"book_id": str(book_id), "filename": book.source_filename},
                       book_id=book_id, queue=queue)


def reindex_book(user_id: uuid.UUID, progress: jobs.Progress, *, book_id: str,
                 filename: str | None = None) -> dict:  # filename: only for the Library page's progress label
    """Re-chunk and re-embed every chapter with the current model, in one transaction."""
    with unit_of_work(user_id) as session:
        book = _book(session, uuid.UUID(book_id))
        chapters = list(session.scalars(select(Chapter).where(Chapter.book_id == book.id).order_by(Chapter.number)))
        chunks = _index_chapters(session, user_id, book, chapters, progress)
        return {"book_id": book_id, "chunks": chunks, "embedding_model": book.embedding_model}


def reindex_stale_books(user_id: uuid.UUID) -> list[uuid.UUID]:
    """Queue a re-index of every book whose vectors came from another model; returns the new jobs."""
    busy = {job.book_id for job in active_book_jobs(user_id)}
    return [start_reindex(user_id, book.id) for book in list_books(user_id)
            if needs_reindex(book) and book.id not in busy]


def needs_reindex(book: Book) -> bool:
    """Whether the book's vectors come from another model than the one the app embeds with now."""
    return book.status == "ready" and book.embedding_model != get_embedder().model_name


def _book(session: Session, book_id: uuid.UUID) -> Book:
    return get_visible(session, Book, book_id, what="book")


def list_books(user_id: uuid.UUID) -> list[Book]:
    with unit_of_work(user_id) as session:
        return list(session.scalars(select(Book).order_by(Book.created_at.desc())))


def get_book(user_id: uuid.UUID, book_id: uuid.UUID) -> Book:
    with unit_of_work(user_id) as session:
        return _book(session, book_id)


def list_chapters(user_id: uuid.UUID, book_id: uuid.UUID) -> list[ChapterSummary]:
    with unit_of_work(user_id) as session:
        paragraph_count = func.cardinality(func.regexp_split_to_array(func.btrim(Chapter.text), r"\n\s*\n"))
        rows = session.execute(select(Chapter.id, Chapter.number, Chapter.heading, Chapter.title,
                                      Chapter.word_count, func.left(Chapter.text, 160), paragraph_count)
                               .where(Chapter.book_id == book_id).order_by(Chapter.number)).all()
    return [ChapterSummary(*row) for row in rows]


def _chapter(session: Session, chapter_id: uuid.UUID) -> Chapter:
    return get_visible(session, Chapter, chapter_id, what="chapter")


def get_chapter(user_id: uuid.UUID, chapter_id: uuid.UUID) -> Chapter:
    with unit_of_work(user_id) as session:
        return _chapter(session, chapter_id)


def rename_book(user_id: uuid.UUID, book_id: uuid.UUID, *, title: str, author: str | None) -> None:
    title = (title or "").strip()
    if not title:
        raise PlotStudioError("A book needs a title.")
    with unit_of_work(user_id) as session:
        book = _book(session, book_id)
        book.title, book.author = title, (author or "").strip() or None


def rename_chapter(user_id: uuid.UUID, chapter_id: uuid.UUID, title: str) -> None:
    title = (title or "").strip()
    if not title:
        raise PlotStudioError("A chapter needs a title.")
    with unit_of_work(user_id) as session:
        session.execute(update(Chapter).where(Chapter.id == chapter_id).values(title=title))


def merge_with_next(user_id: uuid.UUID, chapter_id: uuid.UUID) -> uuid.UUID:
    """Join a chapter and the one after it; only the merged chapter is re-chunked and re-embedded."""
    with unit_of_work(user_id) as session:
        first = _chapter(session, chapter_id)
        second = session.scalar(select(Chapter).where(Chapter.book_id == first.book_id,
                                                      Chapter.number == first.number + 1))
        if second is None:
            raise PlotStudioError("This is the last chapter: there is no next chapter to merge it with.")
        heading_line = second.heading or second.title
        first.text = f"{first.text.rstrip()}\n\n{heading_line}\n\n{second.text.lstrip()}"
        _refresh(first)
        session.delete(second)
        session.flush()
        session.execute(update(Chapter).where(Chapter.book_id == first.book_id, Chapter.number > second.number)
                        .values(number=Chapter.number - 1))
        _index_chapters(session, user_id, _book(session, first.book_id), [first])
        return first.id


def paragraphs(text: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", text) if p.strip()]


def split_chapter(user_id: uuid.UUID, chapter_id: uuid.UUID, *, at_paragraph: int,
                  new_title: str | None = None) -> uuid.UUID:
    """Split a chapter before its paragraph `at_paragraph` (0-based); re-index only the two halves."""
    with unit_of_work(user_id) as session:
        chapter = _chapter(session, chapter_id)
        parts = paragraphs(chapter.text)
        if not 0 < at_paragraph < len(parts):
            raise PlotStudioError(f"Choose a paragraph between 2 and {len(parts)} to start the new chapter at.")
        chapter.text = "\n\n".join(parts[:at_paragraph])
        _refresh(chapter)
        session.execute(update(Chapter).where(Chapter.book_id == chapter.book_id, Chapter.number > chapter.number)
                        .values(number=Chapter.number + 1))
        second = Chapter(book_id=chapter.book_id, user_id=user_id, number=chapter.number + 1, heading="",
                         title=(new_title or "").strip() or f"{chapter.title} (continued)",
                         text="\n\n".join(parts[at_paragraph:]), word_count=0, content_sha256="")
        _refresh(second)
        session.add(second)
        session.flush()
        _index_chapters(session, user_id, _book(session, chapter.book_id), [chapter, second])
        return second.id


def _refresh(chapter: Chapter) -> None:
    chapter.word_count, chapter.content_sha256 = _words(chapter.text), _sha256(chapter.text)


def delete_book(user_id: uuid.UUID, book_id: uuid.UUID) -> None:
    with unit_of_work(user_id) as session:
        session.delete(_book(session, book_id))


def chunk_count(user_id: uuid.UUID, book_id: uuid.UUID) -> int:
    with unit_of_work(user_id) as session:
        return session.scalar(select(func.count()).select_from(Chunk).where(Chunk.book_id == book_id))


def recent_failures(user_id: uuid.UUID, *, limit: int = 5) -> list[Job]:
    """Uploads that were refused (their book is gone; the job keeps the reason)."""
    with unit_of_work(user_id) as session:
        return list(session.scalars(select(Job).where(Job.kind == INGEST, Job.status == "failed",
                                                      Job.book_id.is_(None))
                                    .order_by(Job.created_at.desc()).limit(limit)))


def active_book_jobs(user_id: uuid.UUID) -> list[Job]:
    """Ingests and re-indexes still queued or running, oldest first."""
    with unit_of_work(user_id) as session:
        return list(session.scalars(select(Job).where(Job.kind.in_((INGEST, REINDEX)),
                                                      Job.status.in_(("queued", "running")))
                                    .order_by(Job.created_at)))


jobs.register(INGEST, ingest_book)
jobs.register(REINDEX, reindex_book)
