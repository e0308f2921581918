"""The writer's library: upload and ingest a book, review its chapters, search it."""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core import jobs
from core.config import get_settings
from core.embeddings import get_embedder
from core.errors import JobCancelledError, NotFoundError, PlotStudioError, UnreadableBookError
from core.ingest import CHAPTER, KINDS, SPLITTER_VERSION, ParsedBook
from core.ingest.chunking import ChunkSpan, chunk_text
from core.ingest.formats import check_file, printable, safe_filename, split_parameters
from core.ingest.sandbox import parse_upload
from core.index import ChapterChunks, delete_chapter_chunks, store_book_chunks
from db.engine import unit_of_work
from db.models import Book, BookSource, Chapter, Chunk, Job
from db.repositories import get_visible

log = logging.getLogger(__name__)
INGEST = "ingest_book"
REINDEX = "reindex_book"
# Passages embedded between two progress reports: small, so the bar moves within a second or two.
EMBED_BATCH = 32
# What a merge puts between the two chapters' texts (and a split at that seam takes out again).
SEAM = "\n\n"


@dataclass(frozen=True)
class ChapterSummary:
    id: uuid.UUID
    number: int
    heading: str
    title: str
    words: int
    opening: str
    paragraphs: int
    kind: str = CHAPTER  # or front_matter / back_matter: kept and shown, not numbered as a chapter
    ordinal: int | None = None  # the chapter's number counting chapters only (None for matter)


