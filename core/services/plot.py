"""The plot overview, one function per writer action: generate (a job), edit, history, compare, restore, archive,
delete (undoable until emptied), and stale marking with a refresh that re-reads only what changed.

Versions are rows: every save INSERTs version n+1 (never an UPDATE of the text); status (active, archived,
deleted) belongs to the book's overview as a whole. Saving on top of a version someone else already replaced
raises VersionConflictError with both values.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from core import jobs
from core.artefacts import PLOT_FIELDS, Citation, PlotOverview
from core.engines import LLM, PlotRequest, default_engine_name, engine_names, get_engine
from core.engines.reading import read_book
from core.errors import (ArtefactValidationError, GenerationError, PlotNotFoundError, PlotStudioError,
                         VersionConflictError)
from core.generation import Resource, Usage, charged_resource, check_limits, record_failure, record_usage, tier_of
from db.engine import unit_of_work
from db.models import Book, Chapter
from db.models import PlotOverview as PlotRow
from db.repositories import get_visible

PLOT_JOB = "plot_overview"
STATUSES = ("active", "archived", "deleted")


@dataclass(frozen=True)
class PlotVersion:
    """One saved version of a book's plot overview, as pages and the CLI show it."""

    id: uuid.UUID
    book_id: uuid.UUID
    version: int
    status: str
    origin: str
    overview: PlotOverview
    citations: dict[str, list[Citation]]
    label: str
    generation_method: str
    model_used: str | None
    tokens_in: int
    tokens_out: int
    cost_usd: float
    duration_ms: int | None
    custom_instructions: str | None
    based_on_version: int | None
    created_at: datetime
    provenance: dict[str, Any] = field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        return self.overview.model_dump()

    def as_dict(self) -> dict[str, Any]:
        """The version as JSON-ready data (the CLI prints it)."""
        return {"id": str(self.id), "book_id": str(self.book_id), "version": self.version, "status": self.status,
                "origin": self.origin, "label": self.label, "overview": self.fields(),
                "citations": {k: [c.model_dump() for c in v] for k, v in self.citations.items()},
                "usage": {"engine": self.generation_method, "model": self.model_used, "tokens_in": self.tokens_in,
                          "tokens_out": self.tokens_out, "cost_usd": self.cost_usd, "duration_ms": self.duration_ms,
                          **{k: v for k, v in self.provenance.items() if k in ("tier", "structured_output", "calls",
                                                                                 "cache_hits")}},
                "custom_instructions": self.custom_instructions, "based_on_version": self.based_on_version,
                "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class Staleness:
    """How the book's chapters differ from those the overview was generated from."""

    edited: list[int]
    added: list[int]
    removed: int

    @property
    def stale(self) -> bool:
        return bool(self.edited or self.added or self.removed)

    def sentence(self) -> str:
        parts = []
        if self.edited:
            parts.append(f"chapter{'s' * (len(self.edited) > 1)} {', '.join(map(str, self.edited))} changed")
        if self.added:
            parts.append(f"{len(self.added)} chapter{'s' * (len(self.added) > 1)} added")
        if self.removed:
            parts.append(f"{self.removed} chapter{'s' * (self.removed > 1)} removed")
        return "; ".join(parts)


def _version(row: PlotRow) -> PlotVersion:
    overview = PlotOverview.model_construct(**{name: getattr(row, name) for name in PLOT_FIELDS})
    citations = {name: [Citation(**c) for c in cites if isinstance(c, dict)]
                 for name, cites in (row.citations or {}).items()}
    return PlotVersion(row.id, row.book_id, row.version, row.status, row.origin, overview, citations,
                       (row.provenance or {}).get("label", row.generation_method), row.generation_method,
                       row.model_used, row.tokens_in, row.tokens_out, float(row.generation_cost), row.duration_ms,
                       row.custom_instructions, row.based_on_version, row.created_at, dict(row.provenance or {}))


def _rows(session: Session, book_id: uuid.UUID):
    return select(PlotRow).where(PlotRow.book_id == book_id)


def _latest(session: Session, book_id: uuid.UUID) -> PlotRow | None:
    return session.scalars(_rows(session, book_id).order_by(PlotRow.version.desc()).limit(1)).first()


def _lock_book(session: Session, book_id: uuid.UUID) -> None:
    """Serialise saves of one book's overview (a transaction-scoped advisory lock; RLS still decides access)."""
    get_visible(session, Book, book_id, what="book")
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"plot:{book_id}"})


