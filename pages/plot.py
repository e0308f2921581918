"""A book's plot overview: generate it (a job), read it with its evidence, edit and save versions, compare, restore."""

from functools import partial

import streamlit as st

from core.artefacts import PLOT_FIELDS
from core.engines import LLM, OFFLINE, default_engine_name
from core.errors import ArtefactValidationError, PlotStudioError, VersionConflictError
from core.generation import llm_available
from core.portraits import images_enabled
from core.services import plot
from pages import _shared as ui

LABELS = {"logline": "Logline", "themes": "Themes", "story_type": "Story type", "genre": "Genre", "tone": "Tone",
          "audience": "Audience", "setting": "Setting"}

account = ui.require_account()
book = ui.choose_book(account, key="plot_book_select")  # in the URL, shared with the Book page
st.title(f"Plot overview · {ui.plain(book.title)}")


run = partial(ui.run_as, account)


def generate_form(label: str) -> None:
    engines = [LLM, OFFLINE] if llm_available() else [OFFLINE]
    with st.form("generate_plot"):
        engine = st.radio("Engine", engines, horizontal=True, index=engines.index(default_engine_name()),
                          format_func=lambda e: {"offline": "Offline draft (no model)", "llm": "Model"}[e])
        instructions = st.text_area("Instructions (optional)", placeholder="e.g. focus on the sisters' bond",
                                    key="plot_instructions")
        include_matter = st.checkbox("Also read front and back matter (prefaces, appendices)", value=False)
        include_images = st.checkbox("Also draw portraits for the main characters of the board that have none",
                                     value=False, disabled=not images_enabled())
        st.caption("The offline engine keeps your instructions with the version but cannot follow them.")
        if LLM in engines:
            used, allowed = plot.monthly_allowance(account.id)
            st.caption(f"Model generations this month: {used} of {'unlimited' if allowed is None else allowed} "
                       f"({account.tier.value} plan); offline drafts are not counted.")
        if st.form_submit_button(label, type="primary"):
            job_id = run(plot.start_generation, book.id, engine=engine, instructions=instructions,
                         include_matter=include_matter, include_character_images=include_images)
            if job_id:
                st.session_state.plot_job = str(job_id)
                st.rerun()


ui.follow_job(account, job_key="plot_job", error_key="plot_error", cancel_key="cancel_plot")
if st.session_state.get("plot_error"):
    st.error(ui.plain(st.session_state.pop("plot_error")))

current = plot.find_current(account.id, book.id)
if current is None:
    st.info("This book has no plot overview yet. The whole book is read once; every field cites its passages.")
    if not st.session_state.get("plot_job"):
        generate_form("Generate the plot overview")
    st.stop()

if current.status == "deleted":
    st.warning("This plot overview is in the bin.")
    undo, empty = st.columns(2)
    if undo.button("Undo delete", type="primary"):
        run(plot.undelete, book.id)
        st.rerun()
    if empty.button("Empty the bin (cannot be undone)"):
        run(plot.empty_bin)
        st.rerun()
    st.stop()


def provenance(version: plot.PlotVersion) -> str:
    engine = "offline engine" if version.generation_method == OFFLINE else (version.model_used or "model")
    parts = [f"**{ui.plain(version.label)}**", f"version {version.version} ({version.origin})", engine,
             f"tier {version.provenance.get('tier', '?')}"]
    if version.generation_method == LLM:
        parts += [f"{version.tokens_in:,} tokens in / {version.tokens_out:,} out", f"${version.cost_usd:.4f}"]
    if version.duration_ms:
        parts.append(f"{version.duration_ms / 1000:.1f} s")
    parts.append(f"{version.created_at:%Y-%m-%d %H:%M}")
    return " · ".join(parts)


def show_value(field: str, value) -> None:
    if field == "themes":
        st.markdown(" · ".join(ui.plain(theme) for theme in value))
    else:
        st.markdown(ui.plain(str(value)))


def show_version(version: plot.PlotVersion) -> None:
    """Every field beside the passages it rests on."""
    st.caption(provenance(version))
    if version.custom_instructions:
        st.caption(f"Instructions: {ui.plain(version.custom_instructions)}")
    for field in PLOT_FIELDS:
        value_column, evidence_column = st.columns([3, 2])
        with value_column:
            st.markdown(f"**{LABELS[field]}**")
            show_value(field, version.fields()[field])
        with evidence_column:
            for citation in version.citations.get(field, []):
                st.caption(f"Chapter {citation.chapter_number}: “{ui.plain(citation.quote)}”")


status_note = {"archived": "Archived: set aside, kept with every version."}.get(current.status)
if status_note:
    st.info(status_note)

stale = plot.staleness(account.id, book.id)
if stale.stale:
    st.warning(f"The book changed since this overview was generated ({stale.sentence()}).")
    if not st.session_state.get("plot_job") and st.button("Refresh what changed"):
        job_id = run(plot.start_refresh, book.id)
        if job_id:
            st.session_state.plot_job = str(job_id)
            st.rerun()

