"""Ingest Pride and Prejudice end to end, timing each stage, and race the DB load against PGVector.

Run from the repository root: `.venv/bin/python -m bench.ingest` (see bench/README.md).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO.parent / "shared" / "corpus" / "pride_and_prejudice.txt"
BENCH_PYTHON = REPO / "bench" / ".venv" / "bin" / "python"
LOAD_RUNS = 9  # the DB loads take tens of milliseconds: compare medians, not one noisy run

timings: dict[str, float] = {}


@contextmanager
def stage(name: str):
    """Time the block under `name`."""
    started = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - started


def use_private_embedded_server() -> None:
    """Point the app at a fresh embedded Postgres in a temp dir (benches touch nothing else)."""
    for key in ("DATABASE_URL", "APP_DATABASE_URL", "EMBEDDING_BASE_URL"):
        os.environ.pop(key, None)
    os.environ["PLOTSTUDIO_DATA_DIR"] = tempfile.mkdtemp(prefix="plotstudio-bench-ingest-")


def parse_chunk_embed(data: bytes):
    """The work before the database: chapters, their chunks and the chunks' vectors."""
    from core.embeddings import get_embedder, packaged_model
    from core.ingest.chunking import chunk_text
    from core.ingest.formats import parse_book

    with stage("parse"):
        book = parse_book(BOOK.name, data, max_bytes=50 << 20, max_words=3_000_000)
    with stage("chunk"):
        chunks = [chunk_text(chapter.text) for chapter in book.chapters]
    with stage("load model"):
        packaged_model()
        embedder = get_embedder()
    with stage("embed"):
        vectors = embedder.encode([span.text for spans in chunks for span in spans])
    return book, chunks, vectors, embedder


def store(book, chunks, vectors, embedder, runs: int) -> list[float]:
    """Save the book, chapters and chunks `runs` times as one writer; return each chunk load's seconds."""
    import hashlib

    from core.index import ChapterChunks, store_book_chunks
    from core.services.accounts import sign_up
    from db.engine import unit_of_work
    from db.models import Book, Chapter

    writer = sign_up(f"bench-{time.time_ns()}@example.com", "bench-password-123")
    loads = []
    for run in range(runs):
        timed = stage if run == 0 else lambda _name: nullcontext()
        with unit_of_work(writer.id) as session:
            with timed("store chapters"):
                row = Book(user_id=writer.id, title=book.title, embedding_model=embedder.model_name,
                           embedding_dim=embedder.dimension)
                session.add(row)
                session.flush()
                chapters = [Chapter(book_id=row.id, user_id=writer.id, number=number, title=chapter.title,
                                    heading=chapter.heading, text=chapter.text,
                                    content_sha256=hashlib.sha256(chapter.text.encode()).hexdigest())
                            for number, chapter in enumerate(book.chapters, start=1)]
                session.add_all(chapters)
                session.flush()
            bounds = np.cumsum([0] + [len(spans) for spans in chunks])
            started = time.perf_counter()
            with timed("store chunks (binary COPY)"):
                store_book_chunks(session, book_id=row.id, user_id=writer.id, chapters=[
                    ChapterChunks(chapter.id, spans, vectors[start:end])
                    for chapter, spans, start, end in zip(chapters, chunks, bounds, bounds[1:])])
            loads.append(time.perf_counter() - started)
    return loads


def pgvector_load_seconds(chunks, vectors, runs: int) -> list[float] | None:
    """PGVector.add_embeddings on the same vectors, in bench/.venv (it pins an old pgvector)."""
    from db.engine import owner_url

    if not BENCH_PYTHON.exists():
        print("bench/.venv is missing: see bench/README.md to compare with PGVector", file=sys.stderr)
        return None
    with tempfile.TemporaryDirectory() as scratch:
        payload, matrix = Path(scratch) / "payload.json", Path(scratch) / "vectors.npy"
        metadatas = [{"chapter": number, "ordinal": s.ordinal, "char_start": s.char_start, "char_end": s.char_end}
                     for number, spans in enumerate(chunks, start=1) for s in spans]
        payload.write_text(json.dumps({"texts": [s.text for spans in chunks for s in spans],
                                       "metadatas": metadatas}))
        np.save(matrix, vectors)
        result = subprocess.run([str(BENCH_PYTHON), str(REPO / "bench" / "pgvector_load.py"), owner_url(),
                                 str(payload), str(matrix), str(runs)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])["seconds"]


def has_global_hnsw_index() -> bool:
    """Whether the migrated schema has an HNSW index on chunks (it costs every insert)."""
    from sqlalchemy import text

    from db.engine import owner_engine

    with owner_engine().connect() as connection:
        return bool(connection.execute(text(
            "SELECT 1 FROM pg_indexes WHERE tablename = 'chunks' AND indexdef ILIKE '%hnsw%'")).scalar())


def report(chunk_count: int, loads: list[float], pgvector_loads: list[float] | None, hnsw: bool) -> None:
    print(f"\nPride and Prejudice: {chunk_count} chunks, {os.cpu_count()} CPU cores, "
          f"global HNSW index on chunks: {'yes' if hnsw else 'no'}")
    for name, seconds in timings.items():
        print(f"  {name:<28} {seconds:8.3f} s")
    total = sum(timings.values())
    embedding = timings["embed"]
    rest = total - embedding - timings["load model"]
    print(f"  {'whole book':<28} {total:8.3f} s   (goal < 60 s)")
    print(f"  everything but the model: {rest:.3f} s = {rest / embedding:.3f} × embedding time (goal ≤ 0.2)")
    ours = statistics.median(loads)
    print(f"  DB load alone, {len(loads)} runs: {_ms(loads)} ms, median {ours * 1000:.1f} ms")
    if pgvector_loads is not None:
        theirs = statistics.median(pgvector_loads)
        print(f"  PGVector.add_embeddings, same vectors, {len(pgvector_loads)} runs: {_ms(pgvector_loads)} ms, "
              f"median {theirs * 1000:.1f} ms")
        print(f"  binary COPY is {theirs / ours:.1f}× faster on the medians, {pgvector_loads[0] / loads[0]:.1f}× "
              "on the first runs (goal ≥ 10×)")


def _ms(seconds: list[float]) -> str:
    return ", ".join(f"{s * 1000:.0f}" for s in seconds)


def main() -> None:
    use_private_embedded_server()
    from db import migrate

    migrate.upgrade()
    book, chunks, vectors, embedder = parse_chunk_embed(BOOK.read_bytes())
    loads = store(book, chunks, vectors, embedder, LOAD_RUNS)
    report(len(vectors), loads, pgvector_load_seconds(chunks, vectors, LOAD_RUNS), has_global_hnsw_index())


if __name__ == "__main__":
    main()