def _sha256(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def _words(text: str) -> int:
    return len(text.split())


def _limits() -> dict:
    settings = get_settings()
    return {"max_bytes": settings.max_upload_mb * 1024 * 1024, "max_words": settings.max_book_words,
            "min_words": settings.min_book_words}


def start_ingest(user_id: uuid.UUID, filename: str, data: bytes, *, title: str | None = None,
                 queue: bool = True) -> uuid.UUID:
    """Keep the upload and queue its ingestion (or leave the job for the caller to run); returns the job."""
    filename, title = safe_filename(filename), printable(title or "").strip() or None
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
    parsed = parse_upload(filename, data, **_limits(), memory_mb=get_settings().parse_memory_mb)
    return {"title": parsed.title, "author": parsed.author, "split_method": parsed.split_method,
            "notes": parsed.notes,
            "chapters": [{"number": n, "heading": c.heading, "title": c.title, "words": _words(c.text),
                          "starts_with": " ".join(c.text.split()[:8])}
                         for n, c in enumerate(parsed.story_chapters, start=1)],
            # Front and back matter (title page, contents, notes...): kept with the book, not chapters.
            "matter": [{"position": n, "kind": c.kind, "heading": c.heading, "title": c.title, "words": _words(c.text)}
                       for n, c in enumerate(parsed.chapters, start=1) if c.kind != CHAPTER]}


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
    """Parse, split, chunk and embed a book, then store it in one short transaction: whole, or not there."""
    started = time.perf_counter()
    book_uuid = uuid.UUID(book_id)
    try:
        with unit_of_work(user_id) as session:
            _book(session, book_uuid)
            source = session.get(BookSource, book_uuid)
            source_name, source_data = source.filename, source.data
        # Everything slow happens here, outside any transaction: no connection or lock is held meanwhile.
        progress(0, 0, "Reading the file…")
        parsed = parse_upload(source_name, source_data, **_limits(), memory_mb=get_settings().parse_memory_mb)
        progress(0, 0, f"Found {len(parsed.story_chapters)} chapters ({parsed.split_method}).")
        embedded = _embed_chapters([c.text for c in parsed.chapters], progress)
        with unit_of_work(user_id) as session:
            book = _book(session, book_uuid)
            _describe(book, parsed, title)
            chapters = _insert_chapters(session, book, parsed)
            _store_index(session, book, chapters, embedded)
            book.status = "ready"
            summary = {"book_id": str(book.id), "title": book.title,
                       "chapters": [{"number": c.number, "heading": c.heading, "title": c.title, "words": c.word_count}
                                    for c in chapters if c.kind == CHAPTER],
                       "chunks": embedded.count}
    except (UnreadableBookError, JobCancelledError):
        # Bad input (retrying cannot help) or a cancelled upload: nothing of the book is kept; the job row
        # keeps the reason.
        with unit_of_work(user_id) as session:
            session.execute(delete(Book).where(Book.id == book_uuid))
        raise
    except PlotStudioError as exc:
        _mark_failed(user_id, book_uuid, str(exc))
        raise
    except Exception:
        # The detail (which may quote SQL) goes to the log; the writer reads a sentence.
        log.exception("ingesting book %s failed", book_uuid)
        _mark_failed(user_id, book_uuid, "Something went wrong on our side while reading this book. Try again; "
                                         "if it keeps failing, tell whoever runs this Plot Studio.")
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
    book.splitter_version, book.split_parameters = SPLITTER_VERSION, split_parameters()


def _insert_chapters(session: Session, book: Book, parsed: ParsedBook) -> list[Chapter]:
    session.execute(delete(Chapter).where(Chapter.book_id == book.id))  # a retry starts clean
    chapters = [Chapter(book_id=book.id, user_id=book.user_id, number=n, heading=c.heading, title=c.title,
                        text=c.text, word_count=_words(c.text), content_sha256=_sha256(c.text), kind=c.kind)
                for n, c in enumerate(parsed.chapters, start=1)]
    session.add_all(chapters)
    session.flush()
    return chapters


@dataclass(frozen=True)
class EmbeddedChapters:
    """Chapters' chunks and their vectors, computed before any transaction opens."""

    spans: list[list[ChunkSpan]]  # per chapter, in the order given
    vectors: list[np.ndarray]  # per chapter, one row per span
    model_name: str
    dimension: int

    @property
    def count(self) -> int:
        return sum(len(chapter_spans) for chapter_spans in self.spans)


def _embed_chapters(texts: list[str], progress: jobs.Progress | None = None) -> EmbeddedChapters:
    """Chunk and embed chapter texts (the slow part of every ingest), reporting n of N passages."""
    embedder = get_embedder()
    spans = [chunk_text(text) for text in texts]
    flat = [span.text for chapter_spans in spans for span in chapter_spans]
    if progress:
        progress(0, len(flat), f"Split into {len(flat)} passages; embedding them…")
    vectors = []
    for start in range(0, len(flat), EMBED_BATCH):
        vectors.extend(embedder.encode(flat[start:start + EMBED_BATCH]))
        if progress:
            done = min(start + EMBED_BATCH, len(flat))
            progress(done, len(flat), f"{done} of {len(flat)} passages embedded")
    bounds = np.cumsum([0] + [len(chapter_spans) for chapter_spans in spans])
    matrix = np.asarray(vectors, dtype=np.float32).reshape(len(flat), -1) if flat else np.zeros((0, 0), np.float32)
    return EmbeddedChapters(spans, [matrix[a:b] for a, b in zip(bounds, bounds[1:])], embedder.model_name,
                            embedder.dimension)


def _check_same_model(session: Session, book: Book, chapter_count: int, model_name: str) -> None:
    """One book, one vector space: re-embedding some chapters with another model would break its search."""
    whole_book = chapter_count == session.scalar(select(func.count()).select_from(Chapter)
                                                 .where(Chapter.book_id == book.id))
    if book.embedding_model and book.embedding_model != model_name and not whole_book:
        raise PlotStudioError(f"This book was indexed with {book.embedding_model}; re-index it with "
                              f"{model_name} before changing its chapters.")


def _store_index(session: Session, book: Book, chapters: list[Chapter], embedded: EmbeddedChapters) -> None:
    """Replace these chapters' chunks with the embedded ones in one binary COPY (the rest keep theirs)."""
    _check_same_model(session, book, len(chapters), embedded.model_name)
    for chapter in chapters:
        delete_chapter_chunks(session, chapter.id)
    store_book_chunks(session, book_id=book.id, user_id=book.user_id, chapters=[
        ChapterChunks(chapter.id, spans, vectors)
        for chapter, spans, vectors in zip(chapters, embedded.spans, embedded.vectors)])
    book.embedding_model, book.embedding_dim = embedded.model_name, embedded.dimension


def start_reindex(user_id: uuid.UUID, book_id: uuid.UUID, *, queue: bool = True) -> uuid.UUID:
    """Queue a re-index of the whole book (after the embedding model changed)."""
    book = get_book(user_id, book_id)
    return jobs.submit(user_id, REINDEX, {"book_id": str(book_id), "filename": book.source_filename},
                       book_id=book_id, queue=queue)


def reindex_book(user_id: uuid.UUID, progress: jobs.Progress, *, book_id: str,
                 filename: str | None = None) -> dict:  # filename: only for the Library page's progress label
    """Re-chunk and re-embed every chapter with the current model, then swap the chunks in one transaction."""
    book_uuid = uuid.UUID(book_id)
    with unit_of_work(user_id) as session:
        _book(session, book_uuid)
        before = _chapter_versions(session, book_uuid)
        texts = list(session.scalars(select(Chapter.text).where(Chapter.book_id == book_uuid).order_by(Chapter.number)))
    embedded = _embed_chapters(texts, progress)
    with unit_of_work(user_id) as session:
        book = _book(session, book_uuid)
        if _chapter_versions(session, book_uuid, lock=True) != before:
            raise PlotStudioError("The book's chapters changed while it was being re-indexed: re-index it again.")
        chapters = list(session.scalars(select(Chapter).where(Chapter.book_id == book.id).order_by(Chapter.number)))
        _store_index(session, book, chapters, embedded)
        return {"book_id": book_id, "chunks": embedded.count, "embedding_model": book.embedding_model}


def _chapter_versions(session: Session, book_id: uuid.UUID, *, lock: bool = False) -> list[tuple]:
    """(id, number, content hash) of a book's chapters: what a computation read, to check before writing."""
    query = select(Chapter.id, Chapter.number, Chapter.content_sha256).where(Chapter.book_id == book_id) \
        .order_by(Chapter.number)
    return [tuple(row) for row in session.execute(query.with_for_update() if lock else query)]


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
                                      Chapter.word_count, func.left(Chapter.text, 160), paragraph_count,
                                      Chapter.kind)
                               .where(Chapter.book_id == book_id).order_by(Chapter.number)).all()
    return _with_ordinals([ChapterSummary(*row) for row in rows])


