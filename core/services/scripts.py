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
from core.config import get_settings
from core.engines.offline import script as offline
from core.errors import GenerationError, PlotStudioError, VersionConflictError
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

    def plot_text(self) -> str:
        if self.plot is None:
            return "(no plot overview yet)"
        p = self.plot
        return "\n".join(filter(None, [f"Logline: {p.logline}", f"Themes: {', '.join(p.themes or [])}",
                                       f"Story type: {p.story_type}", f"Genre: {p.genre}; tone: {p.tone}",
                                       f"Setting: {p.setting}"]))

    def characters_text(self) -> str:
        if not self.characters:
            return "(no character board yet: name speakers as the chapter does)"
        lines = []
        for c in self.characters:
            also = f" (also called {', '.join(c.aliases)})" if c.aliases else ""
            facts = "; ".join(f"{k}: {v}" for k, v in (("role", c.role), ("archetypes", ", ".join(c.archetypes or [])),
                                                       ("want", c.want), ("need", c.need),
                                                       ("arc", c.character_arc)) if v)
            lines.append(f"- {c.name}{also}: {facts}")
        return "\n".join(lines)


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
    started = time.perf_counter()
    if engine == "offline":
        draft = offline.chapter_script(
            chapter.text, book_title=book.title, author=book.author, chapter_number=chapter.number,
            chapter_title=chapter.title, style=style, characters=context.offline_characters(),
            plot=offline.PlotContext(logline=context.plot.logline or "", themes=list(context.plot.themes or []))
            if context.plot else None)
        fountain, enhancements, usage, prompt, chunk_ids = draft.fountain, draft.enhancements, None, None, []
        plot_enhanced, character_enhanced, label = draft.plot_enhanced, draft.character_enhanced, draft.label
    else:
        fountain, enhancements, usage, prompt, chunk_ids = _generate_with_model(
            user_id, "chapter_script", style, book, chapter, context, custom_notes,
            chapter_text=chapter.text)
        plot_enhanced, character_enhanced, label = context.plot is not None, bool(context.characters), "model draft"
    duration = int((time.perf_counter() - started) * 1000)
    return _save_generated(user_id, chapter_id, fountain, style=style, engine=engine, usage=usage, prompt=prompt,
                           plot=context.plot, plot_enhanced=plot_enhanced, character_enhanced=character_enhanced,
                           enhancements=enhancements, label=label, duration=duration, custom_notes=custom_notes,
                           run_key=run_key, source="generated", based_on=None, chunk_ids=chunk_ids)


def _generate_with_model(user_id, prompt_name, style, book, chapter, context, custom_notes, **extra):
    from core.generation.model import generate_structured
    from core.generation.usage import Resource, check_limits
    from core.prompts import load_prompt
    from core.artefacts import ChapterScriptDraft

    tier = check_limits(user_id, Resource.SCRIPT)
    prompt = load_prompt(prompt_name)
    passages = related_passages(user_id, book.id, chapter, context)
    variables = {"style_rules": STYLES[style], "book_title": book.title,
                 "chapter_heading": f"{chapter.number}. {chapter.title}", "plot_context": context.plot_text(),
                 "characters": context.characters_text(), "custom_instructions": custom_notes or "(none)",
                 "related_passages": "\n".join(f"- Chapter {h.chapter_number}: {' '.join(h.text.split())[:500]}"
                                                for h in passages) or "(none)", **extra}
    result = generate_structured(prompt, variables, ChapterScriptDraft, tier=tier, user_id=user_id,
                                 error=GenerationError)
    return (result.value.fountain, list(result.value.enhancements), result.usage, prompt,
            [h.chunk_id for h in passages])


def related_passages(user_id: uuid.UUID, book_id: uuid.UUID, chapter: Chapter, context: BookContext,
                     k: int = 5) -> list:
    """Set-ups and pay-offs: passages of other chapters about this chapter's people and the story's logline."""
    if context.plot is None and not context.characters:
        return []
    from core.retrieval import SearchMode, search_book
    names = Counter(name for name in offline.Names(context.offline_characters()).mentions(chapter.text))
    query = " or ".join([f'"{name}"' for name, _ in names.most_common(3)]
                        + ([context.plot.logline] if context.plot and context.plot.logline else []))
    if not query:
        return []
    try:
        hits = search_book(user_id, book_id, query, k=k * 3, mode=SearchMode.WORDS)
    except PlotStudioError:
        return []
    return [hit for hit in hits if hit.chapter_number != chapter.number][:k]


