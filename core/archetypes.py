"""The archetype reference table, read through a 24-hour cache (the design's archetype cache); admins edit it."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.errors import NotFoundError, PermissionDeniedError, PlotStudioError
from db.engine import unit_of_work
from db.models import CharacterArchetype, User

CACHE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Archetype:
    id: uuid.UUID
    name: str
    description: str
    category: str | None
    traits: tuple[str, ...]
    typical_roles: tuple[str, ...]
    example_characters: str | None
    is_active: bool


_cache: dict[str, tuple[float, tuple[Archetype, ...]]] = {}
_lock = threading.Lock()


def _as_archetype(row: CharacterArchetype) -> Archetype:
    return Archetype(row.id, row.name, row.description, row.category, tuple(row.traits or ()),
                     tuple(row.typical_roles or ()), row.example_characters, row.is_active)


def active_archetypes(user_id: uuid.UUID) -> tuple[Archetype, ...]:
    """The active archetypes, from the cache while it is younger than 24 hours (every writer sees the same)."""
    with _lock:
        cached = _cache.get("active")
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
    with unit_of_work(user_id) as session:
        rows = session.scalars(select(CharacterArchetype).where(CharacterArchetype.is_active)
                               .order_by(CharacterArchetype.name)).all()
        archetypes = tuple(_as_archetype(r) for r in rows)
    with _lock:
        _cache["active"] = (time.monotonic(), archetypes)
    return archetypes


def forget_cache() -> None:
    with _lock:
        _cache.clear()


def all_archetypes(user_id: uuid.UUID) -> list[Archetype]:
    """Every archetype, inactive ones too, for the admin page (RLS shows inactive rows to admins only)."""
    with unit_of_work(user_id) as session:
        return [_as_archetype(r) for r in session.scalars(select(CharacterArchetype)
                                                         .order_by(CharacterArchetype.name))]


def _require_admin(session, user_id: uuid.UUID) -> None:
    if not session.scalar(select(User.is_admin).where(User.id == user_id)):
        raise PermissionDeniedError("Only an administrator can change the archetypes.")


def save_archetype(user_id: uuid.UUID, *, name: str, description: str, category: str | None = None,
                   traits: list[str] | None = None, typical_roles: list[str] | None = None,
                   example_characters: str | None = None, archetype_id: uuid.UUID | None = None) -> uuid.UUID:
    """Add an archetype, or edit one (admins only); the cache is dropped so the next read sees it."""
    name, description = name.strip(), description.strip()
    if len(name) < 2 or len(name) > 100:
        raise PlotStudioError("An archetype's name needs 2 to 100 characters.")
    if len(description) < 10:
        raise PlotStudioError("Describe the archetype in at least 10 characters.")
    clean = lambda items: [i.strip() for i in items or [] if i.strip()]  # noqa: E731
    try:
        with unit_of_work(user_id) as session:
            _require_admin(session, user_id)
            if archetype_id is None:
                row = CharacterArchetype(name=name)
                session.add(row)
            else:
                row = session.get(CharacterArchetype, archetype_id)
                if row is None:
                    raise NotFoundError("That archetype does not exist.")
            row.name, row.description, row.category = name, description, (category or "").strip() or None
            row.traits, row.typical_roles = clean(traits), clean(typical_roles)
            row.example_characters = (example_characters or "").strip() or None
            session.flush()
            saved = row.id
    except IntegrityError:
        raise PlotStudioError(f"An archetype named “{name}” exists already.") from None
    forget_cache()
    return saved


def set_active(user_id: uuid.UUID, archetype_id: uuid.UUID, active: bool) -> None:
    """Deactivate an archetype (writers stop seeing it) or bring it back (admins only)."""
    with unit_of_work(user_id) as session:
        _require_admin(session, user_id)
        row = session.get(CharacterArchetype, archetype_id)
        if row is None:
            raise NotFoundError("That archetype does not exist.")
        row.is_active = active
    forget_cache()