def _with_ordinals(sections: list[ChapterSummary]) -> list[ChapterSummary]:
    """Number the chapters among themselves: matter keeps its place in reading order but no chapter number."""
    ordinals = iter(range(1, len(sections) + 1))
    return [replace(section, ordinal=next(ordinals) if section.kind == CHAPTER else None) for section in sections]


def set_chapter_kind(user_id: uuid.UUID, chapter_id: uuid.UUID, kind: str) -> None:
    """Mark a section as a chapter, or as front or back matter (kept and searchable, not numbered)."""
    if kind not in KINDS:
        raise PlotStudioError("A section is a chapter, front matter or back matter.")
    with unit_of_work(user_id) as session:
        _chapter(session, chapter_id).kind = kind


def _chapter(session: Session, chapter_id: uuid.UUID) -> Chapter:
    return get_visible(session, Chapter, chapter_id, what="chapter")


def _locked_chapter(session: Session, chapter_id: uuid.UUID) -> Chapter:
    """The chapter, locked until the transaction ends: a review action compares, then writes."""
    chapter = session.get(Chapter, chapter_id, with_for_update=True)
    if chapter is None:
        raise NotFoundError("That chapter does not exist (or it is not yours).")
    return chapter


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


@dataclass(frozen=True)
class Paragraph:
    """One paragraph of a chapter: where it starts and ends in the chapter's text."""

    start: int
    end: int
    text: str


_PARAGRAPH = re.compile(r"\S.*?(?=\n\s*\n|\Z)", re.S)


def paragraphs(text: str) -> list[Paragraph]:
    """A chapter's paragraphs (text between blank lines), with their offsets."""
    return [Paragraph(m.start(), m.start() + len(m.group().rstrip()), m.group().rstrip())
            for m in _PARAGRAPH.finditer(text)]


