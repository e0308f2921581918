"""Search one book's chunks by meaning and by words, as the writer who owns it (RLS decides what is visible)."""

from __future__ import annotations

import enum
import re
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


class SearchMode(str, enum.Enum):
    """What a search matches on."""

    MEANING = "meaning"  # nearest vectors only
    WORDS = "words"  # Postgres full-text search only
    # Both lists fused by reciprocal rank: MiniLM alone misses quoted lines ("you must create a female for
    # me" finds Frankenstein's chapter 17 only by its words), words alone miss paraphrases.
    HYBRID = "hybrid"


# Reciprocal rank fusion (Cormack, Clarke & Büttcher 2009): score = Σ 1 / (RRF_K + rank in each list).
RRF_K = 60
# How deep each list goes before fusing: a hit at rank 50 of one list still beats one found by neither.
FUSION_DEPTH = 50


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
    score: float  # cosine similarity to the query, 1 is identical (words-only searches: 1 / rank in the words list)

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
# The words list: chunks holding every word of the query (websearch syntax: "quoted phrases", or, -not)
# first, then chunks holding some of them, each group by cover density. All-words alone found nothing
# for most paraphrases, so fusion had one list; some-words alone ranked a lone common name first.
_WORDS_RANKED = f"""
    SELECT c.id, row_number() OVER (
        ORDER BY c.search_vector @@ q.all_words DESC, ts_rank_cd(c.search_vector, q.some_words) DESC, c.id) AS rank
    FROM chunks c, (SELECT w AS all_words, replace(w::text, ' & ', ' | ')::tsquery AS some_words
                    FROM websearch_to_tsquery('english', %(words)s) AS w) AS q
    WHERE {_SCOPE_FILTER} AND c.search_vector @@ q.some_words
    ORDER BY rank LIMIT %(depth)s
"""
# Both lists and their fusion in one statement, scoped to the book (or a range of its chapters) like the
# exact scan above; the words list can use idx_chunks_search_vector (GIN) beside the book's btree.
_HYBRID_CANDIDATES = f"""
WITH scoped AS MATERIALIZED (
    SELECT c.id, c.embedding <=> %(query)s AS distance FROM chunks c WHERE {_SCOPE_FILTER}
),
by_meaning AS (
    SELECT id, row_number() OVER (ORDER BY distance, id) AS rank FROM scoped ORDER BY distance, id LIMIT %(depth)s
),
by_words AS ({_WORDS_RANKED})
SELECT f.id, s.distance FROM (
    SELECT coalesce(m.id, w.id) AS id,
           coalesce(1.0 / (%(rrf_k)s + m.rank), 0) + coalesce(1.0 / (%(rrf_k)s + w.rank), 0) AS fused
    FROM by_meaning m FULL JOIN by_words w ON w.id = m.id
) f JOIN scoped s ON s.id = f.id
ORDER BY f.fused DESC, f.id LIMIT %(limit)s
"""
# Words only, the same list hybrid fuses (no vector, so the score is 1 / rank, not a similarity).
_WORD_CANDIDATES = f"""
SELECT id, 1 - 1.0 / rank AS distance FROM ({_WORDS_RANKED}) AS by_words ORDER BY rank
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
    return _hits(session, _candidates(session, scope, query_vector, k, strategy, ef_search))


def hybrid_chunks(session: Session, scope: Scope, query_vector: np.ndarray, query: str, k: int = 10) -> list[Hit]:
    """The k chunks in scope ranked by meaning and by words at once (reciprocal rank fusion), best first."""
    params = {"query": np.asarray(query_vector, dtype=np.float32), "words": query, "limit": k,
              "depth": max(k, FUSION_DEPTH), "rrf_k": RRF_K, **_scope_params(scope)}
    return _hits(session, driver_connection(session).execute(_HYBRID_CANDIDATES, params).fetchall())


def word_chunks(session: Session, scope: Scope, query: str, k: int = 10) -> list[Hit]:
    """The k chunks in scope holding the query's words (all of them first, then some), best first."""
    params = {"words": query, "depth": k, **_scope_params(scope)}
    return _hits(session, driver_connection(session).execute(_WORD_CANDIDATES, params).fetchall())


def _scope_params(scope: Scope) -> dict:
    return {"book_id": scope.book_id, "first": scope.first_chapter, "last": scope.last_chapter}


def _hits(session: Session, candidates: list[tuple[int, float]]) -> list[Hit]:
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
    params = {"query": np.asarray(query_vector, dtype=np.float32), "limit": limit, **_scope_params(scope)}
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
                fetch_k: int = 40, lambda_mult: float = 0.5, embedder: Embeddings | None = None,
                mode: SearchMode = SearchMode.HYBRID) -> list[Hit]:
    """The k passages of one of the writer's books that best answer the query, by meaning and by words."""
    scope = Scope(book_id, first_chapter, last_chapter)
    if mode is SearchMode.WORDS and not use_mmr:
        with unit_of_work(user_id) as session:
            return word_chunks(session, scope, query, k)
    configured = embedder is None
    embedder = embedder or get_embedder()
    # Embedded before the transaction opens: no connection is held while the model runs.
    query_vector = np.asarray(embedder.embed_query(query), dtype=np.float32)
    with unit_of_work(user_id) as session:
        indexed_with = session.scalar(select(Book.embedding_model).where(Book.id == book_id))
        if configured and indexed_with and indexed_with != embedder.model_name:
            raise PlotStudioError(f"This book was indexed with {indexed_with}, but Plot Studio now embeds with "
                                  f"{embedder.model_name}: re-index it (Book page, or `python -m core reindex`).")
        if use_mmr:
            return diverse_chunks(session, scope, query_vector, k, fetch_k=fetch_k, lambda_mult=lambda_mult)
        if mode is SearchMode.HYBRID:
            return hybrid_chunks(session, scope, query_vector, query, k)
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
    mode: SearchMode = SearchMode.HYBRID

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hits = search_book(self.user_id, self.book_id, query, self.k, first_chapter=self.first_chapter,
                           last_chapter=self.last_chapter, use_mmr=self.use_mmr, fetch_k=self.fetch_k,
                           lambda_mult=self.lambda_mult, embedder=self.embeddings, mode=self.mode)
        return [hit.as_document() for hit in hits]


# Words too common to be worth marking in a passage.
_UNMARKED = frozenset("""a an and are as at be but by for from had has have he her him his i if in into is it its me
my no not of on or our she so than that the their them then there they this to was we were what when which who
will with you your""".split())
_WORD = re.compile(r"[\w']+")


def highlight_words(passage: str, query: str) -> list[tuple[str, bool]]:
    """The passage cut into (piece, matched) where matched pieces are whole words of the query (any case).

    Whole words only: "with" does not mark the start of "without"; a plural or possessive still counts.
    Common words are marked only when the query has nothing else.
    """
    asked = {word.lower().strip("'") for word in _WORD.findall(query)} - {""}
    wanted = asked - _UNMARKED or asked
    pieces, last = [], 0
    for match in _WORD.finditer(passage):
        word = match.group().strip("'")
        if not wanted & _forms(word.lower()):
            continue
        start = passage.index(word, match.start())
        pieces += [(passage[last:start], False), (word, True)]
        last = start + len(word)
    pieces.append((passage[last:], False))
    return [piece for piece in pieces if piece[0]]


def _forms(word: str) -> set[str]:
    """The word and what it may be the plural or possessive of."""
    forms = {word}
    for ending in ("'s", "es", "s"):
        if word.endswith(ending) and len(word) > len(ending) + 1:
            forms.add(word[:-len(ending)])
    return forms
