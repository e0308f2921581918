"""A book as the engines read it: its chapters (front/back matter left out unless asked) and its indexed chunks."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select

from core.errors import PlotStudioError
from db.engine import unit_of_work
from db.models import Book, Chapter, Chunk
from db.repositories import get_visible


@dataclass(frozen=True)
class ChapterText:
    id: uuid.UUID
    number: int
    title: str
    kind: str
    text: str
    content_sha256: str


@dataclass(frozen=True)
class ChunkText:
    id: int
    chapter_id: uuid.UUID
    chapter_number: int
    text: str
    embedding: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass
class BookText:
    id: uuid.UUID
    title: str
    author: str | None
    embedding_model: str | None
    chapters: list[ChapterText]
    chunks: list[ChunkText]

    @property
    def text(self) -> str:
        return "\n\n".join(chapter.text for chapter in self.chapters)

    def chapter_hashes(self) -> dict[str, str]:
        return {str(chapter.id): chapter.content_sha256 for chapter in self.chapters}


def read_book(user_id: uuid.UUID, book_id: uuid.UUID, *, include_matter: bool = False) -> BookText:
    """The writer's book, chapters in reading order with their chunks (one short read; RLS applies)."""
    kind = getattr(Chapter, "kind", None)  # front/back matter marking (library issue); absent: all chapters
    with unit_of_work(user_id) as session:
        book = get_visible(session, Book, book_id, what="book")
        if book.status != "ready":
            raise PlotStudioError("This book is not ready yet: wait until it has been read and indexed.")
        columns = [Chapter.id, Chapter.number, Chapter.title, Chapter.text, Chapter.content_sha256]
        rows = session.execute(select(*columns, kind if kind is not None else Chapter.number)
                               .where(Chapter.book_id == book_id).order_by(Chapter.number)).all()
        chapters = [ChapterText(r[0], r[1], r[2], r[5] if kind is not None else "chapter", r[3], r[4]) for r in rows]
        chapters = [c for c in chapters if include_matter or c.kind == "chapter"] or chapters
        numbers = {c.id: c.number for c in chapters}
        chunk_rows = session.execute(select(Chunk.id, Chunk.chapter_id, Chunk.text, Chunk.embedding)
                                     .where(Chunk.book_id == book_id, Chunk.chapter_id.in_(list(numbers)))
                                     .order_by(Chunk.chapter_id, Chunk.ordinal)).all()
        title, author, model = book.title, book.author, book.embedding_model
    chunks = [ChunkText(r[0], r[1], numbers[r[1]], r[2], None if r[3] is None else np.asarray(r[3], dtype=np.float32))
              for r in chunk_rows]
    chunks.sort(key=lambda c: (c.chapter_number, c.id))
    if not chapters:
        raise PlotStudioError("This book has no chapters to analyse.")
    return BookText(book_id, title, author, model, chapters, chunks)


_END = re.compile(r"[.!?]+[\"”’']?(?=\s|$)")
_ABBREVIATION = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|St|Mme|Mlle|Messrs|Capt|Col|Gen|Rev|vol|ch|[A-Z]))\.$")


def sentences(text: str) -> list[str]:
    """The text's sentences of four words or more, each an exact substring (stripped), for quoting.

    A full stop after a title or an initial ("Mr. Darcy", "R. Walton") does not end a sentence."""
    out, start = [], 0
    for end in _END.finditer(text):
        if _ABBREVIATION.search(text[max(start, end.end() - 8):end.end()]):
            continue
        out.append(text[start:end.end()].strip())
        start = end.end()
    out.append(text[start:].strip())
    return [sentence for sentence in out if len(sentence.split()) >= 4]
