"""What every page shares: who is signed in, the browser cookie that remembers it, the account menu."""

from __future__ import annotations

import json

import streamlit as st

from core.errors import PlotStudioError
from core.services import accounts

COOKIE = "plotstudio_session"
GATED = "passed_app_gate"  # set by app.py on every run


def database_ready() -> bool:
    """Show a clear error instead of a traceback when the database is not reachable or not migrated."""
    from core.doctor import database_problem

    if st.session_state.get("database_ready"):
        return True
    problem = database_problem()
    st.session_state.database_ready = problem is None
    if problem:
        st.error(f"Plot Studio cannot reach its database: {problem}")
        st.caption("Run `python -m core doctor` for the details.")
        return False
    return True


def _write_cookie(value: str, max_age: int) -> None:
    st.html(f"<script>document.cookie = {json.dumps(f'{COOKIE}={value}; path=/; max-age={max_age}; SameSite=Strict')};</script>",
            unsafe_allow_javascript=True)


def current_account() -> accounts.Account | None:
    """The signed-in writer: from this browser session, else from the sign-in cookie (survives a refresh)."""
    if st.session_state.pop("clear_cookie", False):
        _write_cookie("", 0)
    if "account" not in st.session_state:
        token = st.context.cookies.get(COOKIE)
        account = accounts.account_for_session(token)
        if account is None and st.session_state.get("oidc_checked") is None:
            account = _oidc_account()
        if account is not None:
            st.session_state.account, st.session_state.token = account, token
    account = st.session_state.get("account")
    token = st.session_state.get("token")
    if account is not None and token and st.context.cookies.get(COOKIE) != token:
        _write_cookie(token, 60 * 60 * 24 * 30)
    return account


def require_account() -> accounts.Account:
    """The signed-in writer; any other visit goes through app.py's gate first.

    A fresh server may run a page file on its own for its very first request (Streamlit's
    folder-based routing of `pages/`, before app.py has declared st.navigation), so each page
    sends such a visit to app.py, which signs in and navigates.
    """
    account = current_account() if st.session_state.get(GATED) else None
    if account is None:
        st.switch_page("app.py")
    return account


def _oidc_account() -> accounts.Account | None:
    """Single sign-on through `st.login`, when it is configured."""
    from core.config import get_settings

    st.session_state.oidc_checked = True
    if not get_settings().oidc_enabled or not getattr(st.user, "is_logged_in", False):
        return None
    return accounts.sign_in_oidc(st.user.email, st.user.get("sub", st.user.email), st.user.get("name"))


def remember(account: accounts.Account) -> None:
    """Sign the writer in for this browser: session state now, cookie for later visits."""
    st.session_state.account = account
    st.session_state.token = accounts.start_session(account)


def sign_out() -> None:
    account, token = st.session_state.get("account"), st.session_state.get("token")
    if account is not None:
        accounts.end_session(account, token)
    for key in ("account", "token"):
        st.session_state.pop(key, None)
    # Callers rerun at once, which drops this run's elements: the next run clears the cookie.
    st.session_state.clear_cookie = True


def account_menu(account: accounts.Account) -> None:
    with st.sidebar:
        st.caption("Signed in as")
        st.text(account.display_name or account.email)
        st.caption(f"{account.tier.value} tier" + (" · administrator" if account.is_admin else ""))
        if st.button("Sign out", key="sign_out"):
            sign_out()
            st.rerun()


def show_error(error: PlotStudioError) -> None:
    st.error(str(error))
