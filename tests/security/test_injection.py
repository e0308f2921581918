"""Injection into pages: HTML, JavaScript and Markdown image links in a book's text, its title, the writer's name
and a search query render as inert text on every page. Headless Chromium checks that no script runs and that
no request leaves for anywhere but the app itself.

Reuses test_browser's server and browser fixtures (imported, not copied). The app embeds through a loopback
stub, so no model is loaded.
"""

from __future__ import annotations

import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core import jobs
from core.services import accounts, library
from support import prose
from test_browser import COOKIE, UI_TIMEOUT, browser, expect, server  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.committed]
PAGES = ["library", "book", "plot", "characters", "scripts", "account"]


class Beacon:
    """A server on another loopback port: any request it receives is a page reaching out where it must not."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        beacon = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                beacon.hits.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def beacon():
    running = Beacon()
    yield running
    running.close()


def payloads(beacon: Beacon, where: str) -> str:
    """Every way a careless page would run a script or load something remote, labelled by where it sits."""
    url = f"{beacon.url}/{where}"
    return (f"<script>window.__xss = '{where} script'</script> "
            f"<img src=\"{url}.img\" onerror=\"window.__xss = '{where} img'\"> "
            f"![remote]({url}.md.png) [click](javascript:window.__xss='{where}-link') "
            f"<iframe src=\"{url}.frame\"></iframe> :red[directive] <{url}.autolink>")


@pytest.fixture(scope="module")
def hostile_book(database, stub_embeddings, beacon):
    """A writer named with a payload, with a book whose title and every paragraph carry payloads."""
    writer = accounts.sign_up(f"inject-{uuid.uuid4().hex[:8]}@example.com", "correct horse battery",
                              display_name=payloads(beacon, "name"), is_admin=False)
    body = "\n\n".join(f"{prose(n, 60)} {payloads(beacon, f'text{n}')}" for n in range(6))
    text = f"CHAPTER I\n\n{body}\n\nCHAPTER II\n\n{body}\n"
    job_id = library.start_ingest(writer.id, "<img src=x onerror=alert(1)>.txt", text.encode(),
                                  title=payloads(beacon, "title"), queue=False)
    jobs.run_job(str(job_id), str(writer.id), library.ingest_book, jobs.get_job(writer.id, job_id).params)
    job = jobs.get_job(writer.id, job_id)
    assert job.status == "succeeded", job.error
    # The offline engines quote the book on the plot and character pages: those pages get payloads too.
    from core.services import characters, plot

    for made in (plot.start_generation(writer.id, job.book_id, engine="offline", queue=False),
                 characters.start_board(writer.id, job.book_id, engine="offline", queue=False)):
        jobs.run_job(str(made), str(writer.id))
        assert jobs.get_job(writer.id, made).status == "succeeded", jobs.get_job(writer.id, made).error
    return writer, job.book_id


def test_payloads_in_books_titles_names_and_queries_stay_text_on_every_page(hostile_book, server, browser, beacon):
    writer, book_id = hostile_book
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT)
    context.add_cookies([{"name": COOKIE, "value": accounts.start_session(writer), "url": server.url}])
    outside, dialogs = [], []
    context.on("request", lambda request: None if request.url.startswith((server.url, "data:", "blob:"))
               else outside.append(request.url))
    tab = context.new_page()
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    visited = []
    try:
        for name in PAGES:
            query = f"?book={book_id}" if name != "account" else ""
            tab.goto(f"{server.url}/{name}{query}")
            expect(tab.get_by_role("button", name="Sign out")).to_be_visible()
            tab.wait_for_load_state("networkidle")
            visited.append(name)
        # The title and the writer's name were shown as the text they are.
        tab.goto(f"{server.url}/book?book={book_id}")
        expect(tab.get_by_text(f"![remote]({beacon.url}/title.md.png)", exact=False).first).to_be_visible()
        search = tab.locator('input[aria-label^="Search"]').first
        search.fill(f"rain {payloads(beacon, 'query')}")
        search.press("Enter")
        expect(tab.get_by_text(f"![remote]({beacon.url}/text", exact=False).first).to_be_visible()
        tab.wait_for_load_state("networkidle")
        tab.get_by_role("tab", name="Chapters").click()
        expect(tab.get_by_text(f"<script>window.__xss = 'text0 script'</script>", exact=False).first).to_be_visible()
        tab.goto(f"{server.url}/account")
        expect(tab.get_by_text(f"![remote]({beacon.url}/name.md.png)", exact=False).first).to_be_visible()
        tab.wait_for_load_state("networkidle")
        ran = tab.evaluate("window.__xss === undefined ? null : String(window.__xss)")
    finally:
        context.close()
    assert visited == PAGES
    assert ran is None and dialogs == []
    assert outside == [] and beacon.hits == []
