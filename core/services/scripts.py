"""Scripts: a chapter as a screenplay in versions the writer generates, edits, imports, compares and exports."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import jobs
from core.config import Tier, get_settings
from core.engines import LLM, EngineResult, ScriptRequest, get_engine
from core.engines.offline import script as offline
from core.errors import GenerationError, PlotStudioError, VersionConflictError
from core.generation.usage import Resource, Usage, check_limits, record_failure, record_usage, tier_of
from core.retrieval import SearchMode, search_book
from core.screenplay import align, export
from core.screenplay import fountain as ftn
from db.engine import unit_of_work
from db.models import Book, Chapter, ChapterScript, Character, PlotOverview
from db.repositories import get_visible

GENERATE = "generate_scripts"
STYLES = offline.STYLES
ENGINES = ("offline", "llm")
MAX_IMPORT_BYTES = 5 * 1024 * 1024


@dataclass
class BookContext:
    """What the book knows beyond the chapter: the plot overview and the character board, if they exist."""

    plot: PlotOverview | None
    characters: list[Character]

    def offline_characters(self) -> list[offline.CharacterRef]:
        return [offline.CharacterRef(c.name, list(c.aliases or []), want=c.want or "", need=c.need or "",
                                     arc=c.character_arc or "") for c in self.characters]


def _chapter(session: Session, chapter_id: uuid.UUID) -> Chapter:
    return get_visible(session, Chapter, chapter_id, what="chapter")


def _book_context(session: Session, book_id: uuid.UUID) -> BookContext:
    plot = session.scalar(select(PlotOverview).where(PlotOverview.book_id == book_id, PlotOverview.status == "active")
                          .order_by(PlotOverview.version.desc()).limit(1))
    latest = select(Character.character_key, func.max(Character.version).label("version")) \
        .where(Character.book_id == book_id, Character.status == "active").group_by(Character.character_key).subquery()
    characters = list(session.scalars(select(Character).join(
        latest, (Character.character_key == latest.c.character_key) & (Character.version == latest.c.version))
        .order_by(Character.name)))
    return BookContext(plot=plot, characters=characters)


def chapter_by_number(user_id: uuid.UUID, book_id: uuid.UUID, number: int) -> Chapter:
    with unit_of_work(user_id) as session:
        get_visible(session, Book, book_id, what="book")
        chapter = session.scalar(select(Chapter).where(Chapter.book_id == book_id, Chapter.number == number))
        if chapter is None:
            count = session.scalar(select(func.count()).select_from(Chapter).where(Chapter.book_id == book_id))
            raise PlotStudioError(f"This book has chapters 1 to {count}; there is no chapter {number}.")
        return chapter


def list_versions(user_id: uuid.UUID, chapter_id: uuid.UUID) -> list[ChapterScript]:
    """Every version of the chapter's script, newest first."""
    with unit_of_work(user_id) as session:
        return list(session.scalars(select(ChapterScript).where(ChapterScript.chapter_id == chapter_id,
                                                                ChapterScript.status != "deleted")
                                    .order_by(ChapterScript.version.desc())))


def get_version(user_id: uuid.UUID, script_id: uuid.UUID) -> ChapterScript:
    with unit_of_work(user_id) as session:
        return get_visible(session, ChapterScript, script_id, what="script")


def _latest(session: Session, chapter_id: uuid.UUID) -> ChapterScript | None:
    return session.scalar(select(ChapterScript).where(ChapterScript.chapter_id == chapter_id)
                          .order_by(ChapterScript.version.desc()).limit(1))


def _check_style(style: str) -> None:
    if style not in STYLES:
        raise PlotStudioError(f"“{style}” is not a style Plot Studio writes; choose one of {', '.join(STYLES)}.")


def _engine(engine: str | None) -> str:
    if engine is None:
        return "llm" if get_settings().llm_configured else "offline"
    if engine not in ENGINES:
        raise PlotStudioError(f"“{engine}” is not an engine; choose offline or llm.")
    return engine


