"""Storing chunks and searching a book: exact offsets, k results always, RLS, chapter ranges, MMR."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from sqlalchemy import select

from core.errors import ConfigurationError
from core.index import delete_chapter_chunks, store_chunks
from core.ingest.chunking import ChunkSpan, chunk_text
from core.retrieval import BookRetriever, Scope, SearchMode, Strategy, highlight_words, nearest_chunks, search_book
from db.engine import unit_of_work
from db.models import Book, Chapter, Chunk

WIDTH = 384  # the packaged model's; the column takes any width


def basis(i: int, j: int | None = None) -> np.ndarray:
    """Unit vector along axis i, leaning a little towards axis j: nearest is i, then j, then the rest."""
    vector = np.zeros(WIDTH, dtype=np.float32)
    vector[i] = 1.0
    if j is not None:
        vector[j] = 0.2
    return vector / np.linalg.norm(vector)


class AxisEmbeddings(Embeddings):
    """Deterministic fake: the query "7" or "7>8" points along axis 7 (leaning towards 8)."""

    def embed_query(self, text: str) -> list[float]:
        first, _, second = text.partition(">")
        return basis(int(first), int(second) if second else None).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]


def spans_of(texts: list[str]) -> tuple[str, list[ChunkSpan]]:
    """A chapter text made of the given passages, and one span per passage."""
    spans, offset = [], 0
    for ordinal, passage in enumerate(texts):
        spans.append(ChunkSpan(ordinal, offset, offset + len(passage), passage, len(passage.split())))
        offset += len(passage) + 2
    return "\n\n".join(texts), spans


def add_book(writer, chapters: list[list[str]], first_axis: int = 0) -> tuple:
    """A book of the writer's whose passage n (counted across chapters) lies along axis first_axis + n."""
    axis = first_axis
    with unit_of_work(writer.id) as session:
        book = Book(user_id=writer.id, title="Test book")
        session.add(book)
        session.flush()
        for number, passages in enumerate(chapters, start=1):
            chapter_text, spans = spans_of(passages)
            chapter = Chapter(book_id=book.id, user_id=writer.id, number=number, title=f"Chapter {number}",
                              text=chapter_text, content_sha256=hashlib.sha256(chapter_text.encode()).hexdigest())
            session.add(chapter)
            session.flush()
            vectors = np.stack([basis(axis + i) for i in range(len(spans))])
            store_chunks(session, book_id=book.id, user_id=writer.id, chapter_id=chapter.id,
                         spans=spans, vectors=vectors)
            axis += len(spans)
    return book.id


def one_chapter_book(session, writer, chapter_text: str, **book_fields) -> tuple[Book, Chapter]:
    """A book of the writer's holding one chapter with this text (no chunks yet)."""
    book = Book(user_id=writer.id, **book_fields)
    session.add(book)
    session.flush()
    chapter = Chapter(book_id=book.id, user_id=writer.id, number=1, title="One", text=chapter_text,
                      content_sha256=hashlib.sha256(chapter_text.encode()).hexdigest())
    session.add(chapter)
    session.flush()
    return book, chapter


def passages(count: int, prefix: str = "p") -> list[str]:
    return [f"{prefix}{i} passage text." for i in range(count)]


def test_stored_chunks_keep_order_and_exact_offsets(writer_a):
    chapter_text = "\n\n".join(f"Paragraph {i}. It has two sentences." for i in range(80))
    spans = chunk_text(chapter_text, target_tokens=30, max_tokens=40, overlap_tokens=8)
    with unit_of_work(writer_a.id) as session:
        book, chapter = one_chapter_book(session, writer_a, chapter_text, title="Offsets")
        vectors = np.stack([basis(i % WIDTH) for i in range(len(spans))])
        ids = store_chunks(session, book_id=book.id, user_id=writer_a.id, chapter_id=chapter.id,
                           spans=spans, vectors=vectors)
        rows = session.scalars(select(Chunk).where(Chunk.chapter_id == chapter.id).order_by(Chunk.id)).all()
    assert ids == sorted(ids) and [row.id for row in rows] == ids
    assert [row.ordinal for row in rows] == list(range(len(spans)))
    assert all(row.text == chapter_text[row.char_start:row.char_end] for row in rows)
    assert np.allclose(np.asarray(rows[3].embedding), vectors[3], atol=1e-6)


def test_store_chunks_twice_in_one_transaction_and_delete(writer_a):
    book_id = add_book(writer_a, [passages(3), passages(4)])
    with unit_of_work(writer_a.id) as session:
        chapter_ids = session.scalars(select(Chapter.id).where(Chapter.book_id == book_id)
                                      .order_by(Chapter.number)).all()
        assert delete_chapter_chunks(session, chapter_ids[0]) == 3
        assert session.scalars(select(Chunk.chapter_id).where(Chunk.book_id == book_id)).all() == [chapter_ids[1]] * 4