@dataclass(frozen=True)
class ChapterReading:
    """A chapter to read and split: its paragraphs, and those where an earlier merge joined a chapter."""

    id: uuid.UUID
    number: int
    title: str
    text: str
    paragraphs: list[Paragraph]
    merged_at: dict[int, str]  # paragraph index -> title of the chapter merged in there


def read_chapter(user_id: uuid.UUID, chapter_id: uuid.UUID) -> ChapterReading:
    """A chapter's full text, cut into paragraphs, for reading and for choosing where to split."""
    chapter = get_chapter(user_id, chapter_id)
    parts = paragraphs(chapter.text)
    merged_at = {}
    for seam in chapter.merge_seams:
        index = _paragraph_at(parts, seam["at"] + len(SEAM))
        if index is not None:
            merged_at[index] = seam["title"]
    return ChapterReading(chapter.id, chapter.number, chapter.title, chapter.text, parts, merged_at)


def _paragraph_at(parts: list[Paragraph], offset: int) -> int | None:
    return next((i for i, part in enumerate(parts) if part.start >= offset), None)


def merge_with_next(user_id: uuid.UUID, chapter_id: uuid.UUID) -> uuid.UUID:
    """Join a chapter and the one after it; only the merged chapter is re-chunked and re-embedded.

    The second chapter's heading and title are kept as a seam, so a split there (or `unmerge`) restores
    both chapters exactly; nothing is written into the prose.
    """
    with unit_of_work(user_id) as session:
        first = _chapter(session, chapter_id)
        second = _next_chapter(session, first)
        if second is None:
            raise PlotStudioError("This is the last chapter: there is no next chapter to merge it with.")
        read = {chapter.id: chapter.content_sha256 for chapter in (first, second)}
        _check_same_model(session, _book(session, first.book_id), 1, get_embedder().model_name)
        text = first.text + SEAM + second.text
        shift = len(first.text) + len(SEAM)
        seams = [*first.merge_seams,
                 {"at": len(first.text), "heading": second.heading, "title": second.title,
                  "kind": getattr(second, "kind", None)},
                 *({**seam, "at": seam["at"] + shift} for seam in second.merge_seams)]
    embedded = _embed_chapters([text])
    with unit_of_work(user_id) as session:
        first = _locked_chapter(session, chapter_id)
        second = _next_chapter(session, first)
        _unchanged_since(read, first, second)
        first.text, first.merge_seams = text, seams
        _refresh(first)
        session.delete(second)
        session.flush()
        session.execute(update(Chapter).where(Chapter.book_id == first.book_id, Chapter.number > second.number)
                        .values(number=Chapter.number - 1))
        _store_index(session, _book(session, first.book_id), [first], embedded)
        return first.id


def _next_chapter(session: Session, chapter: Chapter) -> Chapter | None:
    return session.scalar(select(Chapter).where(Chapter.book_id == chapter.book_id,
                                                Chapter.number == chapter.number + 1).with_for_update())


def _unchanged_since(read: dict[uuid.UUID, str], *chapters: Chapter | None) -> None:
    """Refuse to write what was computed from chapters that changed meanwhile (another tab, another worker)."""
    if {chapter.id: chapter.content_sha256 for chapter in chapters if chapter is not None} != read:
        raise PlotStudioError("These chapters changed while the change was being made: look again and retry.")