overview_tab, edit_tab, history_tab, generate_tab = st.tabs(["Overview", "Edit", "History", "Generate again"])

with overview_tab:
    show_version(current)
    archive_column, delete_column = st.columns(2)
    if current.status == "archived":
        if archive_column.button("Unarchive"):
            run(plot.unarchive, book.id)
            st.rerun()
    elif archive_column.button("Archive"):
        run(plot.archive, book.id)
        st.rerun()
    if delete_column.button("Delete"):
        run(plot.delete, book.id)
        st.rerun()

with edit_tab:
    errors = st.session_state.pop("plot_field_errors", {})
    conflict = st.session_state.get("plot_conflict")
    values = current.fields()
    with st.form("edit_plot"):
        # Widgets keyed by version: a newly saved or restored version always opens in a fresh form.
        key = f"plot-v{current.version}"
        edited = {
            "logline": st.text_area("Logline", value=values["logline"], height=90, key=f"{key}-logline"),
            "themes": st.text_area("Themes (one per line)", value="\n".join(values["themes"]),
                                   key=f"{key}-themes").split("\n"),
            "story_type": st.text_input("Story type", value=values["story_type"], key=f"{key}-story_type"),
            "genre": st.text_input("Genre", value=values["genre"], key=f"{key}-genre"),
            "tone": st.text_input("Tone", value=values["tone"], key=f"{key}-tone"),
            "audience": st.text_input("Audience", value=values["audience"], key=f"{key}-audience"),
            "setting": st.text_area("Setting", value=values["setting"], height=70, key=f"{key}-setting"),
        }
        for field, message in errors.items():
            st.error(f"{LABELS.get(field, field)}: {ui.plain(message)}")
        saved = st.form_submit_button("Save as a new version", type="primary")
    if saved:
        try:
            version = plot.save_edit(account.id, book.id, based_on_version=current.version, values=edited)
            st.session_state.plot_conflict = None
            st.toast(f"Saved as version {version.version}.")
            st.rerun()
        except ArtefactValidationError as error:
            st.session_state.plot_field_errors = error.field_errors
            st.rerun()
        except VersionConflictError as error:
            st.session_state.plot_conflict = {"message": str(error), "yours": error.yours, "theirs": error.theirs,
                                              "version": error.current_version}
            st.rerun()
        except PlotStudioError as error:
            ui.show_error(error)
    if conflict:
        st.error(ui.plain(conflict["message"]))
        for field in PLOT_FIELDS:
            if conflict["yours"][field] != conflict["theirs"][field]:
                mine, theirs = st.columns(2)
                mine.markdown(f"**{LABELS[field]}, yours**")
                with mine:
                    show_value(field, conflict["yours"][field])
                theirs.markdown(f"**{LABELS[field]}, version {conflict['version']}**")
                with theirs:
                    show_value(field, conflict["theirs"][field])
        keep, drop = st.columns(2)
        if keep.button("Save mine on top of it"):
            if run(plot.save_edit, book.id, based_on_version=conflict["version"], values=conflict["yours"]):
                st.session_state.plot_conflict = None
                st.rerun()
        if drop.button("Keep theirs"):
            st.session_state.plot_conflict = None
            st.rerun()

with history_tab:
    versions = plot.history(account.id, book.id)
    for version in versions:
        who = account.display_name or account.email
        line, view, restore = st.columns([5, 1, 1])
        line.markdown(f"**Version {version.version}** · {version.origin} by {ui.plain(who)} · "
                      f"{version.created_at:%Y-%m-%d %H:%M} · {ui.plain(version.model_used or version.label)}")
        if view.button("View", key=f"view-{version.version}"):
            st.session_state.plot_viewing = version.version
        if version.version != current.version and restore.button("Restore", key=f"restore-{version.version}"):
            if run(plot.restore, book.id, version.version, based_on_version=current.version):
                st.rerun()
    viewing = st.session_state.get("plot_viewing")
    if viewing and any(v.version == viewing for v in versions):
        with st.container(border=True):
            st.subheader(f"Version {viewing}")
            show_version(plot.get_version(account.id, book.id, viewing))
    if len(versions) > 1:
        st.subheader("Compare two versions")
        numbers = [v.version for v in versions]
        left, right = st.columns(2)
        before = left.selectbox("Version", numbers, index=1, key="compare_before")
        after = right.selectbox("with version", numbers, index=0, key="compare_after")
        for change in plot.compare(account.id, book.id, before, after):
            if change.changed:
                st.markdown(f"**{LABELS[change.field]}**")
                old, new = st.columns(2)
                with old:
                    show_value(change.field, change.before)
                with new:
                    show_value(change.field, change.after)
        if all(not c.changed for c in plot.compare(account.id, book.id, before, after)):
            st.caption("These two versions are the same, field by field.")

with generate_tab:
    st.caption("A new generation becomes the next version; the chapters already read are not read again.")
    if not st.session_state.get("plot_job"):
        generate_form("Generate again")
