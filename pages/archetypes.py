"""Administrators: the archetype reference table (add, edit, deactivate); writers see only active archetypes."""

import streamlit as st

from core import archetypes
from core.errors import PlotStudioError
from pages import _shared as ui

account = ui.require_account()
st.title("Archetypes")
if not account.is_admin:
    st.error("Only an administrator can edit the archetypes. Writers see the active ones on the character board.")
    st.stop()


def lines(value: str) -> list[str]:
    return [line.strip() for line in value.split("\n") if line.strip()]


def archetype_form(form_key: str, current: archetypes.Archetype | None) -> None:
    with st.form(form_key):
        name = st.text_input("Name", value=current.name if current else "")
        description = st.text_area("Description", value=current.description if current else "")
        category = st.text_input("Category", value=(current.category or "") if current else "")
        traits = st.text_area("Traits (one per line)", value="\n".join(current.traits) if current else "")
        roles = st.text_area("Typical roles (one per line)", value="\n".join(current.typical_roles) if current else "")
        examples = st.text_input("Example characters", value=(current.example_characters or "") if current else "")
        if st.form_submit_button("Save archetype" if current else "Add archetype", type="primary"):
            try:
                archetypes.save_archetype(account.id, name=name, description=description, category=category,
                                          traits=lines(traits), typical_roles=lines(roles),
                                          example_characters=examples,
                                          archetype_id=current.id if current else None)
                st.toast("Saved.")
                st.rerun()
            except PlotStudioError as error:
                ui.show_error(error)


every = archetypes.all_archetypes(account.id)
st.caption(f"{sum(a.is_active for a in every)} active of {len(every)}. Writers' boards read them through a "
           "24-hour cache, cleared by every change made here.")
for archetype in every:
    state = "" if archetype.is_active else " (inactive)"
    with st.expander(f"{archetype.name}{state}"):
        st.caption(ui.plain(archetype.description))
        archetype_form(f"edit-{archetype.id}", archetype)
        label = "Deactivate" if archetype.is_active else "Activate again"
        if st.button(label, key=f"toggle-{archetype.id}"):
            try:
                archetypes.set_active(account.id, archetype.id, not archetype.is_active)
                st.rerun()
            except PlotStudioError as error:
                ui.show_error(error)

st.subheader("Add an archetype")
archetype_form("add-archetype", None)
