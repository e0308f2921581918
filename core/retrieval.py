"""Search one book's chunks by meaning, as the writer who owns it (RLS decides what is visible)."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from langchain_core.vectorstores.utils import maximal_marginal_relevance
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.embeddings import get_embedder
from core.errors import ConfigurationError, PlotStudioError
from core.index import driver_connection
from db.engine import unit_of_work
from db.models import Book


class Strategy(str, enum.Enum):
    """How the nearest chunks are found."""

    # Distance to every chunk of the book, found through the (book_id, …) btree: what the app uses.
    # bench/retrieval.py, 100k chunks in 100 books: p50 3.4 ms, p95 4.6 ms, recall 1.0, never < k.
    # A global HNSW index then the book filter returned < k rows for 200/200 queries at the default
    # ef_search (recall 0.13) and still 66/200 at ef_search=1000 (recall 0.92, p95 20 ms); a partial
    # HNSW index per book was no faster (p95 4.5 ms) for recall 0.999 and owner DDL per book. On
    # pgvector ≥ 0.8 an iterative scan must still walk ~k / (book's share of rows) graph nodes, so
    # for one book out of many the exact scan stays the right choice there too.
    EXACT = "exact"
    # HNSW index scan, then the filter (needs an HNSW index, which the schema no longer has): for benches.
    HNSW = "hnsw"
    # pgvector ≥ 0.8: keep scanning the graph until k rows pass the filter.
    HNSW_ITERATIVE = "hnsw_iterative"


@dataclass(frozen=True)
class Hit:
    """One chunk found by a search, with where it sits in the book and how close it was."""

    chunk_id: int
    chapter_id: uuid.UUID
    chapter_number: int
    chapter_title: str
    char_start: int
    char_end: int
    text: str
    score: float  # cosine similarity to the query, 1 is identical

    def as_document(self) -> Document:
        metadata = {key: getattr(self, key) for key in (
            "chunk_id", "chapter_id", "chapter_number", "chapter_title", "char_start", "char_end", "score")}
        return Document(page_content=self.text, metadata=metadata)


@dataclass(frozen=True)
class Scope:
    """Which chunks a search looks at: one book, optionally a range of its chapters."""

    book_id: uuid.UUID
    first_chapter: int | None = None
    last_chapter: int | None = None


_SCOPE_FILTER = """
    c.book_id = %(book_id)s
    AND (%(first)s::int IS NULL AND %(last)s::int IS NULL OR c.chapter_id IN (
        SELECT id FROM chapters WHERE book_id = %(book_id)s
        AND number >= coalesce(%(first)s::int, number) AND number <= coalesce(%(last)s::int, number)))
"""
# MATERIALIZED keeps the planner from turning ORDER BY distance into an HNSW index scan.
_EXACT_CANDIDATES = f"""
WITH scoped AS MATERIALIZED (
    SELECT c.id, c.embedding <=> %(query)s AS distance FROM chunks c WHERE {_SCOPE_FILTER}
)
SELECT id, distance FROM scoped ORDER BY distance, id LIMIT %(limit)s
"""
# The column takes any width, so an HNSW index (benches only) is on the cast to one width; {{width}} is the
# query's, so the planner can match the index expression.
_INDEX_CANDIDATES = f"""
SELECT c.id, c.embedding::vector({{width}}) <=> %(query)s AS distance FROM chunks c WHERE {_SCOPE_FILTER}
ORDER BY c.embedding::vector({{width}}) <=> %(query)s LIMIT %(limit)s
"""
_HITS = """
SELECT c.id, c.chapter_id, ch.number, ch.title, c.char_start, c.char_end, c.text, c.embedding
FROM chunks c JOIN chapters ch ON ch.id = c.chapter_id
WHERE c.id = ANY(%(ids)s)
"""

_pgvector_version: tuple[int, ...] | None = None


def pgvector_version(session: Session) -> tuple[int, ...]:
    """The server's pgvector version, asked once per process."""
    global _pgvector_version
    if _pgvector_version is None:
        version = session.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")).scalar()
        _pgvector_version = tuple(int(part) for part in (version or "0").split("."))
    return _pgvector_version


def nearest_chunks(session: Session, scope: Scope, query_vector: np.ndarray, k: int = 10, *,
                   strategy: Strategy = Strategy.EXACT, ef_search: int | None = None) -> list[Hit]:
    """The k chunks in scope closest to the vector, nearest first."""
    candidates = _candidates(session, scope, query_vector, k, strategy, ef_search)
    rows = _chunk_rows(session, [chunk_id for chunk_id, _ in candidates])
    return [_hit(rows[chunk_id], distance) for chunk_id, distance in candidates]


