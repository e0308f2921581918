"""Typed models of the schema that migration 0001 creates (a test checks they agree)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import ARRAY, BigInteger, Boolean, CHAR, Computed, ForeignKey, Identity, LargeBinary, Numeric, String, Text
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP, TSVECTOR, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {
        uuid.UUID: UUID(as_uuid=True),
        datetime: TIMESTAMP(timezone=True),
        dict[str, Any]: JSONB,
        list[Any]: JSONB,
    }


def _id() -> Mapped[uuid.UUID]:
    return mapped_column(primary_key=True, server_default=sql_text("gen_random_uuid()"))


def _owner(*, nullable: bool = False) -> Mapped[uuid.UUID]:
    return mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=nullable)


def _book() -> Mapped[uuid.UUID]:
    return mapped_column(ForeignKey("books.id", ondelete="CASCADE"))


def _now() -> Mapped[datetime]:
    """created_at / updated_at (a trigger keeps updated_at current)."""
    return mapped_column(server_default=sql_text("now()"))


def _json(default: str) -> Any:
    return mapped_column(JSONB, server_default=sql_text(f"'{default}'"))


class Versioned:
    """Columns every versioned artefact shares: a save INSERTs version n+1, never UPDATEs."""

    version: Mapped[int] = mapped_column(server_default=sql_text("1"))
    status: Mapped[str] = mapped_column(String(20), server_default=sql_text("'active'"))


class Provenance:
    """How an artefact was made: engine, model, tokens, cost, the chunks it rests on."""

    generation_method: Mapped[str] = mapped_column(String(50), server_default=sql_text("'offline'"))
    model_used: Mapped[str | None] = mapped_column(String(100))
    tokens_in: Mapped[int] = mapped_column(server_default=sql_text("0"))
    tokens_out: Mapped[int] = mapped_column(server_default=sql_text("0"))
    generation_cost: Mapped[Decimal] = mapped_column(Numeric(10, 6), server_default=sql_text("0"))
    source_chunk_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), server_default=sql_text("'{}'"))
    prompt_name: Mapped[str | None] = mapped_column(String(100))
    prompt_version: Mapped[str | None] = mapped_column(String(20))
    duration_ms: Mapped[int | None]


class User(Base):
    __tablename__ = "users"
    id: Mapped[uuid.UUID] = _id()
    email: Mapped[str] = mapped_column(Text)
    # The app role may write it but never read it: deferred, so loading a user never selects it.
    password_hash: Mapped[str | None] = mapped_column(Text, deferred=True)
    display_name: Mapped[str | None] = mapped_column(Text)
    is_admin: Mapped[bool] = mapped_column(server_default=sql_text("false"))
    tier: Mapped[str] = mapped_column(String(20), server_default=sql_text("'FREE'"))
    oidc_issuer: Mapped[str | None] = mapped_column(
        Text, comment="single sign-on identity is (issuer, subject), never the email")
    oidc_subject: Mapped[str | None] = mapped_column(Text)
    last_sign_in_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class UserSession(Base):
    __tablename__ = "user_sessions"
    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID] = _owner()
    token_hash: Mapped[str] = mapped_column(Text, unique=True)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _now()


class Book(Base):
    __tablename__ = "books"
    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID] = _owner()
    title: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    source_filename: Mapped[str | None] = mapped_column(Text)
    source_format: Mapped[str | None] = mapped_column(String(10))
    source_sha256: Mapped[str | None] = mapped_column(CHAR(64))
    status: Mapped[str] = mapped_column(String(20), server_default=sql_text("'processing'"))
    error: Mapped[str | None] = mapped_column(Text)
    split_method: Mapped[str | None] = mapped_column(String(30))
    notes: Mapped[list[Any]] = _json("[]")
    word_count: Mapped[int] = mapped_column(server_default=sql_text("0"))
    embedding_model: Mapped[str | None] = mapped_column(Text)
    embedding_dim: Mapped[int | None]
    splitter_version: Mapped[str | None] = mapped_column(
        String(20), comment="version of the chapter splitter that made the chapters (a newer one can offer a re-split)")
    split_parameters: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=sql_text("'{}'"), comment="the splitter's thresholds when the chapters were made")
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class BookSource(Base):
    """The uploaded file as it came, so any worker can (re)ingest it."""

    __tablename__ = "book_sources"
    book_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = _owner()
    filename: Mapped[str] = mapped_column(Text)
    data: Mapped[bytes]
    created_at: Mapped[datetime] = _now()


class Chapter(Base):
    __tablename__ = "chapters"
    id: Mapped[uuid.UUID] = _id()
    book_id: Mapped[uuid.UUID] = _book()
    user_id: Mapped[uuid.UUID] = _owner()
    number: Mapped[int] = mapped_column(comment="reading order in the book, 1 first")
    heading: Mapped[str] = mapped_column(Text, server_default=sql_text("''"))
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    word_count: Mapped[int] = mapped_column(server_default=sql_text("0"))
    content_sha256: Mapped[str] = mapped_column(CHAR(64))
    kind: Mapped[str] = mapped_column(
        String(20), server_default=sql_text("'chapter'"),
        comment="chapter, or front/back matter (title page, preface, index...): kept, but not numbered as a chapter")
    merge_seams: Mapped[list[Any]] = mapped_column(
        JSONB, server_default=sql_text("'[]'"),
        comment="where merges joined chapters into this one: [{at, heading, title}], so a split there restores them")
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class Chunk(Base):
    __tablename__ = "chunks"
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    book_id: Mapped[uuid.UUID] = _book()
    chapter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("chapters.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = _owner()
    ordinal: Mapped[int]
    char_start: Mapped[int] = mapped_column(
        comment="offset of the chunk in its chapter's text, so a citation can be shown in place")
    char_end: Mapped[int]
    token_count: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    embedding: Mapped[Any | None] = mapped_column(
        Vector(), comment="any width: every chunk of a book has books.embedding_dim numbers (searches never cross books)")
    search_vector: Mapped[Any | None] = mapped_column(
        TSVECTOR, Computed("to_tsvector('english'::regconfig, text)", persisted=True),
        comment="the chunk's words (english stemming), for the words half of hybrid search")
    created_at: Mapped[datetime] = _now()


class PlotOverview(Versioned, Provenance, Base):
    __tablename__ = "plot_overviews"
    id: Mapped[uuid.UUID] = _id()
    book_id: Mapped[uuid.UUID] = _book()
    user_id: Mapped[uuid.UUID] = _owner()
    logline: Mapped[str | None] = mapped_column(Text)
    themes: Mapped[list[Any]] = _json("[]")
    story_type: Mapped[str | None] = mapped_column(String(50))
    genre: Mapped[str | None] = mapped_column(String(50))
    tone: Mapped[str | None] = mapped_column(String(50))
    audience: Mapped[str | None] = mapped_column(String(50))
    setting: Mapped[str | None] = mapped_column(Text)
    citations: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=sql_text("'{}'"), comment="field name -> list of chunk ids the field rests on")
    based_on_version: Mapped[int | None]
    custom_instructions: Mapped[str | None] = mapped_column(Text, comment="the writer's instructions that steered generation")
    origin: Mapped[str] = mapped_column(
        String(20), server_default=sql_text("'generated'"), comment="generated, edited, restored or refreshed")
    chapter_hashes: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=sql_text("'{}'"),
        comment="chapter id -> content hash the overview was generated from (stale when they differ)")
    provenance: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=sql_text("'{}'"),
        comment="how it was made beyond the provenance columns: label, tier, structured-output method, calls, cache hits")
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class Character(Versioned, Provenance, Base):
    __tablename__ = "characters"
    id: Mapped[uuid.UUID] = _id()
    character_key: Mapped[uuid.UUID] = mapped_column(
        server_default=sql_text("gen_random_uuid()"), comment="the same character across its versions")
    plot_overview_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("plot_overviews.id", ondelete="SET NULL"))
    book_id: Mapped[uuid.UUID] = _book()
    user_id: Mapped[uuid.UUID] = _owner()
    name: Mapped[str] = mapped_column(String(255))
    aliases: Mapped[list[Any]] = _json("[]")
    role: Mapped[str | None] = mapped_column(String(100))
    character_arc: Mapped[str | None] = mapped_column(Text)
    physical_description: Mapped[str | None] = mapped_column(Text)
    personality: Mapped[str | None] = mapped_column(Text)
    archetypes: Mapped[list[Any]] = _json("[]")
    archetype_analysis: Mapped[dict[str, Any]] = _json("{}")
    want: Mapped[str | None] = mapped_column(Text)
    need: Mapped[str | None] = mapped_column(Text)
    lie: Mapped[str | None] = mapped_column(Text)
    ghost: Mapped[str | None] = mapped_column(Text)
    citations: Mapped[dict[str, Any]] = _json("{}")
    image_url: Mapped[str | None] = mapped_column(Text)
    image_generation_prompt: Mapped[str | None] = mapped_column(Text)
    image_metadata: Mapped[dict[str, Any]] = _json("{}")
    mention_count: Mapped[int] = mapped_column(server_default=sql_text("0"))
    dialogue_count: Mapped[int] = mapped_column(server_default=sql_text("0"))
    chapter_count: Mapped[int] = mapped_column(server_default=sql_text("0"))
    importance_rank: Mapped[int | None] = mapped_column(
        comment="1 = the most important character of the book (mentions, dialogue, chapters present)")
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class Portrait(Versioned, Base):
    __tablename__ = "portraits"
    id: Mapped[uuid.UUID] = _id()
    character_key: Mapped[uuid.UUID]
    book_id: Mapped[uuid.UUID] = _book()
    user_id: Mapped[uuid.UUID] = _owner()
    image_path: Mapped[str | None] = mapped_column(Text)
    image_data: Mapped[bytes | None] = mapped_column(
        LargeBinary, comment="the image itself: a provider URL expires, the bytes do not")
    mime_type: Mapped[str | None] = mapped_column(String(50))
    is_current: Mapped[bool] = mapped_column(server_default=sql_text("false"))
    prompt: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(50))
    model_used: Mapped[str | None] = mapped_column(String(100))
    width: Mapped[int | None]
    height: Mapped[int | None]
    generation_cost: Mapped[Decimal] = mapped_column(Numeric(10, 6), server_default=sql_text("0"))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, server_default=sql_text("'{}'"))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class ChapterScript(Versioned, Provenance, Base):
    __tablename__ = "chapter_scripts"
    id: Mapped[uuid.UUID] = _id()
    chapter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("chapters.id", ondelete="CASCADE"))
    book_id: Mapped[uuid.UUID] = _book()
    plot_overview_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("plot_overviews.id", ondelete="SET NULL"))
    user_id: Mapped[uuid.UUID] = _owner()
    style: Mapped[str] = mapped_column(String(50), server_default=sql_text("'cinematic'"))
    fountain: Mapped[str] = mapped_column(
        Text, server_default=sql_text("''"),
        comment="the screenplay as Fountain text: the canonical form every view and export derives from")
    plot_enhanced: Mapped[bool] = mapped_column(server_default=sql_text("false"))
    character_enhanced: Mapped[bool] = mapped_column(server_default=sql_text("false"))
    scenes: Mapped[list[Any]] = _json("[]")
    acts: Mapped[list[Any]] = _json("[]")
    beats: Mapped[list[Any]] = _json("[]")
    character_details: Mapped[dict[str, Any]] = _json("{}")
    character_arcs: Mapped[dict[str, Any]] = _json("{}")
    generation_metadata: Mapped[dict[str, Any]] = _json("{}")
    based_on_version: Mapped[int | None]
    source: Mapped[str] = mapped_column(
        String(20), server_default=sql_text("'generated'"),
        comment="how this version came to be: generated by an engine, edited or imported by the writer, "
                "enhanced with the plot")
    custom_notes: Mapped[str | None] = mapped_column(Text)
    enhancements: Mapped[list[Any]] = mapped_column(
        JSONB, server_default=sql_text("'[]'"),
        comment="what an enhancement pass changed, in words (the design's enhancements_applied)")
    pages: Mapped[Decimal] = mapped_column(Numeric(6, 1), server_default=sql_text("0"),
                                           comment="estimated screenplay pages (55 lines a page)")
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class CharacterArchetype(Base):
    __tablename__ = "character_archetypes"
    id: Mapped[uuid.UUID] = _id()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(50))
    traits: Mapped[list[Any]] = _json("[]")
    typical_roles: Mapped[list[Any]] = _json("[]")
    example_characters: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(server_default=sql_text("true"))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class UsageLog(Base):
    __tablename__ = "usage_logs"
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = _owner()
    action: Mapped[str] = mapped_column(String(50))
    book_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("books.id", ondelete="SET NULL"))
    resource_id: Mapped[uuid.UUID | None]
    idempotency_key: Mapped[str | None] = mapped_column(
        Text, unique=True, comment="one charge per generation, however often a job is retried")
    tier: Mapped[str] = mapped_column(String(20))
    model_used: Mapped[str | None] = mapped_column(String(100))
    tokens_in: Mapped[int] = mapped_column(server_default=sql_text("0"))
    tokens_out: Mapped[int] = mapped_column(server_default=sql_text("0"))
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(12, 6), server_default=sql_text("0"))
    created_at: Mapped[datetime] = _now()


class GenerationAnalytics(Base):
    __tablename__ = "generation_analytics"
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = _owner()
    book_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("books.id", ondelete="SET NULL"))
    artefact: Mapped[str] = mapped_column(String(30))
    engine: Mapped[str] = mapped_column(String(20))
    model_used: Mapped[str | None] = mapped_column(String(100))
    tier: Mapped[str] = mapped_column(String(20))
    tokens_in: Mapped[int] = mapped_column(server_default=sql_text("0"))
    tokens_out: Mapped[int] = mapped_column(server_default=sql_text("0"))
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(12, 6), server_default=sql_text("0"))
    duration_ms: Mapped[int] = mapped_column(server_default=sql_text("0"))
    success: Mapped[bool] = mapped_column(Boolean)
    error_kind: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = _now()


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID] = _owner()
    kind: Mapped[str] = mapped_column(String(50))
    book_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("books.id", ondelete="SET NULL"))
    queue_job_id: Mapped[int | None] = mapped_column(BigInteger, comment="id of the procrastinate job that runs this")
    status: Mapped[str] = mapped_column(String(20), server_default=sql_text("'queued'"))
    progress_done: Mapped[int] = mapped_column(server_default=sql_text("0"))
    progress_total: Mapped[int] = mapped_column(server_default=sql_text("0"))
    message: Mapped[str] = mapped_column(Text, server_default=sql_text("''"))
    error: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = _json("{}")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    cancel_requested: Mapped[bool] = mapped_column(server_default=sql_text("false"))
    attempts: Mapped[int] = mapped_column(server_default=sql_text("0"), comment=(
        "runs started; a run that finds the last one died without finishing counts again"))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class CacheEntry(Base):
    __tablename__ = "cache_entries"
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSONB)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = _now()


class NlpAnnotation(Base):
    """spaCy's reading of one chapter text, so an unchanged chapter is never parsed twice."""

    __tablename__ = "nlp_annotations"
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    book_id: Mapped[uuid.UUID] = _book()
    user_id: Mapped[uuid.UUID] = _owner()
    content_hash: Mapped[str] = mapped_column(
        CHAR(64), comment="sha256 of the chapter text: an edited chapter is read again, the others are not")
    pipeline: Mapped[str] = mapped_column(
        String(120), comment="spaCy model, spaCy and annotation versions that produced the row")
    words: Mapped[int]
    annotations: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _now()