def split_chapter(user_id: uuid.UUID, chapter_id: uuid.UUID, *, at_paragraph: int,
                  new_title: str | None = None) -> uuid.UUID:
    """Start a new chapter at paragraph `at_paragraph` (0-based); re-index only the two halves.

    At the seam of an earlier merge the chapter merged in comes back whole: its text, heading and title.
    """
    with unit_of_work(user_id) as session:
        chapter = _chapter(session, chapter_id)
        parts = paragraphs(chapter.text)
        if not 0 < at_paragraph < len(parts):
            raise PlotStudioError(f"Choose a paragraph between 2 and {len(parts)} to start the new chapter at.")
        _check_same_model(session, _book(session, chapter.book_id), 1, get_embedder().model_name)
        read = {chapter.id: chapter.content_sha256}
        cut = parts[at_paragraph].start
        seam = next((seam for seam in chapter.merge_seams
                     if seam["at"] < cut and not chapter.text[seam["at"]:cut].strip()), None)
        if seam is not None:
            head, tail = chapter.text[:seam["at"]], chapter.text[seam["at"] + len(SEAM):]
            tail_start = seam["at"] + len(SEAM)
            restored = {"heading": seam["heading"], "title": seam["title"]}
            if seam.get("kind"):
                restored["kind"] = seam["kind"]
        else:
            head, tail, tail_start = chapter.text[:cut].rstrip(), chapter.text[cut:], cut
            restored = {"heading": "", "title": (new_title or "").strip() or f"{chapter.title} (continued)"}
        head_seams = [s for s in chapter.merge_seams if s["at"] < len(head)]
        tail_seams = [{**s, "at": s["at"] - tail_start} for s in chapter.merge_seams if s["at"] >= tail_start]
        number = chapter.number
    embedded = _embed_chapters([head, tail])
    with unit_of_work(user_id) as session:
        chapter = _locked_chapter(session, chapter_id)
        _unchanged_since(read, chapter)
        chapter.text, chapter.merge_seams = head, head_seams
        _refresh(chapter)
        session.execute(update(Chapter).where(Chapter.book_id == chapter.book_id, Chapter.number > number)
                        .values(number=Chapter.number + 1))
        second = Chapter(book_id=chapter.book_id, user_id=user_id, number=number + 1, text=tail,
                         merge_seams=tail_seams, word_count=0, content_sha256="", **restored)
        _refresh(second)
        session.add(second)
        session.flush()
        _store_index(session, _book(session, chapter.book_id), [chapter, second], embedded)
        return second.id


def unmerge(user_id: uuid.UUID, chapter_id: uuid.UUID) -> uuid.UUID:
    """Undo the last merge into this chapter: split at its seam, restoring the chapter merged in."""
    reading = read_chapter(user_id, chapter_id)
    if not reading.merged_at:
        raise PlotStudioError("No chapter was merged into this one, so there is nothing to undo.")
    return split_chapter(user_id, chapter_id, at_paragraph=max(reading.merged_at))


def _refresh(chapter: Chapter) -> None:
    chapter.word_count, chapter.content_sha256 = _words(chapter.text), _sha256(chapter.text)


def delete_book(user_id: uuid.UUID, book_id: uuid.UUID) -> None:
    """Delete a book in any state; its queued or running jobs are cancelled first."""
    get_book(user_id, book_id)
    jobs.cancel_book_jobs(user_id, book_id)
    with unit_of_work(user_id) as session:  # a cancelled upload has taken its book with it already
        session.execute(delete(Book).where(Book.id == book_id))


def chunk_count(user_id: uuid.UUID, book_id: uuid.UUID) -> int:
    with unit_of_work(user_id) as session:
        return session.scalar(select(func.count()).select_from(Chunk).where(Chunk.book_id == book_id))


def recent_failures(user_id: uuid.UUID, *, limit: int = 5) -> list[Job]:
    """Uploads that were refused (their book is gone; the job keeps the reason)."""
    with unit_of_work(user_id) as session:
        return list(session.scalars(select(Job).where(Job.kind == INGEST, Job.status == "failed",
                                                      Job.book_id.is_(None))
                                    .order_by(Job.created_at.desc()).limit(limit)))


def dismiss_failure(user_id: uuid.UUID, job_id: uuid.UUID) -> None:
    """Forget a refused upload's message (the job row that kept its reason; no book was kept with it)."""
    with unit_of_work(user_id) as session:
        session.execute(delete(Job).where(Job.id == job_id, Job.kind == INGEST, Job.status == "failed",
                                          Job.book_id.is_(None)))


def active_book_jobs(user_id: uuid.UUID) -> list[Job]:
    """Ingests and re-indexes still queued or running, oldest first."""
    jobs.settle_abandoned_runs(user_id)  # a killed command's job must not look busy for ever
    with unit_of_work(user_id) as session:
        return list(session.scalars(select(Job).where(Job.kind.in_((INGEST, REINDEX)),
                                                      Job.status.in_(("queued", "running")))
                                    .order_by(Job.created_at)))