def test_vectors_without_width_are_refused(writer_a):
    _, spans = spans_of(passages(2))
    with unit_of_work(writer_a.id) as session, pytest.raises(ConfigurationError):
        store_chunks(session, book_id=writer_a.id, user_id=writer_a.id, chapter_id=writer_a.id,
                     spans=spans, vectors=np.zeros((2, 0), dtype=np.float32))


def test_nearest_first_with_chapter_metadata(writer_a):
    book_id = add_book(writer_a, [passages(5, "a"), passages(5, "b")])
    hits = search_book(writer_a.id, book_id, "7>2", k=3, embedder=AxisEmbeddings())
    assert [h.text for h in hits[:2]] == ["b2 passage text.", "a2 passage text."]
    assert hits[0].chapter_number == 2 and hits[0].chapter_title == "Chapter 2"
    assert hits[0].score == pytest.approx(1 / np.sqrt(1.04), abs=1e-5)
    assert hits[0].score > hits[1].score > hits[2].score


def test_always_k_results_and_all_when_fewer(writer_a):
    small = add_book(writer_a, [passages(4)])
    large = add_book(writer_a, [passages(30), passages(30)], first_axis=100)
    assert len(search_book(writer_a.id, small, "0", k=10, embedder=AxisEmbeddings())) == 4
    hits = search_book(writer_a.id, large, "0", k=10, embedder=AxisEmbeddings())
    assert len(hits) == 10 and len({h.chunk_id for h in hits}) == 10


def test_another_writer_never_sees_the_book(writer_a, writer_b):
    book_a = add_book(writer_a, [passages(12)])
    add_book(writer_b, [passages(12, "theirs")])
    assert search_book(writer_b.id, book_a, "3", k=10, embedder=AxisEmbeddings()) == []
    own = search_book(writer_a.id, book_a, "3", k=10, embedder=AxisEmbeddings())
    assert len(own) == 10 and all(h.text.startswith("p") for h in own)


def test_a_writer_cannot_store_chunks_into_another_writers_book(writer_a, writer_b):
    book_a = add_book(writer_a, [passages(2)])
    with unit_of_work(writer_a.id) as session:
        chapter_id = session.scalars(select(Chapter.id).where(Chapter.book_id == book_a)).one()
    _, spans = spans_of(passages(2))
    with pytest.raises(Exception, match="row-level security|violates"):
        with unit_of_work(writer_b.id) as session:
            store_chunks(session, book_id=book_a, user_id=writer_a.id, chapter_id=chapter_id,
                         spans=spans, vectors=np.stack([basis(0), basis(1)]))


def test_chapter_range_filter(writer_a):
    book_id = add_book(writer_a, [passages(4, "one"), passages(4, "two"), passages(4, "three")])
    hits = search_book(writer_a.id, book_id, "0", k=10, first_chapter=2, last_chapter=2, embedder=AxisEmbeddings())
    assert len(hits) == 4 and {h.chapter_number for h in hits} == {2}
    from_two = search_book(writer_a.id, book_id, "0", k=10, first_chapter=2, embedder=AxisEmbeddings())
    assert len(from_two) == 8 and {h.chapter_number for h in from_two} == {2, 3}
    up_to_one = search_book(writer_a.id, book_id, "0", k=10, last_chapter=1, embedder=AxisEmbeddings())
    assert {h.chapter_number for h in up_to_one} == {1}


def test_mmr_returns_k_distinct_chunks(writer_a):
    book_id = add_book(writer_a, [passages(40)])
    hits = search_book(writer_a.id, book_id, "5>6", k=8, use_mmr=True, fetch_k=20, embedder=AxisEmbeddings())
    assert len(hits) == 8 and len({h.chunk_id for h in hits}) == 8
    assert hits[0].text == "p5 passage text."


def test_retriever_returns_documents_with_metadata(writer_a):
    book_id = add_book(writer_a, [passages(6)])
    retriever = BookRetriever(user_id=writer_a.id, book_id=book_id, k=2, embeddings=AxisEmbeddings())
    documents = retriever.invoke("4")
    assert [d.page_content for d in documents][0] == "p4 passage text."
    assert set(documents[0].metadata) == {"chunk_id", "chapter_id", "chapter_number", "chapter_title",
                                          "char_start", "char_end", "score"}


def test_index_scan_strategy_runs_for_the_bench(writer_a):
    book_id = add_book(writer_a, [passages(12)])
    with unit_of_work(writer_a.id) as session:
        hits = nearest_chunks(session, Scope(book_id), basis(3), 5, strategy=Strategy.HNSW, ef_search=100)
    assert hits and hits[0].text == "p3 passage text."