def _new_version(session: Session, chapter: Chapter, fountain: str, *, based_on: int | None, expected: int | None,
                 **values) -> ChapterScript:
    """Insert the next version; refuse if someone saved after the version the writer started from."""
    latest = _latest(session, chapter.id)
    current = latest.version if latest else 0
    if expected is not None and current != expected:
        raise VersionConflictError(
            f"Version {current} was saved after the version {expected} you started from; your text is kept "
            "below: compare, then save again to make it the newest.",
            yours={"fountain": fountain}, theirs={"fountain": latest.fountain, "version": current},
            current_version=current)
    script = ftn.parse(fountain)
    structure = script.structure()
    row = ChapterScript(chapter_id=chapter.id, book_id=chapter.book_id, user_id=chapter.user_id,
                        version=current + 1, fountain=fountain, based_on_version=based_on,
                        scenes=structure["scenes"], acts=structure["acts"], beats=structure["beats"],
                        character_details=structure["character_details"],
                        character_arcs=structure["character_arcs"], pages=Decimal(str(script.pages)), **values)
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:  # two saves raced for the same version number
        raise VersionConflictError("Someone saved this chapter's script at the same moment; reload and save again.",
                                   yours={"fountain": fountain}, theirs={}, current_version=current + 1) from exc
    return row


def _structure_check(fountain: str) -> None:
    script = ftn.parse(fountain)
    if not script.scenes:
        raise ftn.FountainError("The screenplay has no scene heading: start a scene with INT. or EXT. (or a "
                                "forced heading such as .SNIPER SCOPE POV).")


def generate_chapter_script(user_id: uuid.UUID, chapter_id: uuid.UUID, *, style: str = "cinematic",
                            engine: str | None = None, custom_notes: str | None = None,
                            run_key: str | None = None) -> ChapterScript:
    """Write the chapter as a screenplay (plot-aware when the book has a plot and characters); a new version."""
    _check_style(style)
    engine = _engine(engine)
    with unit_of_work(user_id) as session:  # read everything, then leave the transaction before generating
        chapter = _chapter(session, chapter_id)
        book = get_visible(session, Book, chapter.book_id, what="book")
        if run_key:
            done = session.scalar(select(ChapterScript).where(
                ChapterScript.chapter_id == chapter_id,
                ChapterScript.generation_metadata["run_key"].astext == run_key))
            if done is not None:
                return done  # a retried job keeps what it saved and is not charged again
        context = _book_context(session, book.id)
    request = _request(user_id, engine, book, chapter, context, style, custom_notes)
    result = _run(engine, "chapter_script", request, book.id)
    return _save_generated(user_id, chapter_id, result, style=style, engine=engine, plot=context.plot,
                           character_enhanced=bool(context.characters), custom_notes=custom_notes, run_key=run_key,
                           source="generated", based_on=None)


def _request(user_id, engine, book, chapter, context, style, custom_notes, fountain=None) -> ScriptRequest:
    if engine == LLM:
        tier = check_limits(user_id, Resource.SCRIPT)  # only model calls count against the tier's limit
    else:
        with unit_of_work(user_id) as session:
            tier = tier_of(session, user_id)
    return ScriptRequest(user_id=user_id, book_title=book.title, author=book.author, chapter_number=chapter.number,
                         chapter_title=chapter.title, chapter_text=chapter.text, style=style, plot=context.plot,
                         characters=context.characters, tier=tier, instructions=custom_notes, fountain=fountain,
                         related=related_passages(user_id, book.id, chapter, context) if engine == LLM else [])


def _run(engine: str, method: str, request: ScriptRequest, book_id: uuid.UUID) -> EngineResult:
    """The engine's answer, timed; a failed model call is logged for analytics and nothing is saved."""
    started = time.perf_counter()
    try:
        result = getattr(get_engine(engine), method)(request)
    except GenerationError as exc:
        usage = getattr(exc, "usage", None) or Usage(tier=Tier(request.tier).value)
        record_failure(request.user_id, resource=Resource.SCRIPT, usage=usage, engine=engine, book_id=book_id,
                       error_kind=type(exc).__name__)
        raise
    result.usage.duration_ms = int((time.perf_counter() - started) * 1000)
    return result