def _insert(session: Session, user_id: uuid.UUID, book_id: uuid.UUID, **values: Any) -> PlotRow:
    latest = _latest(session, book_id)
    if latest is not None and latest.status != "active":  # a new version brings the overview back
        session.execute(update(PlotRow).where(PlotRow.book_id == book_id).values(status="active"))
    row = PlotRow(book_id=book_id, user_id=user_id, version=(latest.version if latest else 0) + 1, status="active",
                  **values)
    session.add(row)
    session.flush()
    return row


# --- generate ------------------------------------------------------------------------------------------


def start_generation(user_id: uuid.UUID, book_id: uuid.UUID, *, engine: str | None = None,
                     instructions: str | None = None, include_matter: bool = False, origin: str = "generated",
                     include_character_images: bool = False, queue: bool = True) -> uuid.UUID:
    """Queue a plot overview of the whole book (refused at once if the tier's limit is reached); returns the job."""
    engine = engine or default_engine_name()
    if engine not in engine_names():
        raise PlotStudioError(f"There is no engine called “{engine}”: choose offline or llm.")
    if engine == LLM:
        check_limits(user_id, Resource.PLOT)
    with unit_of_work(user_id) as session:
        get_visible(session, Book, book_id, what="book")
    params = {"book_id": str(book_id), "engine": engine, "instructions": (instructions or "").strip() or None,
              "include_matter": include_matter, "request_id": str(uuid.uuid4()), "origin": origin,
              "include_character_images": include_character_images}
    return jobs.submit(user_id, PLOT_JOB, params, book_id=book_id, queue=queue)


def start_refresh(user_id: uuid.UUID, book_id: uuid.UUID, *, queue: bool = True) -> uuid.UUID:
    """Regenerate after chapters changed, as the current version was made; only changed chapters are read again."""
    current = current_version(user_id, book_id)
    engine = current.generation_method if current.generation_method in engine_names() else None
    return start_generation(user_id, book_id, engine=engine, instructions=current.custom_instructions,
                            include_matter=bool(current.provenance.get("include_matter")), origin="refreshed",
                            queue=queue)


def generate_plot_overview(user_id: uuid.UUID, progress, *, book_id: str, engine: str, request_id: str,
                           instructions: str | None = None, include_matter: bool = False,
                           origin: str = "generated", include_character_images: bool = False) -> dict:
    """The job: read the book, run the engine (no transaction open), then save the version and its usage together."""
    book_uuid, key = uuid.UUID(book_id), f"plot:{request_id}"
    with unit_of_work(user_id) as session:
        saved = charged_resource(session, key)
        tier = tier_of(session, user_id)
    if saved is not None:  # a retried job: it was saved and charged already
        return _job_result(user_id, saved)
    if engine == LLM:
        tier = check_limits(user_id, Resource.PLOT)
    book = read_book(user_id, book_uuid, include_matter=include_matter)
    started = time.perf_counter()
    try:
        result = get_engine(engine).plot_overview(
            PlotRequest(user_id=user_id, book=book, tier=tier, instructions=instructions, progress=progress))
    except GenerationError as exc:
        usage = getattr(exc, "usage", None) or Usage(tier=tier.value)
        record_failure(user_id, resource=Resource.PLOT, usage=usage, engine=engine, book_id=book_uuid,
                       error_kind=type(exc).__name__)
        raise
    usage = result.usage
    usage.duration_ms = int((time.perf_counter() - started) * 1000)
    cited = result.value
    with unit_of_work(user_id) as session:
        _lock_book(session, book_uuid)
        row = _insert(
            session, user_id, book_uuid, **cited.overview.model_dump(), origin=origin,
            citations={name: [c.model_dump() for c in cites] for name, cites in cited.citations.items()},
            custom_instructions=instructions, chapter_hashes=book.chapter_hashes(), generation_method=engine,
            model_used=usage.model if engine == LLM else None, tokens_in=usage.tokens_in, tokens_out=usage.tokens_out,
            generation_cost=usage.cost_usd if engine == LLM else 0, source_chunk_ids=result.source_chunk_ids,
            prompt_name=result.prompt_name, prompt_version=result.prompt_version, duration_ms=usage.duration_ms,
            provenance={"label": cited.label, "tier": tier.value, "structured_output": usage.method,
                        "calls": usage.calls, "cache_hits": usage.cache_hits, "include_matter": include_matter,
                        "chapters_read": len(book.chapters)})
        record_usage(session, user_id=user_id, resource=Resource.PLOT, usage=usage, engine=engine, book_id=book_uuid,
                     resource_id=row.id, idempotency_key=key)
        row_id = row.id
    result = _job_result(user_id, row_id)
    if include_character_images:  # the design's request flag: first portraits for the board's main characters
        result["portraits"] = _first_portraits(user_id, book_uuid)
    return result


