"""Sessions in the browser: a token revoked or expired elsewhere ends every tab already open at its next run,
and the cookie lives SESSION_DAYS, marked Secure when the app is served over https.

Runs the app in-process with AppTest, reusing test_pages' fixtures and steps (imported, not copied)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from core.config import get_settings
from core.services import accounts
from db.engine import unit_of_work
from support import make_writer
from test_pages import (PASSWORD, _cookie_scripts, _navigation_not_pages_folder, _no_worker, _on_library,  # noqa: F401
                        _on_sign_in_page, _run, _sign_in, app, cookies)


def test_signing_out_in_another_tab_ends_this_one(app):
    writer = make_writer("other-tab")
    _sign_in(app, writer.email, PASSWORD)
    assert _on_library(app)
    accounts.end_session(writer, app.session_state["token"])  # the other tab's "Sign out"
    _run(app)
    assert _on_sign_in_page(app) and "account" not in app.session_state


def test_an_expired_session_ends_the_open_tab(app):
    writer = make_writer("expired")
    _sign_in(app, writer.email, PASSWORD)
    with unit_of_work(writer.id) as session:
        session.execute(text("UPDATE user_sessions SET expires_at = now() - interval '1 minute'"))
    _run(app)
    assert _on_sign_in_page(app)


@pytest.fixture
def three_day_sessions(monkeypatch):
    monkeypatch.setenv("SESSION_DAYS", "3")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_the_cookie_lives_as_long_as_the_session(three_day_sessions, app):
    writer = make_writer("cookie-days")
    _sign_in(app, writer.email, PASSWORD)
    scripts = [s for s in _cookie_scripts(app) if app.session_state["token"] in s]
    assert scripts and all(f"max-age={3 * 24 * 60 * 60};" in s and "Secure" not in s for s in scripts)


@pytest.fixture
def behind_https(monkeypatch):
    """A proxy in front of the app that terminates https and says so."""
    from streamlit.runtime.context import ContextProxy

    monkeypatch.setattr(ContextProxy, "headers", property(lambda self: {"X-Forwarded-Proto": "https"}))


def test_the_cookie_is_secure_over_https(behind_https, app):
    writer = make_writer("cookie-https")
    _sign_in(app, writer.email, PASSWORD)
    scripts = [s for s in _cookie_scripts(app) if app.session_state["token"] in s]
    assert scripts and all("SameSite=Strict; Secure" in s for s in scripts)