def related_passages(user_id: uuid.UUID, book_id: uuid.UUID, chapter: Chapter, context: BookContext,
                     k: int = 5) -> list:
    """Set-ups and pay-offs: passages of other chapters about this chapter's people and the story's logline."""
    if context.plot is None and not context.characters:
        return []
    names = Counter(offline.Names(context.offline_characters()).mentions(chapter.text))
    query = " or ".join([f'"{name}"' for name, _ in names.most_common(3)]
                        + ([context.plot.logline] if context.plot and context.plot.logline else []))
    if not query:
        return []
    try:
        hits = search_book(user_id, book_id, query, k=k * 3, mode=SearchMode.WORDS)
    except PlotStudioError:
        return []
    return [hit for hit in hits if hit.chapter_number != chapter.number][:k]


def _save_generated(user_id, chapter_id, result: EngineResult, *, style, engine, plot, character_enhanced,
                    custom_notes, run_key, source, based_on) -> ChapterScript:
    """The new version and its charge, in one transaction."""
    usage = result.usage
    model = usage.model if engine == LLM else None
    label = f"model draft ({model})" if model else offline.LABEL
    with unit_of_work(user_id) as session:
        chapter = _chapter(session, chapter_id)
        row = _new_version(
            session, chapter, result.value.fountain, based_on=based_on, expected=None, style=style, source=source,
            plot_overview_id=plot.id if plot else None, plot_enhanced=plot is not None,
            character_enhanced=character_enhanced, enhancements=list(result.value.enhancements),
            custom_notes=custom_notes, generation_method=engine, model_used=model,
            tokens_in=usage.tokens_in, tokens_out=usage.tokens_out,
            generation_cost=usage.cost_usd if model else Decimal(0), source_chunk_ids=result.source_chunk_ids,
            prompt_name=result.prompt_name, prompt_version=result.prompt_version, duration_ms=usage.duration_ms,
            generation_metadata={"label": label, "engine": engine, "usage": usage.as_dict(),
                                 **({"run_key": run_key} if run_key else {})})
        record_usage(session, user_id=user_id, resource=Resource.SCRIPT, usage=usage, engine=engine,
                     book_id=chapter.book_id, resource_id=row.id,
                     idempotency_key=f"script:{run_key or row.id}:{chapter_id}")
        return row


def enhance_with_plot(user_id: uuid.UUID, script_id: uuid.UUID, *, engine: str | None = None,
                      custom_notes: str | None = None) -> ChapterScript:
    """Rewrite any version with the book's plot overview and characters into a new version."""
    engine = _engine(engine)
    with unit_of_work(user_id) as session:
        original = get_visible(session, ChapterScript, script_id, what="script")
        chapter = _chapter(session, original.chapter_id)
        book = get_visible(session, Book, chapter.book_id, what="book")
        context = _book_context(session, book.id)
    if context.plot is None and not context.characters:
        raise PlotStudioError("This book has no plot overview or character board yet: generate them first, "
                              "then enhance the script with them.")
    request = _request(user_id, engine, book, chapter, context, original.style, custom_notes,
                       fountain=original.fountain)
    result = _run(engine, "enhance_script", request, book.id)
    return _save_generated(user_id, chapter.id, result, style=original.style, engine=engine, plot=context.plot,
                           character_enhanced=bool(context.characters), custom_notes=custom_notes, run_key=None,
                           source="enhanced", based_on=original.version)