def _first_portraits(user_id: uuid.UUID, book_id: uuid.UUID) -> dict:
    """Portraits for the main characters that have none; the overview is saved whatever happens here."""
    from core.services import characters
    try:
        return {"made": len(characters.portraits_for_book(user_id, book_id))}
    except PlotStudioError as exc:  # e.g. the tier's portrait limit: the overview still stands
        return {"made": 0, "message": str(exc)}


def _job_result(user_id: uuid.UUID, plot_id: uuid.UUID) -> dict:
    with unit_of_work(user_id) as session:
        row = session.get(PlotRow, plot_id)
        return {"plot_id": str(row.id), "book_id": str(row.book_id), "version": row.version}


# --- read ----------------------------------------------------------------------------------------------


def current_version(user_id: uuid.UUID, book_id: uuid.UUID, *, include_deleted: bool = False) -> PlotVersion:
    """The latest version of the book's overview (PlotNotFoundError if there is none, or it is in the bin)."""
    with unit_of_work(user_id) as session:
        row = _latest(session, book_id)
        if row is None or (row.status == "deleted" and not include_deleted):
            raise PlotNotFoundError("This book has no plot overview yet: generate one.")
        return _version(row)


def find_current(user_id: uuid.UUID, book_id: uuid.UUID) -> PlotVersion | None:
    try:
        return current_version(user_id, book_id, include_deleted=True)
    except PlotNotFoundError:
        return None


def history(user_id: uuid.UUID, book_id: uuid.UUID) -> list[PlotVersion]:
    """Every version, newest first."""
    with unit_of_work(user_id) as session:
        return [_version(row) for row in session.scalars(_rows(session, book_id).order_by(PlotRow.version.desc()))]


def get_version(user_id: uuid.UUID, book_id: uuid.UUID, version: int) -> PlotVersion:
    with unit_of_work(user_id) as session:
        row = session.scalars(_rows(session, book_id).where(PlotRow.version == version)).first()
        if row is None:
            raise PlotNotFoundError(f"There is no version {version} of this plot overview.")
        return _version(row)


def compare(user_id: uuid.UUID, book_id: uuid.UUID, before: int, after: int) -> list[FieldChange]:
    """Two versions field by field."""
    a, b = get_version(user_id, book_id, before).fields(), get_version(user_id, book_id, after).fields()
    return [FieldChange(name, a[name], b[name]) for name in PLOT_FIELDS]


# --- write ---------------------------------------------------------------------------------------------


def validate_fields(values: dict[str, Any]) -> PlotOverview:
    """The edited fields as a valid overview, or ArtefactValidationError naming each bad field."""
    try:
        return PlotOverview(**values)
    except ValidationError as exc:
        errors = {str(e["loc"][0]) if e["loc"] else "overview": e["msg"].removeprefix("Value error, ")
                  for e in exc.errors()}
        raise ArtefactValidationError("Some fields need fixing: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
                                      field_errors=errors) from None


def _check_not_replaced(latest: PlotRow | None, based_on_version: int, yours: dict[str, Any]) -> PlotRow:
    if latest is None:
        raise PlotNotFoundError("This book has no plot overview yet: generate one.")
    if latest.version != based_on_version:
        theirs = {name: getattr(latest, name) for name in PLOT_FIELDS}
        raise VersionConflictError(
            f"Version {latest.version} was saved (in another tab or session) after the version {based_on_version} "
            "you edited: compare both and save again on top of it.",
            yours=yours, theirs=theirs, current_version=latest.version)
    return latest


def save_edit(user_id: uuid.UUID, book_id: uuid.UUID, *, based_on_version: int, values: dict[str, Any]) -> PlotVersion:
    """Save the writer's edit as a new version, unless someone replaced the version they edited."""
    overview = validate_fields(values)
    with unit_of_work(user_id) as session:
        _lock_book(session, book_id)
        base = _check_not_replaced(_latest(session, book_id), based_on_version, overview.model_dump())
        new = overview.model_dump()
        # A field the writer changed no longer rests on the passages cited for the generated text.
        citations = {name: cites for name, cites in (base.citations or {}).items()
                     if name in new and new[name] == getattr(base, name)}
        row = _insert(session, user_id, book_id, **new, origin="edited", citations=citations,
                      custom_instructions=base.custom_instructions, chapter_hashes=base.chapter_hashes,
                      generation_method=base.generation_method, model_used=base.model_used,
                      based_on_version=base.version, source_chunk_ids=base.source_chunk_ids,
                      provenance={**(base.provenance or {}), "label": "edited by the writer",
                                  "edited_from": base.version})
        return _version(row)


