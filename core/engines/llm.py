"""The model engine: chains `prompt | model.with_structured_output(Schema)` through core.generation.

Plot overview = map-reduce over the whole book: every chapter summarised once (cached in chapter_summaries by
content hash + model + prompt version; a long chapter in pieces, never truncated), then the overview written
from all the summaries plus the passages retrieved for each field. Editing one chapter re-summarises only it.
"""

from __future__ import annotations

import re
import uuid

import numpy as np
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from core.artefacts import ChapterDigest, CitedPlotOverview, PlotOverview, PlotOverviewDraft
from core.config import Tier, get_settings
from core.embeddings import get_embedder
from core.engines import EngineResult, PlotRequest, ScriptRequest
from core.engines.citations import cite, nearest
from core.engines.reading import BookText, ChapterText, ChunkText
from core.errors import PlotGenerationError, PlotStudioError
from core.generation import Usage, generate_structured
from core.ingest.chunking import count_tokens, tokenizer
from core.prompts import load_prompt
from db.engine import unit_of_work
from db.models import ChapterSummary

PASSAGES_PER_FIELD = 3
# What each field's passages are retrieved with, and which passages each overview field cites.
FIELD_QUERIES = {
    "conflict": "what the main character wants, who or what stands against them, the quarrel at the heart of it",
    "setting": "where and when the story happens: the towns, houses, landscapes and journeys, and the period",
    "themes": "what the story is about underneath: love, pride, ambition, guilt, family, money, justice",
    "tone": "the mood of the telling: comic and ironic, dark and despairing, tender, suspenseful",
}
CITED_FROM = {"logline": "conflict", "story_type": "conflict", "genre": "tone", "tone": "tone",
              "audience": "tone", "themes": "themes", "setting": "setting"}


def summary_version(piece_tokens: int) -> str:
    """What a cached summary depends on besides the text and the model: the prompt and the piece size."""
    return f"{load_prompt('chapter_summary').label}/{piece_tokens}"


def _units(paragraph: str, max_tokens: int) -> list[str]:
    """A paragraph as units of at most max_tokens: itself, its sentences, or token windows of a huge sentence."""
    if count_tokens(paragraph) <= max_tokens:
        return [paragraph]
    units = []
    for sentence in re.split(r"(?<=[.!?])\s+", paragraph):
        if count_tokens(sentence) <= max_tokens:
            units.append(sentence)
        else:
            ids = tokenizer().encode_ordinary(sentence)
            units += [tokenizer().decode(ids[i:i + max_tokens]) for i in range(0, len(ids), max_tokens)]
    return units


def pieces_of(text: str, max_tokens: int) -> list[str]:
    """The text in consecutive pieces of at most max_tokens, split at paragraphs, then sentences; nothing dropped."""
    pieces, current, size = [], [], 0
    for paragraph in text.split("\n\n"):
        for unit in _units(paragraph, max_tokens):
            tokens = count_tokens(unit)
            if current and size + tokens > max_tokens:
                pieces.append("\n\n".join(current))
                current, size = [], 0
            current.append(unit)
            size += tokens
    if current:
        pieces.append("\n\n".join(current))
    return pieces


def _cached_summaries(user_id: uuid.UUID, book_id: uuid.UUID, model: str, version: str) -> dict[str, str]:
    with unit_of_work(user_id) as session:
        rows = session.execute(select(ChapterSummary.content_sha256, ChapterSummary.summary).where(
            ChapterSummary.book_id == book_id, ChapterSummary.model == model,
            ChapterSummary.prompt_version == version)).all()
    return {sha: summary for sha, summary in rows}


