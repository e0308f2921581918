"""The character board: cards of a book's characters, filters, and each character's profile, versions and portraits."""

import uuid
from functools import partial

import streamlit as st

from core.archetypes import active_archetypes
from core.artefacts import CHARACTER_ROLES
from core.errors import ArtefactValidationError, PlotStudioError, VersionConflictError
from core.generation import llm_available
from core.services import characters
from pages import _shared as ui

LABELS = {"name": "Name", "aliases": "Aliases", "role": "Role", "archetypes": "Archetypes", "want": "Want",
          "need": "Need", "lie": "Lie", "ghost": "Ghost", "character_arc": "Arc",
          "physical_description": "Physical description", "personality": "Personality"}
COLUMNS = 4

account = ui.require_account()
book = ui.choose_book(account, key="characters_book_select")
st.title(f"Characters · {ui.plain(book.title)}")


run = partial(ui.run_as, account)


def generate_form(label: str) -> None:
    engines = ["llm", "offline"] if llm_available() else ["offline"]
    with st.form("generate_characters"):
        engine = st.radio("Engine", engines, horizontal=True,
                          format_func=lambda e: {"offline": "Offline draft (no model)", "llm": "Model"}[e])
        if st.form_submit_button(label, type="primary"):
            job_id = run(characters.start_board, book.id, engine=engine)
            if job_id:
                st.session_state.characters_job = str(job_id)
                st.rerun()


ui.follow_job(account, job_key="characters_job", error_key="characters_error", cancel_key="cancel_characters")
if st.session_state.get("characters_error"):
    st.error(ui.plain(st.session_state.pop("characters_error")))

everyone = characters.list_characters(account.id, book.id)
if not everyone:
    st.info("No characters yet. The whole book is read; names, aliases, dialogue and chapters are counted.")
    if not st.session_state.get("characters_job"):
        generate_form("Find the characters")
    st.stop()

portraits = characters.current_portraits(account.id, book.id)
archetype_names = sorted({a for c in everyone for a in c.archetypes} | {a.name for a in active_archetypes(account.id)})
role_column, archetype_column, search_column = st.columns(3)
role = role_column.selectbox("Role", ["All", *CHARACTER_ROLES], key="filter_role")
archetype = archetype_column.selectbox("Archetype", ["All", *archetype_names], key="filter_archetype")
search = search_column.text_input("Search by name", key="filter_search")
shown = characters.list_characters(account.id, book.id, role=None if role == "All" else role,
                                   archetype=None if archetype == "All" else archetype, search=search)
st.caption(f"{len(shown)} of {len(everyone)} characters")


def open_character(key: uuid.UUID) -> None:
    st.session_state.character_key = str(key)


for start in range(0, len(shown), COLUMNS):
    for column, card in zip(st.columns(COLUMNS), shown[start:start + COLUMNS]):
        with column.container(border=True):
            if card.key in portraits:
                st.image(characters.portrait_image(account.id, portraits[card.key])[0], width="stretch")
            st.markdown(f"**{ui.plain(card.name)}**")
            st.caption(f"{card.role or '—'} · {ui.plain(card.primary_archetype or '—')}")
            want = (card.want or "").replace("\n", " ")
            st.caption(ui.plain(want if len(want) <= 90 else want[:89] + "…"))
            st.button("Open profile", key=f"open-{card.key}", on_click=open_character, args=(card.key,))

with st.expander("Add a character by hand, or find them again"):
    with st.form("add_character"):
        name = st.text_input("Name of the new character")
        want = st.text_input("What they want")
        need = st.text_input("What they need")
        if st.form_submit_button("Add character"):
            key = run(characters.add_character, book.id, {"name": name, "want": want, "need": need})
            if key:
                open_character(key)
                st.rerun()
    if not st.session_state.get("characters_job"):
        generate_form("Find the characters again")

opened = st.session_state.get("character_key")
if not opened or uuid.UUID(opened) not in {c.key for c in everyone}:
    st.stop()
