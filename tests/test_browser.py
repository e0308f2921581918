"""The real app in headless Chromium: accounts, a refresh, sign-out, and books going into the library.

Starts `streamlit run app.py` on a free loopback port against the tests' embedded Postgres (same
PLOTSTUDIO_DATA_DIR), with its in-process job worker on; every row these tests write is committed.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import REPO

import playwright.sync_api as playwright_api
expect = playwright_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.committed]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "tests" / "artifacts"
PASSWORD = "correct horse battery"
STARTUP_SECONDS = 90
UI_TIMEOUT = 20_000  # ms: one Streamlit rerun, generously (2 CPUs, other suites may be running)
SMALL_BOOK_TIMEOUT = 120_000  # ms: includes the first load of the embedding model
LONG_BOOK_TIMEOUT = 300_000  # ms
COOKIE = "plotstudio_session"
expect.set_options(timeout=UI_TIMEOUT)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200 and response.read().strip() == b"ok"
    except OSError:
        return False


class Server:
    def __init__(self, url: str, process: subprocess.Popen, log: Path):
        self.url, self.process, self.log = url, process, log

    def output(self, last: int = 200) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-last:])


@pytest.fixture(scope="module")
def server(database, tmp_path_factory) -> Iterator[Server]:
    """`streamlit run app.py` on a free port, sharing the tests' (migrated) embedded database."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    env = os.environ | {
        "IN_PROCESS_WORKER": "true",
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
    running = Server(url, process, log)
    deadline = time.monotonic() + STARTUP_SECONDS
    while not _healthy(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the app did not answer {url}/_stcore/health within {STARTUP_SECONDS} s "
                        f"(exit code {process.poll()}):\n{running.output()}")
        time.sleep(0.5)
    failures_before = _failures()
    yield running
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
    if _failures() > failures_before:
        print(f"\n----- streamlit log ({log}) -----\n{running.output()}")


_session: pytest.Session | None = None


def _failures() -> int:
    return _session.testsfailed if _session else 0


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(request, server, browser):
    """A fresh browser (own cookies) on the app; a screenshot and the app's log when the test fails."""
    global _session
    _session = request.session
    failed_before = request.session.testsfailed
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT)
    tab = context.new_page()
    tab.goto(server.url)
    yield tab
    if request.session.testsfailed > failed_before:  # the call phase of this test failed
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"{request.node.name}.png"
        try:
            tab.screenshot(path=str(shot), full_page=True)
            print(f"\nscreenshot: {shot}")
        except Exception as error:  # noqa: BLE001 - a screenshot must never hide the real failure
            print(f"\nno screenshot ({error})")
        print(f"\n----- streamlit log (last lines) -----\n{server.output(80)}")
    context.close()


# --- what a writer does --------------------------------------------------------------------------

def _visible(locator):
    return locator.filter(visible=True)


def _field(page, label: str):
    """The visible text input with this label (each tab of the sign-in page has an Email and a Password).

    While a rerun replaces the page, Streamlit can show the stale copy next to the new one for a moment:
    wait until exactly one is left.
    """
    field = _visible(page.locator(f'input[aria-label="{label}"]'))
    expect(field).to_have_count(1)
    return field


def _tab(page, name: str):
    """A tab by its label (a rerun can briefly leave a stale copy of the tab bar in the page)."""
    return _visible(page.get_by_role("tab", name=name, exact=True)).first


def _email(prefix: str = "browser") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"


def _sign_in_form_visible(page) -> None:
    expect(_tab(page, "Create an account")).to_be_visible()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()


