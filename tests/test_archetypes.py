"""The archetype table: read through the 24-hour cache, written by administrators only (add, edit, deactivate)."""

from __future__ import annotations

import pytest

from core import archetypes
from core.errors import PermissionDeniedError, PlotStudioError
from support import make_admin


@pytest.fixture(autouse=True)
def _fresh_cache():
    archetypes.forget_cache()
    yield
    archetypes.forget_cache()  # the test's rows are rolled back: never leave them cached


def test_writers_read_the_active_archetypes_through_the_cache(writer_a):
    first = archetypes.active_archetypes(writer_a.id)
    names = {a.name for a in first}
    assert {"The Hero", "The Mentor", "The Shadow", "The Ally", "The Threshold Guardian", "The Shapeshifter",
            "The Trickster"} <= names and len(names) >= 15
    assert archetypes.active_archetypes(writer_a.id) is first  # served from the cache, not read again


def test_admin_adds_edits_and_deactivates_and_the_cache_follows(writer_a):
    admin = make_admin()
    before = archetypes.active_archetypes(writer_a.id)
    new_id = archetypes.save_archetype(admin.id, name="The Witness", description="Sees everything, changes little.",
                                       category="observer", traits=["watchful", " ", "quiet"],
                                       typical_roles=["narrator"])
    after = {a.name: a for a in archetypes.active_archetypes(writer_a.id)}
    assert "The Witness" in after and len(after) == len(before) + 1
    assert after["The Witness"].traits == ("watchful", "quiet")
    archetypes.save_archetype(admin.id, name="The Witness", description="Sees everything and tells it later.",
                              archetype_id=new_id)
    assert {a.name: a for a in archetypes.active_archetypes(writer_a.id)}["The Witness"].description == \
        "Sees everything and tells it later."
    archetypes.set_active(admin.id, new_id, False)
    assert "The Witness" not in {a.name for a in archetypes.active_archetypes(writer_a.id)}
    assert "The Witness" not in {a.name for a in archetypes.all_archetypes(writer_a.id)}  # RLS: active only
    inactive = {a.name: a for a in archetypes.all_archetypes(admin.id)}["The Witness"]
    assert inactive.is_active is False
    archetypes.set_active(admin.id, new_id, True)
    assert "The Witness" in {a.name for a in archetypes.active_archetypes(writer_a.id)}


def test_writers_cannot_change_archetypes(writer_a):
    hero = next(a for a in archetypes.active_archetypes(writer_a.id) if a.name == "The Hero")
    with pytest.raises(PermissionDeniedError, match="Only an administrator"):
        archetypes.save_archetype(writer_a.id, name="The Fool", description="A fool, for a while.")
    with pytest.raises(PermissionDeniedError):
        archetypes.set_active(writer_a.id, hero.id, False)
    assert "The Hero" in {a.name for a in archetypes.active_archetypes(writer_a.id)}


@pytest.mark.parametrize("name, description, message", [
    ("X", "A long enough description.", "2 to 100 characters"),
    ("The Hero", "A long enough description.", "exists already"),
    ("The Fool", "Short", "at least 10 characters"),
])
def test_bad_archetypes_are_refused_in_one_sentence(name, description, message, database):
    admin = make_admin()
    with pytest.raises(PlotStudioError, match=message):
        archetypes.save_archetype(admin.id, name=name, description=description)