key = uuid.UUID(opened)
view = characters.get_character(account.id, key)
st.divider()
st.header(ui.plain(view.card.name))
st.caption(f"**{ui.plain(view.card.label)}** · version {view.card.version} · {view.card.mentions} mentions · "
           f"{view.card.dialogue_lines} lines of dialogue · in {view.card.chapters_present} chapters")

profile_tab, edit_tab, history_tab, portrait_tab, manage_tab = st.tabs(
    ["Profile", "Edit", "Versions", "Portrait", "Merge / split"])


def show_field(field: str, value) -> None:
    if isinstance(value, list):
        st.markdown(" · ".join(ui.plain(v) for v in value) or "—")
    else:
        st.markdown(ui.plain(str(value)) or "—")


with profile_tab:
    for field in LABELS:
        value_column, evidence_column = st.columns([3, 2])
        with value_column:
            st.markdown(f"**{LABELS[field]}**")
            show_field(field, view.profile[field])
        with evidence_column:
            for citation in view.citations.get(field, []):
                st.caption(f"Chapter {citation['chapter_number']}: “{ui.plain(citation['quote'])}”")
    if view.analysis:
        st.subheader("Archetype analysis")
        st.caption(f"Method: {ui.plain(view.analysis.get('method', ''))}")
        for fit in [view.analysis["primary"], *view.analysis.get("secondary", [])]:
            primary = " (primary)" if fit is view.analysis["primary"] else ""
            st.markdown(f"**{ui.plain(fit['name'])}**{primary}: {ui.plain(fit['reason'])}")
            for citation in fit.get("evidence", []):
                st.caption(f"Chapter {citation['chapter_number']}: “{ui.plain(citation['quote'])}”")
        for label, field in (("Traits", "traits"), ("Strengths", "strengths"), ("Shadows", "shadows"),
                             ("Story roles", "story_roles")):
            st.markdown(f"**{label}:** {ui.plain(', '.join(view.analysis.get(field, [])) or '—')}")
    engines = ["llm", "offline"] if llm_available() else ["offline"]
    engine_column, button_column = st.columns([3, 2])
    engine = engine_column.radio("Engine for this character", engines, horizontal=True, key="regenerate_engine",
                                 format_func=lambda e: {"offline": "Offline draft (no model)", "llm": "Model"}[e])
    if button_column.button("Regenerate this character", key="regenerate_character"):
        if run(characters.regenerate_character, key, engine=engine):
            st.rerun()

with edit_tab:
    errors = st.session_state.pop("character_field_errors", {})
    conflict = st.session_state.get("character_conflict")
    values = view.profile
    with st.form("edit_character"):
        role_index = CHARACTER_ROLES.index(values["role"]) if values["role"] in CHARACTER_ROLES else 3
        edited = {
            "name": st.text_input("Name", value=values["name"]),
            "aliases": [a.strip() for a in st.text_area("Aliases (one per line)",
                                                         value="\n".join(values["aliases"])).split("\n") if a.strip()],
            "role": st.selectbox("Role", CHARACTER_ROLES, index=role_index),
            "archetypes": [a.strip() for a in st.text_area("Archetypes (one per line, the primary first)",
                                                            value="\n".join(values["archetypes"])).split("\n")
                           if a.strip()],
            "want": st.text_area("Want", value=values["want"], height=80),
            "need": st.text_area("Need", value=values["need"], height=80),
            "lie": st.text_area("Lie", value=values["lie"], height=80),
            "ghost": st.text_area("Ghost", value=values["ghost"], height=80),
            "character_arc": st.text_area("Arc", value=values["character_arc"], height=100),
            "physical_description": st.text_area("Physical description", value=values["physical_description"],
                                                 height=100),
            "personality": st.text_area("Personality", value=values["personality"], height=80),
        }
        for field, message in errors.items():
            st.error(f"{LABELS.get(field, field)}: {ui.plain(message)}")
        saved = st.form_submit_button("Save as a new version", type="primary")
    if saved:
        try:
            version = characters.save_character(account.id, key, base_version=view.card.version, changes=edited)
            st.session_state.character_conflict = None
            st.toast(f"Saved as version {version}.")
            st.rerun()
        except ArtefactValidationError as error:
            st.session_state.character_field_errors = error.field_errors
            st.rerun()
        except VersionConflictError as error:
            st.session_state.character_conflict = {"message": str(error), "yours": error.yours,
                                                   "theirs": error.theirs, "version": error.current_version}
            st.rerun()
        except PlotStudioError as error:
            ui.show_error(error)
    if conflict:
        st.error(ui.plain(conflict["message"]))
        for field in LABELS:
            if conflict["yours"][field] != conflict["theirs"][field]:
                mine, theirs = st.columns(2)
                with mine:
                    st.markdown(f"**{LABELS[field]}, yours**")
                    show_field(field, conflict["yours"][field])
                with theirs:
                    st.markdown(f"**{LABELS[field]}, version {conflict['version']}**")
                    show_field(field, conflict["theirs"][field])
        keep, drop = st.columns(2)
        if keep.button("Save mine on top of it"):
            if run(characters.save_character, key, base_version=conflict["version"], changes=conflict["yours"]):
                st.session_state.character_conflict = None
                st.rerun()
        if drop.button("Keep theirs"):
            st.session_state.character_conflict = None
            st.rerun()

