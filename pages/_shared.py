"""What every page shares: who is signed in, the browser cookie that remembers it, the account menu, the open book."""

from __future__ import annotations

import json
import re
import uuid

import streamlit as st

from core.config import get_settings
from core.errors import LinkRequiredError, PlotStudioError
from core import jobs
from core.services import accounts, library

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
    secure = "; Secure" if _served_over_https() else ""
    cookie = f"{COOKIE}={value}; path=/; max-age={max_age}; SameSite=Strict{secure}"
    st.html(f"<script>document.cookie = {json.dumps(cookie)};</script>", unsafe_allow_javascript=True)


def _served_over_https() -> bool:
    """Whether the browser reached us over https (directly, or through a proxy that says so)."""
    forwarded = (st.context.headers.get("X-Forwarded-Proto") or "").split(",")[0].strip().lower()
    return forwarded == "https" or (st.context.url or "").startswith("https://")


def client_key() -> str:
    """Who is knocking, for sign-in throttling: the browser's address as Streamlit sees it."""
    address = st.context.ip_address
    return address if isinstance(address, str) and address else "unknown"


def current_account() -> accounts.Account | None:
    """The signed-in writer: from this browser session, else from the sign-in cookie (survives a refresh).

    The token is checked again on every run (one indexed lookup), so signing out in one tab, or the
    session expiring, ends it in every tab already open.
    """
    if st.session_state.pop("clear_cookie", False):
        _write_cookie("", 0)
    account, token = st.session_state.get("account"), st.session_state.get("token")
    if account is not None and (not token or accounts.session_user(token) != account.id):
        for key in ("account", "token"):
            st.session_state.pop(key, None)
        st.session_state.clear_cookie = True
        account = token = None
    if account is None:
        token = st.context.cookies.get(COOKIE)
        account = accounts.account_for_session(token)
        if account is None and st.session_state.get("oidc_checked") is None:
            account = _oidc_account()
            token = st.session_state.get("token") if account else None
        if account is not None:
            st.session_state.account, st.session_state.token = account, token
    if account is not None and token and st.context.cookies.get(COOKIE) != token:
        _write_cookie(token, 60 * 60 * 24 * get_settings().session_days)
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
    """Single sign-on through `st.login`, when it is configured: matched on (issuer, subject)."""
    st.session_state.oidc_checked = True
    if not _oidc_signed_in():
        return None
    try:
        account = accounts.sign_in_oidc(**oidc_identity())
    except LinkRequiredError:
        st.session_state.oidc_link_pending = True  # the sign-in page asks for the account's password
        return None
    except PlotStudioError as error:
        st.session_state.oidc_error = str(error)
        return None
    remember(account)
    return account


def _oidc_signed_in() -> bool:
    return get_settings().oidc_enabled and bool(getattr(st.user, "is_logged_in", False))


def oidc_identity() -> dict:
    """Who the provider says this browser is (st.user holds the ID token's claims)."""
    return {"issuer": st.user.get("iss"), "subject": st.user.get("sub"), "email": st.user.get("email"),
            "email_verified": st.user.get("email_verified") is True, "name": st.user.get("name")}


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
    st.session_state.pop("oidc_checked", None)
    if _oidc_signed_in():
        st.logout()  # the provider's session too, or the next run would sign the writer straight back in


def account_menu(account: accounts.Account) -> None:
    with st.sidebar:
        st.caption("Signed in as")
        st.text(account.display_name or account.email)
        st.caption(f"{account.tier.value} tier" + (" · administrator" if account.is_admin else ""))
        if st.button("Sign out", key="sign_out"):
            sign_out()
            st.rerun()


def show_error(error: PlotStudioError) -> None:
    st.error(plain(str(error)))


def choose_book(account: accounts.Account, *, key: str) -> library.Book:
    """The ready book a page works on: the one in the URL (?book=…, so a refresh or bookmark comes back to it),
    else the last one opened; stops the page with a hint when no book is ready."""
    books = [b for b in library.list_books(account.id) if b.status == "ready"]
    if not books:
        st.info("No book is ready yet. Add one in the Library.")
        st.stop()
    ids = [str(b.id) for b in books]
    wanted = st.query_params.get("book") or str(st.session_state.get("book_id", ""))
    book_id = st.selectbox("Book", ids, index=ids.index(wanted) if wanted in ids else 0, key=key,
                           format_func=lambda i: books[ids.index(i)].title)
    book = books[ids.index(book_id)]
    st.query_params["book"] = book_id
    st.session_state.book_id = book.id
    return book


def job_progress_row(account: accounts.Account, job, *, cancel_key: str) -> None:
    """A running job's progress bar, its sentence, and a Cancel button."""
    fraction = job.progress_done / job.progress_total if job.progress_total else 0.0
    text, cancel = st.columns([5, 1])
    text.progress(min(fraction, 1.0), text=plain(job.message) or "Waiting for a worker…")
    if cancel.button("Cancel", key=cancel_key):
        jobs.cancel(account.id, job.id)


@st.fragment(run_every=1.0)
def follow_job(account: accounts.Account, *, job_key: str, error_key: str, cancel_key: str) -> None:
    """Live progress of the job whose id is in st.session_state[job_key]; when it ends the page reruns,
    a failure's reason left in st.session_state[error_key]."""
    job_id = st.session_state.get(job_key)
    if not job_id:
        return
    job = jobs.get_job(account.id, uuid.UUID(job_id))
    if job.status in ("succeeded", "failed", "cancelled"):
        st.session_state[job_key] = None
        if job.status != "succeeded":
            st.session_state[error_key] = job.error or job.message
        st.rerun(scope="app")
    job_progress_row(account, job, cancel_key=cancel_key)


def run_as(account: accounts.Account, action, *args, **kwargs):
    """One writer action (a core.services call taking the writer first); its error shown in place. The result, or None."""
    try:
        return action(account.id, *args, **kwargs)
    except PlotStudioError as error:
        show_error(error)
        return None


# Every way Markdown loads or links something (images, links, autolinks, HTML, directives) needs one of these.
_MARKDOWN_SYNTAX = re.compile(r"([\\\[\]<>])")


def plain(text: str | None) -> str:
    """Writer-supplied text (titles, names, book text, file names, sentences quoting them) for an element
    that renders Markdown, made inert: `![x](http://…)` loads no image, `[x](javascript:…)` is no link,
    `<img …>` is no tag, `:red[…]` no directive. Widget labels render Markdown too: use it there."""
    return _MARKDOWN_SYNTAX.sub(r"\\\1", text or "")