def test_real_model_finds_the_passage_about_its_query(writer_a):
    from core.embeddings import get_embedder

    embedder = get_embedder()
    texts = ["The ship sailed out of the harbour at dawn, its white sails full of wind.",
             "She baked bread and a cherry pie for the village fair.",
             "The lawyer read the will aloud to the silent family.",
             "Snow covered the mountain pass and the travellers turned back."]
    chapter_text, spans = spans_of(texts)
    vectors = embedder.encode(texts)
    assert vectors.shape == (4, embedder.dimension) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    with unit_of_work(writer_a.id) as session:
        book, chapter = one_chapter_book(session, writer_a, chapter_text, title="Real",
                                         embedding_model=embedder.model_name, embedding_dim=embedder.dimension)
        store_chunks(session, book_id=book.id, user_id=writer_a.id, chapter_id=chapter.id, spans=spans,
                     vectors=vectors)
    hits = search_book(writer_a.id, book.id, "a boat leaving port in the morning", k=4)
    assert len(hits) == 4 and hits[0].text == texts[0]


class FixedEmbeddings(Embeddings):
    """Deterministic fake whose every query points along one axis, whatever its words."""

    def __init__(self, axis: int):
        self.axis = axis

    def embed_query(self, text: str) -> list[float]:
        return basis(self.axis).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]


QUOTE = "You must create a female for me, with whom I can live in the interchange of sympathies."


def test_hybrid_search_finds_a_quoted_line_that_meaning_alone_misses(writer_a):
    texts = passages(30)
    texts[25] = QUOTE
    book_id = add_book(writer_a, [texts[:15], texts[15:]])
    pointing_elsewhere = FixedEmbeddings(0)
    meaning = search_book(writer_a.id, book_id, "create a female", k=5, embedder=pointing_elsewhere,
                          mode=SearchMode.MEANING)
    assert QUOTE not in [h.text for h in meaning] and meaning[0].text == "p0 passage text."
    hybrid = search_book(writer_a.id, book_id, "create a female", k=5, embedder=pointing_elsewhere)
    assert hybrid[0].text == QUOTE and hybrid[0].chapter_number == 2  # found by both lists, so it leads
    assert hybrid[1].text == "p0 passage text." and len({h.chunk_id for h in hybrid}) == 5
    words = search_book(writer_a.id, book_id, '"create a female"', k=5, mode=SearchMode.WORDS)
    assert [h.text for h in words] == [QUOTE]  # stemmed phrase match, nothing else holds those words
    assert search_book(writer_a.id, book_id, "creating females", k=5, mode=SearchMode.WORDS)[0].text == QUOTE
    assert search_book(writer_a.id, book_id, "the rhinoceros", k=5, mode=SearchMode.WORDS) == []


def test_chunks_holding_every_word_rank_before_chunks_holding_some(writer_a):
    texts = ["A female walked by.", "She would create nothing.", "Create a female, he said.", "Nothing here."]
    book_id = add_book(writer_a, [texts])
    words = search_book(writer_a.id, book_id, "create female", k=5, mode=SearchMode.WORDS)
    assert [h.text for h in words][0] == "Create a female, he said."
    assert sorted(h.text for h in words[1:]) == ["A female walked by.", "She would create nothing."]


def test_hybrid_search_stays_inside_one_book_its_chapter_range_and_its_writer(writer_a, writer_b):
    mine = add_book(writer_a, [passages(5, "a"), [QUOTE] + passages(4, "b")])
    other_book = add_book(writer_a, [[QUOTE, QUOTE]])
    theirs = add_book(writer_b, [[QUOTE]])
    hits = search_book(writer_a.id, mine, "female", k=20, embedder=FixedEmbeddings(0))
    assert len(hits) == 10 and [h.text for h in hits].count(QUOTE) == 1  # every chunk of the book, once
    assert all(h.chunk_id not in {o.chunk_id for o in search_book(writer_a.id, other_book, "female", k=5,
                                                                  embedder=FixedEmbeddings(0))} for h in hits)
    first_only = search_book(writer_a.id, mine, "female", k=20, last_chapter=1, embedder=FixedEmbeddings(0))
    assert {h.chapter_number for h in first_only} == {1} and QUOTE not in [h.text for h in first_only]
    assert search_book(writer_b.id, mine, "female", k=5, embedder=FixedEmbeddings(0)) == []
    assert search_book(writer_a.id, theirs, "female", k=5, mode=SearchMode.WORDS) == []


def test_the_retriever_searches_by_words_too(writer_a):
    texts = passages(12)
    texts[9] = QUOTE
    book_id = add_book(writer_a, [texts])
    retriever = BookRetriever(user_id=writer_a.id, book_id=book_id, k=2, embeddings=FixedEmbeddings(0))
    assert retriever.invoke("a female companion")[0].page_content == QUOTE


def marked(passage: str, query: str) -> list[str]:
    return [piece for piece, matched in highlight_words(passage, query) if matched]


def test_highlights_mark_whole_words_of_the_query_only():
    passage = "Without a word, the Creature's companions went with him; WITH them, a female."
    assert marked(passage, "with") == ["with", "WITH"]  # never the start of "Without"
    assert marked(passage, "creature companion female") == ["Creature's", "companions", "female"]
    assert marked(passage, "the creature") == ["Creature's"]  # common words only when nothing else is asked
    assert "".join(piece for piece, _ in highlight_words(passage, "with female")) == passage
    assert marked(passage, "") == [] and marked(passage, "cre") == []
