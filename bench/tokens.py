"""Tokens the whole-book plot analysis sends, against the loopback OpenAI-protocol server (tiktoken counts).

Prints: prompt tokens / book tokens for a first run (goal ≤ 1.3: reading the book once is 1.0), then after editing
one chapter (goal ≤ 0.15), and the design's approach for contrast (it samples the first five chapters' search hits
and re-sends all of it on every run, so it never reads most of the book and caches nothing).

Run from the repository root: `.venv/bin/python -m bench.tokens [--book frankenstein.txt]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the loopback server lives with the tests

SUMMARY_WORDS = 110  # what a model's chapter summary runs to (the prompt asks for at most 120 words)


def use_private_embedded_server() -> None:
    for key in ("DATABASE_URL", "APP_DATABASE_URL", "EMBEDDING_BASE_URL", "LLM_BASE_URL", "LLM_API_KEY"):
        os.environ.pop(key, None)
    os.environ["PLOTSTUDIO_DATA_DIR"] = tempfile.mkdtemp(prefix="plotstudio-bench-tokens-")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def answer(body: dict, schema: dict | None) -> dict:
    """A model's answer of realistic length: a ~110-word summary, or a plot overview."""
    from openai_stub import SAMPLE, example_of
    properties = (schema or {}).get("properties", {})
    if "summary" in properties:
        words = (SAMPLE + " ").split() * (SUMMARY_WORDS // len(SAMPLE.split()) + 1)
        return {"summary": " ".join(words[:SUMMARY_WORDS]) + "."}
    return example_of(schema or {}, schema or {})


def design_prompt_tokens(book) -> tuple[int, float]:
    """The design's get_book_plot_context: 3 search hits per each of the first 5 chapters plus name counts."""
    import numpy as np

    from core.embeddings import get_embedder
    from core.engines.citations import nearest
    from core.ingest.chunking import count_tokens
    query = np.asarray(get_embedder().embed_query("themes, conflicts, character development"), dtype=np.float32)
    hits = nearest(book.chunks, query, 3)  # the design's search is not scoped to the chapter: same 3 hits x 5
    context = "\n\n".join(chunk.text for chunk, _ in hits) * 5
    mentions = " ".join(sorted({w for w in book.text.split() if w.istitle()})[:200])
    seen_chapters = {chunk.chapter_number for chunk, _ in hits}
    return count_tokens(context + mentions), len(seen_chapters) / len(book.chapters)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--book", default="frankenstein.txt", help="a file in tests/corpus")
    args = parser.parse_args()
    use_private_embedded_server()

    from openai_stub import OpenAIStub
    from core import jobs
    from core.config import get_settings
    from core.engines.reading import read_book
    from core.ingest.chunking import count_tokens
    from core.services import library, plot
    from core.services.accounts import sign_up
    from db import migrate

    migrate.upgrade()
    writer = sign_up("bench@example.com", "correct horse battery", is_admin=False)
    started = time.perf_counter()
    job_id = library.start_ingest(writer.id, args.book, (REPO / "tests" / "corpus" / args.book).read_bytes(),
                                  queue=False)
    jobs.run_job(str(job_id), str(writer.id), library.ingest_book, jobs.get_job(writer.id, job_id).params)
    book_id = jobs.get_job(writer.id, job_id).result["book_id"]
    print(f"ingested {args.book} in {time.perf_counter() - started:.1f} s")

    with OpenAIStub() as stub:
        stub.responder = answer
        os.environ.update({"LLM_BASE_URL": stub.url, "LLM_API_KEY": "bench"})
        get_settings.cache_clear()
        book_uuid = uuid.UUID(book_id)
        book = read_book(writer.id, book_uuid)
        book_tokens = sum(count_tokens(chapter.text) for chapter in book.chapters)

        def run(start) -> tuple[int, int]:
            before_tokens, before_calls = stub.prompt_tokens, len(stub.chat_requests())
            job = start()
            jobs.run_job(str(job), str(writer.id), plot.generate_plot_overview, jobs.get_job(writer.id, job).params)
            assert jobs.get_job(writer.id, job).status == "succeeded", jobs.get_job(writer.id, job).error
            return stub.prompt_tokens - before_tokens, len(stub.chat_requests()) - before_calls

        first, first_calls = run(lambda: plot.start_generation(writer.id, book_uuid, engine="llm", queue=False))
        chapters = [c for c in library.list_chapters(writer.id, book_uuid) if getattr(c, "kind", "chapter") == "chapter"]
        edited = sorted(chapters, key=lambda c: c.words)[len(chapters) // 2]  # a chapter of median length
        library.split_chapter(writer.id, edited.id, at_paragraph=max(1, edited.paragraphs // 2))
        again, again_calls = run(lambda: plot.start_refresh(writer.id, book_uuid, queue=False))

    design, coverage = design_prompt_tokens(book)
    print(f"book: {len(book.chapters)} chapters, {book_tokens:,} tokens (cl100k_base)")
    print(f"whole-book analysis, first run: {first:,} prompt tokens in {first_calls} calls = "
          f"{first / book_tokens:.3f} x the book (goal <= 1.3)")
    print(f"after editing chapter {getattr(edited, 'ordinal', None) or edited.number} ({edited.words:,} words): {again:,} prompt tokens in "
          f"{again_calls} calls = {again / book_tokens:.3f} x the book (goal <= 0.15)")
    print(f"the design's approach: {design:,} prompt tokens = {design / book_tokens:.3f} x the book on every run "
          f"(re-run after an edit: {design / book_tokens:.3f}, nothing cached), reading "
          f"{coverage:.0%} of the chapters; ours reads 100% for {first / max(design, 1):.1f}x its tokens once, then "
          f"{again / max(design, 1):.2f}x per edit")


if __name__ == "__main__":
    main()