with history_tab:
    versions = characters.history(account.id, key)
    for version in versions:
        line, restore = st.columns([5, 1])
        line.markdown(f"**Version {version['version']}** · {ui.plain(version['label'])} · "
                      f"{version['created_at']:%Y-%m-%d %H:%M}")
        if version["version"] != view.card.version and restore.button("Restore", key=f"restore-{version['version']}"):
            if run(characters.restore, key, version["version"], base_version=view.card.version):
                st.rerun()
    if len(versions) > 1:
        st.subheader("Compare two versions")
        numbers = [v["version"] for v in versions]
        left, right = st.columns(2)
        before = left.selectbox("Version", numbers, index=1, key="character_compare_before")
        after = right.selectbox("with version", numbers, index=0, key="character_compare_after")
        changes = run(characters.compare, key, before, after) or {}
        for field, (old_value, new_value) in changes.items():
            st.markdown(f"**{LABELS[field]}**")
            old, new = st.columns(2)
            with old:
                show_field(field, old_value)
            with new:
                show_field(field, new_value)
        if not changes:
            st.caption("These two versions are the same, field by field.")

with portrait_tab:
    history = characters.portrait_history(account.id, key)
    current = next((p for p in history if p.is_current), None)
    if current:
        st.image(characters.portrait_image(account.id, current.id)[0], width=300,
                 caption=f"Portrait {current.version} · {current.provider}")
    prompt = st.text_area("Portrait prompt (edit it to make a custom portrait)",
                          value=characters.portrait_prompt(account.id, key), height=160, key=f"prompt-{key}")
    if st.button("Regenerate portrait", type="primary"):
        default = characters.portrait_prompt(account.id, key)
        if run(characters.regenerate_portrait, key, prompt=None if prompt == default else prompt):
            st.rerun()
    earlier = [p for p in history if not p.is_current]
    if earlier:
        st.subheader("Earlier portraits")
        for column, portrait in zip(st.columns(COLUMNS), earlier[:COLUMNS * 3]):
            with column:
                st.image(characters.portrait_image(account.id, portrait.id)[0], width="stretch",
                         caption=f"Portrait {portrait.version} · {portrait.created_at:%Y-%m-%d %H:%M}")
                if st.button("Make current", key=f"current-{portrait.id}"):
                    run(characters.make_portrait_current, portrait.id)
                    st.rerun()

with manage_tab:
    others = [c for c in everyone if c.key != key]
    if others:
        with st.form("merge_character"):
            other = st.selectbox("Merge this character into it (its names become aliases)", others,
                                 format_func=lambda c: c.name)
            if st.form_submit_button("Merge"):
                if run(characters.merge_characters, key, other.key):
                    st.rerun()
    if view.profile["aliases"]:
        with st.form("split_alias"):
            alias = st.selectbox("Alias that is someone else", view.profile["aliases"])
            if st.form_submit_button("Split off as a new character"):
                new_key = run(characters.split_alias, key, alias)
                if new_key:
                    open_character(new_key)
                    st.rerun()
