"""The writer's account: who they are, their tier."""

import streamlit as st

from pages import _shared as ui

account = ui.require_account()
st.title("Account")
st.markdown(f"**Email:** {ui.plain(account.email)}")
st.markdown(f"**Name:** {ui.plain(account.display_name) or '—'}")
st.markdown(f"**Subscription tier:** {account.tier.value}")
if account.is_admin:
    st.info("You are an administrator of this Plot Studio.")