def save_edit(user_id: uuid.UUID, chapter_id: uuid.UUID, fountain: str, *, based_on_version: int | None,
              style: str | None = None) -> ChapterScript:
    """The writer's edit as a new version, unless someone saved after the version it started from."""
    _structure_check(fountain)
    with unit_of_work(user_id) as session:
        chapter = _chapter(session, chapter_id)
        base = session.scalar(select(ChapterScript).where(ChapterScript.chapter_id == chapter_id,
                                                          ChapterScript.version == based_on_version)) \
            if based_on_version else None
        return _new_version(session, chapter, fountain, based_on=based_on_version, expected=based_on_version or 0,
                            style=style or (base.style if base else "cinematic"), source="edited",
                            generation_method="writer", plot_overview_id=base.plot_overview_id if base else None,
                            plot_enhanced=base.plot_enhanced if base else False,
                            character_enhanced=base.character_enhanced if base else False,
                            generation_metadata={"label": "edited by the writer"})


def import_fountain(user_id: uuid.UUID, chapter_id: uuid.UUID, data: bytes | str, *,
                    filename: str = "script.fountain") -> ChapterScript:
    """A .fountain file as the chapter's newest version."""
    if isinstance(data, bytes):
        if len(data) > MAX_IMPORT_BYTES:
            raise ftn.FountainError(f"{filename} is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB; a "
                                    "screenplay is far smaller.")
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ftn.FountainError(f"{filename} is not UTF-8 text; save it as a plain-text .fountain file.") \
                from None
    _structure_check(data)
    with unit_of_work(user_id) as session:
        chapter = _chapter(session, chapter_id)
        return _new_version(session, chapter, data, based_on=None, expected=None, source="imported",
                            generation_method="import", generation_metadata={"label": f"imported {filename}"})


def compare_versions(user_id: uuid.UUID, left_id: uuid.UUID, right_id: uuid.UUID) -> align.Comparison:
    with unit_of_work(user_id) as session:
        left = get_visible(session, ChapterScript, left_id, what="script").fountain
        right = get_visible(session, ChapterScript, right_id, what="script").fountain
    return align.compare(ftn.parse(left), ftn.parse(right))


def export_version(user_id: uuid.UUID, script_id: uuid.UUID, fmt: str) -> tuple[str, bytes]:
    """(file name, bytes) of one version in Fountain, FDX or PDF."""
    with unit_of_work(user_id) as session:
        row = get_visible(session, ChapterScript, script_id, what="script")
        chapter = _chapter(session, row.chapter_id)
        book = get_visible(session, Book, chapter.book_id, what="book")
    stem = f"{book.title}-ch{chapter.number}-v{row.version}"
    return export.filename(stem, fmt), export.render(row.fountain, fmt)


def book_fountain(user_id: uuid.UUID, book_id: uuid.UUID) -> tuple[Book, str]:
    """Every chapter's newest script in order, as one screenplay with a title page."""
    with unit_of_work(user_id) as session:
        book = get_visible(session, Book, book_id, what="book")
        newest = select(ChapterScript.chapter_id, func.max(ChapterScript.version).label("version")) \
            .where(ChapterScript.book_id == book_id, ChapterScript.status == "active") \
            .group_by(ChapterScript.chapter_id).subquery()
        rows = session.execute(
            select(Chapter.number, Chapter.title, ChapterScript.fountain)
            .join(ChapterScript, ChapterScript.chapter_id == Chapter.id)
            .join(newest, (newest.c.chapter_id == ChapterScript.chapter_id) & (newest.c.version == ChapterScript.version))
            .order_by(Chapter.number)).all()
    if not rows:
        raise PlotStudioError("No chapter of this book has a script yet: generate or import one first.")
    return book, export.whole_book(book.title, book.author, [export.ChapterText(*row) for row in rows])


def export_book(user_id: uuid.UUID, book_id: uuid.UUID, fmt: str) -> tuple[str, bytes]:
    book, text = book_fountain(user_id, book_id)
    return export.filename(f"{book.title}-screenplay", fmt), export.render(text, fmt)


# --- the job: scripts for one chapter or the whole book ---------------------------------------------