def summarise_chapters(request: PlotRequest, usage: Usage) -> list[tuple[ChapterText, str]]:
    """Every chapter's summary: cached ones read, missing ones written now (each stored as soon as it exists)."""
    settings = get_settings()
    book, model = request.book, settings.model_for(request.tier)
    version = summary_version(settings.summary_piece_tokens)
    cached = _cached_summaries(request.user_id, book.id, model, version)
    prompt = load_prompt("chapter_summary")
    total = len(book.chapters) + 1
    out = []
    for done, chapter in enumerate(book.chapters, start=1):
        summary = cached.get(chapter.content_sha256)
        was_cached = summary is not None
        if summary is None:
            pieces = pieces_of(chapter.text, settings.summary_piece_tokens)
            parts, spent = [], Usage()
            for index, piece in enumerate(pieces, start=1):
                label = f"Chapter {chapter.number}: {chapter.title}" + (
                    f" (part {index} of {len(pieces)})" if len(pieces) > 1 else "")
                result = generate_structured(prompt, {"book_title": book.title, "chapter_label": label, "text": piece},
                                             ChapterDigest, tier=request.tier, user_id=request.user_id,
                                             error=PlotGenerationError)
                spent.add(result.usage)
                parts.append(result.value.summary)
            summary = " ".join(parts)
            usage.add(spent)
            with unit_of_work(request.user_id) as session:
                session.execute(insert(ChapterSummary).values(
                    book_id=book.id, user_id=request.user_id, content_sha256=chapter.content_sha256, model=model,
                    prompt_version=version, summary=summary, tokens_in=spent.tokens_in, tokens_out=spent.tokens_out,
                ).on_conflict_do_nothing())
            cached[chapter.content_sha256] = summary
        out.append((chapter, summary))
        request.progress(done, total, f"Read chapter {chapter.number} of {len(book.chapters)}"
                                      + (" (already read)" if was_cached else ""))
    return out


def retrieve_passages(book: BookText) -> dict[str, list[ChunkText]]:
    """For each field's question, the book's closest passages (the writer's chapters only)."""
    embedder = get_embedder()
    if book.embedding_model and book.embedding_model != embedder.model_name:
        raise PlotStudioError(f"This book was indexed with {book.embedding_model}, but Plot Studio now embeds with "
                              f"{embedder.model_name}: re-index it (Book page) before generating.")
    vectors = np.asarray(embedder.embed_documents(list(FIELD_QUERIES.values())), dtype=np.float32)
    return {field: [chunk for chunk, _ in nearest(book.chunks, vector, PASSAGES_PER_FIELD)]
            for field, vector in zip(FIELD_QUERIES, vectors)}


def _render_passages(passages: dict[str, list[ChunkText]]) -> str:
    return "\n\n".join(f"[{field}] (chapter {chunk.chapter_number}) {chunk.text.strip()}"
                       for field, chunks in passages.items() for chunk in chunks)


class LlmEngine:
    name = "llm"

    def plot_overview(self, request: PlotRequest) -> EngineResult:
        settings = get_settings()
        usage = Usage(model=settings.model_for(request.tier), tier=Tier(request.tier).value)
        summaries = summarise_chapters(request, usage)
        passages = retrieve_passages(request.book)
        prompt = load_prompt("plot_overview")
        request.progress(len(summaries), len(summaries) + 1, "Writing the overview from the whole book…")
        try:
            result = generate_structured(prompt, {
                "book_title": request.book.title,
                "chapter_summaries": "\n".join(f"{c.number}. {s}" for c, s in summaries),
                "passages": _render_passages(passages),
                "custom_instructions": (request.instructions or "").strip() or "none",
            }, PlotOverviewDraft, tier=request.tier, user_id=request.user_id, error=PlotGenerationError)
        except PlotGenerationError as exc:
            exc.usage = usage.add(getattr(exc, "usage", Usage()))
            raise
        usage.add(result.usage)
        usage.method = result.usage.method
        overview = PlotOverview(**result.value.model_dump())
        values = overview.model_dump()
        citations = {field: cite(passages[source], str(values[field])) for field, source in CITED_FROM.items()}
        label = f"{usage.model} ({usage.method})"
        chunk_ids = sorted({chunk.id for chunks in passages.values() for chunk in chunks})
        return EngineResult(CitedPlotOverview(overview=overview, citations=citations, label=label), usage, chunk_ids,
                            prompt.name, prompt.version)

    def chapter_script(self, request: ScriptRequest) -> EngineResult:
        from core.engines.llm_script import chapter_script
        return chapter_script(request)

    def enhance_script(self, request: ScriptRequest) -> EngineResult:
        from core.engines.llm_script import enhance_script
        return enhance_script(request)