def _save_generated(user_id, chapter_id, fountain, *, style, engine, usage, prompt, plot, plot_enhanced,
                    character_enhanced, enhancements, label, duration, custom_notes, run_key, source, based_on,
                    chunk_ids=None):
    from core.generation.usage import Resource, Usage, record_usage

    with unit_of_work(user_id) as session:
        chapter = _chapter(session, chapter_id)
        row = _new_version(
            session, chapter, fountain, based_on=based_on, expected=None, style=style, source=source,
            plot_overview_id=plot.id if plot else None, plot_enhanced=plot_enhanced,
            character_enhanced=character_enhanced, enhancements=enhancements, custom_notes=custom_notes,
            generation_method=engine, model_used=usage.model if usage else None,
            tokens_in=usage.tokens_in if usage else 0, tokens_out=usage.tokens_out if usage else 0,
            source_chunk_ids=chunk_ids or [],
            generation_cost=usage.cost_usd if usage else Decimal(0),
            prompt_name=prompt.name if prompt else None, prompt_version=prompt.version if prompt else None,
            duration_ms=duration,
            generation_metadata={"label": label, "engine": engine, **({"run_key": run_key} if run_key else {}),
                                 **({"usage": usage.as_dict()} if usage else {})})
        record_usage(session, user_id=user_id, resource=Resource.SCRIPT, usage=usage or Usage(tier=None),
                     engine=engine, book_id=chapter.book_id, resource_id=row.id,
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
    started = time.perf_counter()
    if engine == "llm":
        fountain, enhancements, usage, prompt, chunk_ids = _generate_with_model(
            user_id, "enhance_script", original.style, book, chapter, context, custom_notes,
            fountain=original.fountain)
    else:
        fountain, enhancements = _enhance_offline(original.fountain, context)
        usage, prompt, chunk_ids = None, None, []
    return _save_generated(user_id, chapter.id, fountain, style=original.style, engine=engine, usage=usage,
                           prompt=prompt, plot=context.plot, plot_enhanced=context.plot is not None,
                           character_enhanced=bool(context.characters), enhancements=enhancements,
                           label="enhanced with the plot", duration=int((time.perf_counter() - started) * 1000),
                           custom_notes=custom_notes, run_key=None, source="enhanced",
                           based_on=original.version, chunk_ids=chunk_ids)


def _enhance_offline(fountain: str, context: BookContext) -> tuple[str, list[str]]:
    """Without a model: the logline as a note up front, each speaking character's want and arc after each heading."""
    script = ftn.parse(fountain)
    by_cue = {}
    for character in context.characters:
        for name in [character.name, *character.aliases]:
            by_cue.setdefault(ftn.cue(name), character)
    notes_for = {}
    for scene in script.scenes:
        notes = []
        for name in scene.characters:
            character = by_cue.get(name)
            if character and (character.want or character.character_arc) and name not in scene.arc_progression:
                text = f"wants {character.want}" if character.want else character.character_arc
                notes.append(f"[[arc {name}: {' '.join(text.split())[:200]}]]")
        if notes:
            notes_for[scene.heading] = " ".join(notes)
    lines, out, applied = fountain.split("\n"), [], []
    done = set()
    for line in lines:
        out.append(line)
        key = line.strip().lstrip(".").strip().upper()
        if key in notes_for and key not in done:
            out += ["", notes_for[key]]
            done.add(key)
    if done:
        applied.append(f"character arc notes in {len(done)} scenes")
    text = "\n".join(out)
    if context.plot is not None and context.plot.logline and "[[logline:" not in text:
        body = ftn.body_of(text)
        head = text[: len(text) - len(body)] if text.endswith(body) else ""
        text = head + f"[[logline: {' '.join(context.plot.logline.split())}]]\n\n" + body
        applied.append("plot context integration (logline)")
    return text, applied or ["no change: the script's characters are not on the board"]


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