def start_scripts(user_id: uuid.UUID, book_id: uuid.UUID, *, chapter_numbers: list[int] | None = None,
                  style: str = "cinematic", engine: str | None = None, custom_notes: str | None = None,
                  queue: bool = True) -> uuid.UUID:
    """Queue script generation for some chapters (None: every chapter); returns the job to poll."""
    _check_style(style)
    engine = _engine(engine)
    with unit_of_work(user_id) as session:
        get_visible(session, Book, book_id, what="book")
        query = select(Chapter.id, Chapter.number).where(Chapter.book_id == book_id).order_by(Chapter.number)
        if chapter_numbers:
            query = query.where(Chapter.number.in_(chapter_numbers))
        else:  # the whole book: chapters only, front and back matter are the writer's to ask for by number
            query = query.where(Chapter.kind == "chapter")
        chapters = session.execute(query).all()
    if not chapters and not chapter_numbers:
        raise PlotStudioError("This book has no chapters.")
    if chapter_numbers and len(chapters) != len(set(chapter_numbers)):
        missing = sorted(set(chapter_numbers) - {number for _, number in chapters})
        raise PlotStudioError(f"This book has no chapter {', '.join(map(str, missing))}.")
    params = {"book_id": str(book_id), "chapter_ids": [str(c.id) for c in chapters], "style": style,
              "engine": engine, "custom_notes": custom_notes, "run_key": uuid.uuid4().hex}
    return jobs.submit(user_id, GENERATE, params, book_id=book_id, queue=queue)


def generate_scripts(user_id: uuid.UUID, progress: jobs.Progress, *, book_id: str, chapter_ids: list[str],
                     style: str, engine: str, run_key: str, custom_notes: str | None = None) -> dict:
    """The job: each chapter's script in turn, saved as it is made (a retry skips what is saved)."""
    total = len(chapter_ids)
    saved = []
    for n, chapter_id in enumerate(chapter_ids, start=1):
        progress(n - 1, total, f"Chapter {n} of {total}")
        row = generate_chapter_script(user_id, uuid.UUID(chapter_id), style=style, engine=engine,
                                      custom_notes=custom_notes, run_key=run_key)
        saved.append(version_summary(user_id, row))
    progress(total, total, f"{total} chapter script{'s' * (total != 1)} written")
    return {"book_id": book_id, "scripts": saved}


def version_summary(user_id: uuid.UUID, row: ChapterScript) -> dict:
    """A version as the CLI prints it."""
    with unit_of_work(user_id) as session:
        number = session.scalar(select(Chapter.number).where(Chapter.id == row.chapter_id))
    return {"chapter": number, "script_id": str(row.id), "version": row.version, "style": row.style,
            "engine": row.generation_method, "source": row.source, "plot_enhanced": row.plot_enhanced,
            "character_enhanced": row.character_enhanced, "pages": float(row.pages),
            "enhancements": row.enhancements, "scenes": row.scenes, "fountain": row.fountain}


def active_script_jobs(user_id: uuid.UUID, book_id: uuid.UUID) -> list:
    """Script jobs of this book still queued or running, oldest first (the page shows their progress)."""
    from db.models import Job
    with unit_of_work(user_id) as session:
        return list(session.scalars(select(Job).where(Job.kind == GENERATE, Job.book_id == book_id,
                                                      Job.status.in_(("queued", "running")))
                                    .order_by(Job.created_at)))


def last_script_job(user_id: uuid.UUID, book_id: uuid.UUID):
    """The newest script job of this book, to say how it ended."""
    from db.models import Job
    with unit_of_work(user_id) as session:
        return session.scalar(select(Job).where(Job.kind == GENERATE, Job.book_id == book_id)
                              .order_by(Job.created_at.desc()).limit(1))


def preview(fountain: str) -> tuple[str, float]:
    """(HTML formatted like a screenplay page, estimated pages) of any Fountain text, for the editor's preview."""
    return export.to_html(fountain), ftn.parse(fountain).pages


def engines_available() -> list[str]:
    return ["offline", "llm"] if get_settings().llm_configured else ["offline"]