class SignInThrottle(Base):
    """Failed sign-ins per account and per client, forgotten after a quiet window; only definer functions touch it."""

    __tablename__ = "sign_in_throttle"
    scope: Mapped[str] = mapped_column(String(10), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    failures: Mapped[int] = mapped_column(server_default=sql_text("0"))
    last_failure_at: Mapped[datetime] = _now()


class ChapterSummary(Base):
    """The map step's cached summary of one chapter's text, by content hash + model + prompt version."""

    __tablename__ = "chapter_summaries"
    id: Mapped[uuid.UUID] = _id()
    book_id: Mapped[uuid.UUID] = _book()
    user_id: Mapped[uuid.UUID] = _owner()
    content_sha256: Mapped[str] = mapped_column(CHAR(64))
    model: Mapped[str] = mapped_column(String(100), comment="model name, or 'offline'")
    prompt_version: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(Text)
    tokens_in: Mapped[int] = mapped_column(server_default=sql_text("0"))
    tokens_out: Mapped[int] = mapped_column(server_default=sql_text("0"))
    created_at: Mapped[datetime] = _now()


class LlmEndpointMethod(Base):
    """Which structured-output method an endpoint + model last accepted (not a writer's data: no RLS)."""

    __tablename__ = "llm_endpoint_methods"
    endpoint: Mapped[str] = mapped_column(Text, primary_key=True)
    model: Mapped[str] = mapped_column(Text, primary_key=True)
    method: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime] = _now()