def sign_up(page, email: str, password: str = PASSWORD) -> None:
    _tab(page, "Create an account").click()
    _field(page, "Email").fill(email)
    _field(page, "Password").fill(password)
    page.get_by_role("button", name="Create account").click()


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    _tab(page, "Sign in").click()
    _field(page, "Email").fill(email)
    _field(page, "Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def expect_library(page, *, empty: bool | None = None) -> None:
    expect(page.get_by_role("heading", name="Library")).to_be_visible()
    expect(page.get_by_role("button", name="Create account")).to_have_count(0)
    if empty is True:
        expect(page.get_by_text("Your library is empty.")).to_be_visible()


def expect_cookie(page, *, present: bool) -> None:
    """The sign-in cookie is (or is no longer) in the browser; Streamlit writes it from a script element."""
    check = f"document.cookie.split('; ').some(c => c.startsWith('{COOKIE}=') && c.length > {len(COOKIE) + 1})"
    page.wait_for_function(check if present else f"!({check})", timeout=UI_TIMEOUT)


def new_writer(page) -> str:
    email = _email()
    sign_up(page, email)
    expect_library(page, empty=True)
    return email


def upload(page, path: Path) -> None:
    expect(page.locator("input[type=file]")).to_be_attached()
    page.locator("input[type=file]").set_input_files(str(path))
    expect(page.get_by_title(path.name, exact=True)).to_be_visible()  # the uploaded file's chip (name shortened)
    page.get_by_role("button", name="Add to library").click()


def wait_until_ready(page, timeout: int) -> None:
    expect(page.get_by_role("button", name="Open")).to_be_visible(timeout=timeout)


def open_book(page) -> None:
    page.get_by_role("button", name="Open").click()
    expect(_tab(page, "Chapters")).to_be_visible()


def chapters_caption(page, count: int) -> None:
    _tab(page, "Chapters").click()
    expect(page.get_by_text(re.compile(rf"^{count} chapters and \d+ sections of front or back matter\. Review the split"))
           ).to_be_visible()


def tiny_book(folder: Path) -> Path:
    """Three short chapters under "CHAPTER I/II/III" headings, a few paragraphs each."""
    chapters = []
    for roman, place in [("I", "the harbour"), ("II", "the lighthouse"), ("III", "the storm")]:
        paragraphs = [f"Mara Quill walked to {place} before dark, counting the boats that had come home and "
                      f"wondering which of them carried her brother, who had sailed three days before."]
        paragraphs += [f"The wind rose over {place}, the gulls went quiet, and the keeper lit the lamp early, as "
                       f"he always did when the glass began to fall; this was the {n} time she had watched him."
                       for n in ("second", "third", "fourth")]
        chapters.append(f"CHAPTER {roman}\n\n" + "\n\n".join(paragraphs))
    path = folder / "the_keepers_daughter.txt"
    path.write_text("The Keeper's Daughter\n\nby A. Tester\n\n\n" + "\n\n\n".join(chapters) + "\n",
                    encoding="utf-8")
    return path


# --- the journeys --------------------------------------------------------------------------------

def test_account_journey(page):
    email = _email()
    _sign_in_form_visible(page)

    sign_up(page, email)
    expect_library(page, empty=True)
    expect_cookie(page, present=True)

    page.reload()  # the cookie keeps the writer signed in
    expect_library(page, empty=True)
    expect(page.get_by_role("tab", name="Create an account")).to_have_count(0)

    page.get_by_role("button", name="Sign out").click()
    _sign_in_form_visible(page)

    sign_in(page, email, "not the right password")
    expect(page.get_by_text("That email and password do not match an account.")).to_be_visible()

    sign_in(page, email)
    expect_library(page, empty=True)

    page.reload()
    expect_library(page, empty=True)
    page.get_by_role("button", name="Sign out").click()
    _sign_in_form_visible(page)
    expect_cookie(page, present=False)
    page.reload()  # signed out for good: the cookie is cleared (and its token revoked)
    _sign_in_form_visible(page)


def test_a_small_book_is_read_into_three_chapters(page, tmp_path):
    new_writer(page)
    upload(page, tiny_book(tmp_path))
    wait_until_ready(page, SMALL_BOOK_TIMEOUT)
    open_book(page)
    chapters_caption(page, 3)


def test_a_binary_file_is_refused_in_one_sentence(page, tmp_path):
    new_writer(page)
    broken = tmp_path / "broken.txt"
    broken.write_bytes(bytes(range(256)) * 50)
    upload(page, broken)
    refusal = page.get_by_text(re.compile(r"^Could not add broken\.txt: \S.+"))
    expect(refusal).to_be_visible(timeout=SMALL_BOOK_TIMEOUT)
    expect(page.get_by_role("button", name="Open")).to_have_count(0)
    expect(page.get_by_text("Your library is empty.")).to_be_visible()
    page.get_by_role("button", name="Dismiss").click()
    expect(refusal).to_have_count(0)
    page.reload()  # dismissed for good
    expect_library(page, empty=True)
    expect(refusal).to_have_count(0)


def test_pride_and_prejudice_is_read_searched_and_split_into_61_chapters(page, corpus):
    email = new_writer(page)
    upload(page, corpus / "pride_and_prejudice.txt")
    wait_until_ready(page, LONG_BOOK_TIMEOUT)
    open_book(page)
    chapters_caption(page, 61)

    _tab(page, "Search the book").click()
    search = _field(page, "Search by meaning or by words")
    search.fill("Mr. Darcy proposes to Elizabeth")
    search.press("Enter")
    expect(page.get_by_text(re.compile(r"^Chapter \d+ · match 1$"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"similarity|\d\.\d\d"))).to_have_count(0)  # no raw floats
    expect(page.locator("mark", has_text=re.compile(r"^(Darcy|Elizabeth|proposes)$")).first).to_be_visible()
    assert_split_as_truth_says(email, corpus, ["pride_and_prejudice.txt"])


def assert_split_as_truth_says(email: str, corpus: Path, names: list[str]) -> None:
    """Each uploaded book's chapters (count, order, heading, first eight words) are the corpus truth."""
    from sqlalchemy import select

    from core.services.accounts import account_by_email
    from db.engine import unit_of_work
    from db.models import Book, Chapter

    truth = json.loads((corpus / "truth.json").read_text())
    writer = account_by_email(email)
    for name in names:
        with unit_of_work(writer.id) as session:
            rows = session.execute(select(Chapter.heading, Chapter.text).join(Book, Book.id == Chapter.book_id)
                                   .where(Book.source_filename == name, Chapter.kind == "chapter")
                                   .order_by(Chapter.number)).all()
        found = [{"heading": heading, "starts_with": " ".join(body.split()[:8])} for heading, body in rows]
        assert found == truth[name]["chapters"], name


def test_the_other_corpus_books_split_exactly_through_the_upload_page(page, corpus):
    email = new_writer(page)
    names = ["frankenstein.txt", "little_women.txt", "the_man_in_the_brown_suit.txt"]
    for name in names:
        upload(page, corpus / name)
        # Its progress row (or, once read, its card) shows the upload was taken before the next one starts.
        expect(page.get_by_text(re.compile(rf"^{re.escape(name)}(: |$)")).first).to_be_visible(timeout=UI_TIMEOUT)
    expect(page.get_by_role("button", name="Open")).to_have_count(len(names), timeout=LONG_BOOK_TIMEOUT * 2)
    assert_split_as_truth_says(email, corpus, names)
