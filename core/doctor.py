"""`python -m core doctor` and the health page: one line per part of the installation."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import text

from core.config import get_settings
from core.errors import PlotStudioError


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _database() -> list[Check]:
    from db import migrate
    from db.engine import app_engine

    settings = get_settings()
    where = f"external ({settings.database_url.split('@')[-1]})" if settings.database_url else \
        f"embedded in {settings.data_dir / 'pg'}"
    checks = []
    with app_engine().connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar_one()
        checks.append(Check("postgres", True, f"PostgreSQL {version}, {where}"))
        vector = conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")).scalar()
        checks.append(Check("pgvector", vector is not None, f"pgvector {vector}" if vector else "the vector extension is missing"))
        role = conn.execute(text("SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")).one()
        owns = conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user")).scalar_one()
        bound = not role.rolsuper and not role.rolbypassrls and owns == 0
        checks.append(Check("row-level security", bound,
                            f"app role {role.rolname} is subject to RLS" if bound else
                            f"app role {role.rolname} bypasses RLS (superuser, BYPASSRLS or table owner)"))
    current, head = migrate.current_revision(), migrate.head_revision()
    checks.append(Check("migrations", current == head, f"at {current}" + ("" if current == head else f", head is {head}: run `python -m core db upgrade`")))
    return checks


def _queue() -> list[Check]:
    from core import jobs

    workers = jobs.live_workers()
    in_process = " (plus the app's in-process worker while it runs)" if get_settings().in_process_worker else ""
    return [Check("job queue", True, f"procrastinate ready, {workers} live worker(s){in_process}")]


def _engines() -> list[Check]:
    settings = get_settings()
    llm = f"LLM endpoint {settings.llm_base_url or 'api.openai.com'}" if settings.llm_configured else \
        "offline engine (no LLM key or base URL set)"
    embed = f"{settings.embedding_model} at {settings.embedding_base_url}" if settings.embedding_base_url else \
        f"{settings.embedding_model} (packaged, offline)"
    images = "disabled" if not settings.enable_character_images else \
        (f"images API {settings.image_base_url}" if settings.image_base_url else "local portrait cards")
    return [_llm_check(llm), Check("embeddings", _embedding_model_available(), embed), _portrait_check(images)]


PROBE_SECONDS = 10


def _llm_check(described: str) -> Check:
    """Ask a configured endpoint for its models (`/v1/models`): it answers, and lists the model each tier uses."""
    settings = get_settings()
    if not settings.llm_configured:
        return Check("llm", True, described)
    import openai

    from core.config import Tier

    client = openai.OpenAI(base_url=settings.llm_base_url, api_key=settings.llm_api_key or "none",
                           timeout=PROBE_SECONDS, max_retries=0)
    try:
        listed = {model.id for model in client.models.list()}
    except openai.APIStatusError as error:
        return Check("llm", False, f"{described} answered {error.status_code} to /models: check the URL and key")
    except openai.APIError as error:
        return Check("llm", False, f"{described} did not answer ({type(error).__name__}): is it running?")
    missing = sorted({settings.model_for(tier) for tier in Tier} - listed)
    if listed and missing:  # an empty list: servers that do not list their models
        return Check("llm", False, f"{described} answers, but does not serve {', '.join(missing)}: "
                                   "set LLM_MODEL_<TIER> to models it lists")
    return Check("llm", True, f"{described} answers, {len(listed)} models listed")


def _portrait_check(described: str) -> Check:
    """Render a portrait card for real (or ask the images API for its models), not just read the settings."""
    settings = get_settings()
    if not settings.enable_character_images:
        return Check("portraits", True, described)
    if settings.image_base_url:
        import openai

        client = openai.OpenAI(base_url=settings.image_base_url, api_key=settings.image_api_key or "none",
                               timeout=PROBE_SECONDS, max_retries=0)
        try:
            client.models.list()
        except openai.APIError as error:
            return Check("portraits", False, f"{described} did not answer /models ({type(error).__name__})")
        return Check("portraits", True, f"{described} answers")
    import io

    from PIL import Image, ImageDraw

    card = Image.new("RGB", (256, 320), (38, 42, 58))
    ImageDraw.Draw(card).text((24, 280), "Plot Studio", fill=(235, 235, 235))
    buffer = io.BytesIO()
    card.save(buffer, format="PNG")
    rendered = Image.open(io.BytesIO(buffer.getvalue()))
    ok = rendered.size == (256, 320)
    return Check("portraits", ok, f"{described}: rendered a {rendered.size[0]}×{rendered.size[1]} PNG card"
                 if ok else f"{described}: the card did not render")


def _embedding_model_available() -> bool:
    settings = get_settings()
    if settings.embedding_base_url:
        return True
    import importlib.util
    return importlib.util.find_spec(settings.embedding_model.replace("-", "_")) is not None


def run_checks() -> list[Check]:
    """Every check; a part that cannot even be reached is reported as failing, not raised."""
    checks: list[Check] = []
    for group in (_database, _queue, _engines):
        try:
            checks.extend(group())
        except Exception as exc:  # the doctor reports, it does not crash
            checks.append(Check(group.__name__.strip("_"), False, f"{type(exc).__name__}: {exc}"))
    return checks


def database_problem() -> str | None:
    """A sentence on why the app cannot use its database, or None when it can.

    Asked as the app role (which may read the migration history): the web process never opens the
    owner's credentials. The exception's text (it can quote SQL or a URL) goes to the log only.
    """
    from db import migrate
    from db.engine import app_engine

    try:
        current, head = migrate.current_revision(app_engine()), migrate.head_revision()
    except PlotStudioError as problem:  # e.g. an external database not migrated yet: its sentence says what to run
        return str(problem)
    except Exception:
        logging.getLogger(__name__).exception("the database check failed")
        return "the database did not answer, or refused the app's role. Check that it is running and migrated."
    if current != head:
        return f"the schema is at {current}, not {head}: run `python -m core db upgrade`."
    return None