def diverse_chunks(session: Session, scope: Scope, query_vector: np.ndarray, k: int = 10, *,
                   fetch_k: int = 40, lambda_mult: float = 0.5) -> list[Hit]:
    """k chunks among the fetch_k nearest, chosen by maximal marginal relevance (near, yet unalike)."""
    candidates = _candidates(session, scope, query_vector, max(k, fetch_k), Strategy.EXACT, None)
    rows = _chunk_rows(session, [chunk_id for chunk_id, _ in candidates])
    if not candidates:
        return []
    vectors = np.stack([rows[chunk_id][-1].to_numpy() for chunk_id, _ in candidates])
    chosen = maximal_marginal_relevance(np.asarray(query_vector), vectors, lambda_mult=lambda_mult, k=k)
    return [_hit(rows[candidates[i][0]], candidates[i][1]) for i in chosen]


def _candidates(session: Session, scope: Scope, query_vector: np.ndarray, limit: int,
                strategy: Strategy, ef_search: int | None) -> list[tuple[int, float]]:
    """(chunk id, cosine distance) of the nearest chunks in scope, by the chosen strategy."""
    connection = driver_connection(session)
    if strategy is not Strategy.EXACT:
        _prepare_index_scan(session, strategy, ef_search)
    sql = _EXACT_CANDIDATES if strategy is Strategy.EXACT else \
        _INDEX_CANDIDATES.format(width=int(np.asarray(query_vector).shape[-1]))
    params = {"query": np.asarray(query_vector, dtype=np.float32), "limit": limit, "book_id": scope.book_id,
              "first": scope.first_chapter, "last": scope.last_chapter}
    return connection.execute(sql, params).fetchall()


def _prepare_index_scan(session: Session, strategy: Strategy, ef_search: int | None) -> None:
    """Set this transaction's HNSW knobs (SET LOCAL: they end with the unit of work)."""
    # Without this the planner sorts a selective filter's rows itself, which is EXACT again.
    session.execute(text("SELECT set_config('enable_sort', 'off', true)"))
    if ef_search:
        session.execute(text("SELECT set_config('hnsw.ef_search', :value, true)"), {"value": str(ef_search)})
    if strategy is Strategy.HNSW_ITERATIVE:
        if pgvector_version(session) < (0, 8):
            raise ConfigurationError("Iterative HNSW scans need pgvector 0.8 or later on the database server.")
        session.execute(text("SELECT set_config('hnsw.iterative_scan', 'strict_order', true)"))


def _chunk_rows(session: Session, ids: list[int]) -> dict[int, tuple]:
    """The rows of the given chunks (with their chapter's number and title), by id."""
    if not ids:
        return {}
    rows = driver_connection(session).execute(_HITS, {"ids": ids}).fetchall()
    return {row[0]: row for row in rows}


def _hit(row: tuple, distance: float) -> Hit:
    chunk_id, chapter_id, number, title, char_start, char_end, chunk_text, _ = row
    return Hit(chunk_id, chapter_id, number, title, char_start, char_end, chunk_text, 1.0 - float(distance))


def search_book(user_id: uuid.UUID, book_id: uuid.UUID, query: str, k: int = 10, *,
                first_chapter: int | None = None, last_chapter: int | None = None, use_mmr: bool = False,
                fetch_k: int = 40, lambda_mult: float = 0.5, embedder: Embeddings | None = None) -> list[Hit]:
    """The k passages of one of the writer's books closest in meaning to the query."""
    configured = embedder is None
    embedder = embedder or get_embedder()
    # Embedded before the transaction opens: no connection is held while the model runs.
    query_vector = np.asarray(embedder.embed_query(query), dtype=np.float32)
    scope = Scope(book_id, first_chapter, last_chapter)
    with unit_of_work(user_id) as session:
        indexed_with = session.scalar(select(Book.embedding_model).where(Book.id == book_id))
        if configured and indexed_with and indexed_with != embedder.model_name:
            raise PlotStudioError(f"This book was indexed with {indexed_with}, but Plot Studio now embeds with "
                                  f"{embedder.model_name}: re-index it (Book page, or `python -m core reindex`).")
        if use_mmr:
            return diverse_chunks(session, scope, query_vector, k, fetch_k=fetch_k, lambda_mult=lambda_mult)
        return nearest_chunks(session, scope, query_vector, k)


class BookRetriever(BaseRetriever):
    """LangChain retriever over one writer's book, optionally a range of its chapters."""

    user_id: uuid.UUID
    book_id: uuid.UUID
    k: int = 10
    first_chapter: int | None = None
    last_chapter: int | None = None
    use_mmr: bool = False
    fetch_k: int = 40
    lambda_mult: float = 0.5
    embeddings: Embeddings | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hits = search_book(self.user_id, self.book_id, query, self.k, first_chapter=self.first_chapter,
                           last_chapter=self.last_chapter, use_mmr=self.use_mmr, fetch_k=self.fetch_k,
                           lambda_mult=self.lambda_mult, embedder=self.embeddings)
        return [hit.as_document() for hit in hits]
