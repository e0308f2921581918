"""Sign in or create an account."""

import streamlit as st

from core.config import get_settings
from core.errors import AccountError
from core.services import accounts
from pages import _shared as ui

st.title("Plot Studio")
st.caption("Turn a book into a screen adaptation: plot, characters and a script for every chapter.")

sign_in_tab, sign_up_tab = st.tabs(["Sign in", "Create an account"])

with sign_in_tab:
    with st.form("sign_in"):
        email = st.text_input("Email", key="sign_in_email")
        password = st.text_input("Password", type="password", key="sign_in_password")
        if st.form_submit_button("Sign in", type="primary"):
            try:
                ui.remember(accounts.sign_in(email, password, client=ui.client_key()))
                st.rerun()
            except AccountError as error:
                ui.show_error(error)

with sign_up_tab:
    with st.form("sign_up"):
        name = st.text_input("Your name (optional)", key="sign_up_name")
        email = st.text_input("Email", key="sign_up_email")
        password = st.text_input("Password", type="password", key="sign_up_password",
                                 help=f"At least {accounts.MIN_PASSWORD_LENGTH} characters.")
        if st.form_submit_button("Create account", type="primary"):
            try:
                ui.remember(accounts.sign_up(email, password, display_name=name))
                st.rerun()
            except AccountError as error:
                ui.show_error(error)

if get_settings().oidc_enabled:
    st.divider()
    if error := st.session_state.pop("oidc_error", None):
        st.error(error)
    if st.session_state.get("oidc_link_pending"):
        st.info("A Plot Studio account already uses this email. Enter its password once to sign in with single "
                "sign-on from now on.")
        with st.form("link_oidc"):
            password = st.text_input("Password of your Plot Studio account", type="password", key="link_password")
            if st.form_submit_button("Link and sign in", type="primary"):
                try:
                    ui.remember(accounts.sign_in_oidc(**ui.oidc_identity(), password=password,
                                                      client=ui.client_key()))
                    st.session_state.pop("oidc_link_pending", None)
                    st.rerun()
                except AccountError as error:
                    ui.show_error(error)
    else:
        st.button("Sign in with single sign-on", on_click=st.login)
