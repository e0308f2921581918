"""The sign-in gate and account pages, run in-process with Streamlit's AppTest (inside the test transaction)."""

from __future__ import annotations

import os
import uuid

import pytest

# The pages under test must not start a job worker thread inside the test process.
os.environ["IN_PROCESS_WORKER"] = "false"

from core.config import get_settings  # noqa: E402

get_settings.cache_clear()

from streamlit.testing.v1 import AppTest  # noqa: E402

from support import REPO, make_writer  # noqa: E402
from pages._shared import COOKIE  # noqa: E402

PASSWORD = "correct horse battery"
TIMEOUT = 30  # the first run imports the whole app


@pytest.fixture(autouse=True)
def _no_worker():
    """Keep the setting off even if another module changed the environment since import."""
    previous = os.environ.get("IN_PROCESS_WORKER")
    os.environ["IN_PROCESS_WORKER"] = "false"
    get_settings.cache_clear()
    yield
    if previous is None:
        os.environ.pop("IN_PROCESS_WORKER", None)
    else:
        os.environ["IN_PROCESS_WORKER"] = previous
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _navigation_not_pages_folder(monkeypatch):
    """Run app.py's `st.navigation` on every run, as the real server does after its first run.

    With a `pages/` folder next to app.py, Streamlit starts in the old folder-based mode until a script calls
    `st.navigation`; the server remembers that for the rest of the process, but AppTest forgets it before every
    run, and would then run e.g. pages/sign_in.py on its own (no sign-in gate, no sidebar).
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture
def cookies(monkeypatch) -> dict[str, str]:
    """The browser's cookies as the pages read them (AppTest has none: its `st.context.cookies` is a mock)."""
    from streamlit.runtime.context import ContextProxy, StreamlitCookies

    jar: dict[str, str] = {}
    monkeypatch.setattr(ContextProxy, "cookies", property(lambda self: StreamlitCookies(dict(jar))))
    return jar


@pytest.fixture
def app(database, cookies) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def _email(prefix: str = "page") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"


def _texts(elements) -> list[str]:
    return [element.value for element in elements]


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _sign_up(at: AppTest, email: str, password: str, name: str = "") -> AppTest:
    at.text_input(key="sign_up_name").input(name)
    at.text_input(key="sign_up_email").input(email)
    at.text_input(key="sign_up_password").input(password)
    _submit(at, "Create account")
    return _run(at)


def _sign_in(at: AppTest, email: str, password: str) -> AppTest:
    at.text_input(key="sign_in_email").input(email)
    at.text_input(key="sign_in_password").input(password)
    _submit(at, "Sign in")
    return _run(at)


def _submit(at: AppTest, label: str) -> None:
    [button] = [b for b in at.button if b.label == label]
    button.click()


def _on_sign_in_page(at: AppTest) -> bool:
    keys = {w.key for w in at.text_input}
    return {"sign_in_email", "sign_in_password", "sign_up_email"} <= keys


def _on_library(at: AppTest) -> bool:
    return "Library" in _texts(at.title) and not _on_sign_in_page(at)


def test_signed_out_app_shows_the_sign_in_page(app):
    assert _on_sign_in_page(app)
    assert "Plot Studio" in _texts(app.title)
    assert [tab.label for tab in app.tabs] == ["Sign in", "Create an account"]
    assert not app.error
    assert "account" not in app.session_state


def test_sign_up_with_a_short_password_is_refused_clearly(app):
    _sign_up(app, _email(), "short")
    assert _texts(app.error) == ["Choose a password of at least 10 characters."]
    assert _on_sign_in_page(app)
    assert "account" not in app.session_state


def test_sign_up_with_a_bad_email_is_refused_clearly(app):
    _sign_up(app, "not-an-email", PASSWORD)
    assert _texts(app.error) == ["Enter a valid email address, like writer@example.com."]
    assert _on_sign_in_page(app)


def test_sign_up_lands_on_an_empty_library(app):
    email = _email()
    _sign_up(app, email, PASSWORD, name="Jane Writer")
    assert not app.error
    assert _on_library(app)
    assert any(text.startswith("Your library is empty.") for text in _texts(app.info))
    assert app.session_state["account"].email == email
    assert app.session_state["account"].display_name == "Jane Writer"
    assert [t.value for t in app.sidebar.text] == ["Jane Writer"]
    assert any(b.key == "sign_out" for b in app.sidebar.button)


def test_sign_up_with_an_email_already_taken_is_refused(app):
    writer = make_writer("taken")
    _sign_up(app, writer.email, PASSWORD)
    assert _texts(app.error) == ["This email cannot be used for a new account. If it is yours, sign in instead."]
    assert _on_sign_in_page(app)


def test_sign_in_with_a_wrong_password_is_refused(app):
    writer = make_writer("wrong")
    _sign_in(app, writer.email, "not the password")
    assert _texts(app.error) == ["That email and password do not match an account."]
    assert _on_sign_in_page(app)
    assert "account" not in app.session_state


def test_sign_in_with_an_unknown_email_gets_the_same_refusal(app):
    _sign_in(app, _email("nobody"), PASSWORD)
    assert _texts(app.error) == ["That email and password do not match an account."]


def test_sign_in_then_sign_out_returns_to_sign_in(app):
    writer = make_writer("inout")
    _sign_in(app, writer.email, PASSWORD)
    assert not app.error
    assert _on_library(app)
    assert app.session_state["account"].id == writer.id

    app.sidebar.button(key="sign_out").click()
    _run(app)
    assert _on_sign_in_page(app)
    assert "account" not in app.session_state
    assert "token" not in app.session_state


def test_sign_out_revokes_the_session_token(app):
    from core.services import accounts

    writer = make_writer("revoke")
    _sign_in(app, writer.email, PASSWORD)
    token = app.session_state["token"]
    assert accounts.account_for_session(token).id == writer.id
    app.sidebar.button(key="sign_out").click()
    _run(app)
    assert accounts.account_for_session(token) is None


def _cookie_scripts(at: AppTest) -> list[str]:
    return [h.value for h in at.html if COOKIE in h.value]


def test_sign_in_sets_the_cookie_and_a_fresh_visit_with_it_stays_signed_in(app, cookies):
    writer = make_writer("cookie")
    _sign_in(app, writer.email, PASSWORD)
    token = app.session_state["token"]
    assert any(f"{COOKIE}={token}" in script for script in _cookie_scripts(app))

    cookies[COOKIE] = token  # the browser sends it back on the next visit (a refresh)
    fresh = _run(AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT))
    assert _on_library(fresh)
    assert fresh.session_state["account"].id == writer.id

    fresh.sidebar.button(key="sign_out").click()
    _run(fresh)
    assert _on_sign_in_page(fresh)
    assert any(f"{COOKIE}=;" in script and "max-age=0" in script for script in _cookie_scripts(fresh))
    again = _run(AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT))  # the stale cookie is refused
    assert _on_sign_in_page(again)


def test_a_forged_cookie_does_not_sign_in(app, cookies):
    cookies[COOKIE] = "not-a-real-token"
    at = _run(AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT))
    assert _on_sign_in_page(at)


def test_signed_in_writer_can_open_the_other_pages(app):
    writer = make_writer("pages")
    _sign_in(app, writer.email, PASSWORD)
    app.switch_page("pages/book.py")
    _run(app)
    assert any("No book is ready yet" in text for text in _texts(app.info))
    app.switch_page("pages/account.py")
    _run(app)
    assert not _on_sign_in_page(app)