def restore(user_id: uuid.UUID, book_id: uuid.UUID, version: int, *, based_on_version: int) -> PlotVersion:
    """Make an old version current again, as a new version (nothing is rewritten)."""
    with unit_of_work(user_id) as session:
        _lock_book(session, book_id)
        latest = _latest(session, book_id)
        old = session.scalars(_rows(session, book_id).where(PlotRow.version == version)).first()
        if old is None:
            raise PlotNotFoundError(f"There is no version {version} of this plot overview.")
        _check_not_replaced(latest, based_on_version, {name: getattr(old, name) for name in PLOT_FIELDS})
        row = _insert(session, user_id, book_id, **{name: getattr(old, name) for name in PLOT_FIELDS},
                      origin="restored", citations=old.citations, custom_instructions=old.custom_instructions,
                      chapter_hashes=old.chapter_hashes, generation_method=old.generation_method,
                      model_used=old.model_used, based_on_version=latest.version,
                      source_chunk_ids=old.source_chunk_ids, prompt_name=old.prompt_name,
                      prompt_version=old.prompt_version,
                      provenance={**(old.provenance or {}), "restored_from": old.version})
        return _version(row)


def _set_status(user_id: uuid.UUID, book_id: uuid.UUID, status: str, *, only_from: str | None = None) -> None:
    with unit_of_work(user_id) as session:
        _lock_book(session, book_id)
        if _latest(session, book_id) is None:
            raise PlotNotFoundError("This book has no plot overview yet: generate one.")
        query = update(PlotRow).where(PlotRow.book_id == book_id)
        if only_from:
            query = query.where(PlotRow.status == only_from)
        session.execute(query.values(status=status))


def archive(user_id: uuid.UUID, book_id: uuid.UUID) -> None:
    """Set the overview aside (kept, shown as archived)."""
    _set_status(user_id, book_id, "archived")


def unarchive(user_id: uuid.UUID, book_id: uuid.UUID) -> None:
    _set_status(user_id, book_id, "active", only_from="archived")


def delete(user_id: uuid.UUID, book_id: uuid.UUID) -> None:
    """Move the overview, every version, to the bin: undoable until the bin is emptied."""
    _set_status(user_id, book_id, "deleted")


def undelete(user_id: uuid.UUID, book_id: uuid.UUID) -> None:
    _set_status(user_id, book_id, "active", only_from="deleted")


def empty_bin(user_id: uuid.UUID) -> int:
    """Delete for good every overview version the writer put in the bin; returns how many."""
    with unit_of_work(user_id) as session:
        return session.execute(sql_delete(PlotRow).where(PlotRow.status == "deleted")).rowcount


# --- stale ---------------------------------------------------------------------------------------------


def staleness(user_id: uuid.UUID, book_id: uuid.UUID) -> Staleness:
    """Which chapters changed since the current version was generated."""
    current = current_version(user_id, book_id, include_deleted=True)
    with unit_of_work(user_id) as session:
        kind = getattr(Chapter, "kind", None)
        query = select(Chapter.id, Chapter.number, Chapter.content_sha256).where(Chapter.book_id == book_id)
        if kind is not None and not current.provenance.get("include_matter"):
            query = query.where(kind == "chapter")
        chapters = session.execute(query.order_by(Chapter.number)).all()
        hashes = session.scalar(select(PlotRow.chapter_hashes).where(PlotRow.id == current.id)) or {}
    now = {str(cid): (number, sha) for cid, number, sha in chapters}
    edited = [number for cid, (number, sha) in now.items() if cid in hashes and hashes[cid] != sha]
    added = [number for cid, (number, _) in now.items() if cid not in hashes]
    removed = sum(1 for cid in hashes if cid not in now)
    return Staleness(sorted(edited), sorted(added), removed)


def monthly_allowance(user_id: uuid.UUID) -> tuple[int, int | None]:
    """Model plot generations charged this month, and how many the writer's tier allows (None: unlimited)."""
    from core.config import get_settings
    from db.models import UsageLog
    with unit_of_work(user_id) as session:
        tier = tier_of(session, user_id)
        used = session.scalar(select(func.count()).select_from(UsageLog).where(
            UsageLog.action == Resource.PLOT.value, UsageLog.model_used.is_not(None),
            UsageLog.created_at >= func.date_trunc("month", func.now())))
    return used, get_settings().tier_monthly_limits.get(tier.value, {}).get(Resource.PLOT.value)
