"""Chapter rules that must hold on books nobody tuned for: generated books in every heading style the splitter
knows, EPUB contents of every shape, DOCX title pages; each asserts the chapter count and that no word is lost."""

from __future__ import annotations

import io
import random
import zipfile
from collections import Counter
from dataclasses import dataclass, field

import pytest
from ebooklib import epub
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import UnreadableBookError
from core.ingest import BACK_MATTER, CHAPTER, FRONT_MATTER, section_words, source_words
from core.ingest.chapters import split_chapters, title_case
from core.ingest.formats import parse_book
from support import make_docx, prose

LIMITS = {"max_bytes": 5_000_000, "max_words": 1_000_000}


def generated(examples: int) -> settings:
    """Hypothesis settings for a generated-book test: no deadline (building an EPUB takes a while)."""
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- how many generated examples ran: counted here, printed in the terminal summary -----------------

EXAMPLES: Counter[str] = Counter()


class _ExampleReport:
    """Prints the Hypothesis examples each test of this module ran, at the end of the pytest run."""

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if EXAMPLES:
            terminalreporter.write_sep("-", "chapter rules: Hypothesis examples run")
            for name, count in sorted(EXAMPLES.items()):
                terminalreporter.write_line(f"{name}: {count}")
            terminalreporter.write_line(f"total: {sum(EXAMPLES.values())}")


@pytest.fixture(scope="module", autouse=True)
def _report_examples(request: pytest.FixtureRequest) -> None:
    if not request.config.pluginmanager.has_plugin("chapter-rules-examples"):
        request.config.pluginmanager.register(_ExampleReport(), "chapter-rules-examples")


def counted(name: str) -> None:
    EXAMPLES[name] += 1


# --- generated prose, titles and numbers ---------------------------------------------------------

VOCABULARY = ("rain fell on quiet town while she walked home slowly thinking about letters sea under grey clouds "
              "old house river garden window morning evening road stranger waited long silence").split()
TITLE_WORDS = "Storm Arrival Letters Garden River Stranger Window Morning Silence Road House Return".split()
ROMAN = ["", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV", "XVI",
         "XVII", "XVIII", "XIX", "XX"]
WORDS = ["", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]



def paragraph_from(seed: int, *, sentences: tuple[int, int] = (2, 4), words: tuple[int, int] = (6, 14)) -> str:
    """A paragraph of story prose drawn from a seed (one draw per paragraph keeps generation fast)."""
    rng = random.Random(seed)
    return " ".join("The " + " ".join(rng.choices(VOCABULARY, k=rng.randint(*words))) + "."
                    for _ in range(rng.randint(*sentences)))


seeds = st.integers(0, 2**32)
paragraphs = seeds.map(paragraph_from)  # 14+ words: more than a contents entry
bodies = st.lists(paragraphs, min_size=1, max_size=3)
short_bodies = seeds.map(lambda seed: [paragraph_from(seed, sentences=(1, 1), words=(1, 8))])  # a contents entry's size
titles = st.lists(st.sampled_from(TITLE_WORDS), min_size=1, max_size=3, unique=True).map(
    lambda words: "The " + " ".join(words))
# Lines that begin like back matter or a heading but are sentences of the story.
LOOKALIKES = ["Notes were passed under the door.", "Index cards lay on the table.",
              "Appendix scars ached in the cold.", "Chapter 3 of the report was missing, he said.",
              "Notes and letters, she thought, were the same thing."]


def wrapped(paragraph: str, width: int = 70) -> str:
    """Hard-wrap a paragraph the way plain-text books are."""
    lines, current = [], ""
    for word in paragraph.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return "\n".join([*lines, current])


# Heading styles the splitter knows: (number, title) -> (heading lines, words the body starts with).
HEADING_STYLES = {
    "arabic": lambda n, t: (f"Chapter {n}", ""),
    "roman": lambda n, t: (f"CHAPTER {ROMAN[n]}.", ""),
    "roman and title": lambda n, t: (f"CHAPTER {ROMAN[n]}. {t.upper()}", ""),
    "colon and title": lambda n, t: (f"Chapter {n}: {t}", ""),
    "words": lambda n, t: (f"CHAPTER {WORDS[n].upper()}", ""),
    # Little Women: the title on the next line stays the first line of the text.
    "words, title line": lambda n, t: (f"CHAPTER {WORDS[n].upper()}\n\n{t.upper()}", t.upper()),
    "letter": lambda n, t: (f"Letter {n}", ""),
    "numeral and title": lambda n, t: (f"{ROMAN[n]}. {t.upper()}", ""),
    # A story collection: the numeral line, then the title line (which belongs to the title).
    "numeral, title line": lambda n, t: (f"{ROMAN[n]}.\n\n{t.upper()}", ""),
}
PART_STYLES = {"part words": lambda n: f"PART {WORDS[n].upper()}", "book roman": lambda n: f"BOOK {ROMAN[n]}",
               "volume": lambda n: f"VOLUME {ROMAN[n]}", "part arabic": lambda n: f"Part {n}"}


@dataclass
class TextBook:
    text: str
    chapters: int
    starts: list[str] = field(default_factory=list)  # the first words of each chapter's text
    part_labels: list[str | None] = field(default_factory=list)  # expected part prefix of each title
    back_matter: bool = False


@st.composite
def text_books(draw) -> TextBook:
    """A plain-text book: front matter, maybe a contents list, chapters (maybe in parts), maybe back matter."""
    style = draw(st.sampled_from(sorted(HEADING_STYLES)))
    count = draw(st.integers(2, 14))
    part_count = draw(st.sampled_from([0, 0, 2, 3]))
    restart = part_count and draw(st.booleans())
    part_style = draw(st.sampled_from(sorted(PART_STYLES)))
    short_tail = draw(st.integers(0, 3)) if count > 3 else 0
    chapter_titles = draw(st.lists(titles, min_size=count, max_size=count))
    chapter_bodies = [draw(short_bodies) if index >= count - short_tail else draw(bodies) for index in range(count)]
    for body in chapter_bodies[:count - short_tail]:
        if draw(st.booleans()):  # a line that looks like back matter or a heading, inside the story
            body.insert(draw(st.integers(0, len(body))), draw(st.sampled_from(LOOKALIKES)))
    parts_at = sorted(draw(st.lists(st.integers(1, count - 1), min_size=part_count - 1, max_size=part_count - 1,
                                    unique=True))) if part_count > 1 and count > part_count else []
    starts_of_parts = [0, *parts_at] if parts_at else []
    lines, headings_in_order, starts, part_labels = [], [], [], []
    number, part, part_label = 0, 0, None
    for index, (title, body) in enumerate(zip(chapter_titles, chapter_bodies)):
        if index in starts_of_parts:
            part += 1
            part_line = PART_STYLES[part_style](part)
            part_label = title_case(part_line) if restart else None
            lines.append(part_line)
            headings_in_order.append(part_line)
            if draw(st.booleans()):  # a part with a page of its own: kept as matter, not a chapter
                lines.append(wrapped(draw(paragraphs)))
            if restart:
                number = 0
        number += 1
        heading, lead = HEADING_STYLES[style](number, title)
        lines.append(heading)
        headings_in_order.append(heading.replace("\n\n", " "))
        lines.extend(wrapped(paragraph) for paragraph in body)
        starts.append(" ".join((lead + " " + body[0]).split()[:5]))
        part_labels.append(part_label)
    front = ["THE QUIET TOWN", "by Ann Author"]
    if draw(st.booleans()):
        front += ["PREFACE", wrapped(draw(paragraphs))]
    contents = draw(st.sampled_from(["none", "block", "spaced", "page numbers"]))
    if contents != "none":
        entries = [f"{h} {'.' * 8} {page * 7 + 1}" if contents == "page numbers" else h
                   for page, h in enumerate(headings_in_order)]
        front += ["CONTENTS", "\n".join(entries) if contents == "block" else "\n\n".join(entries)]
    story_sections = 0
    if draw(st.booleans()):
        body = draw(bodies)
        lines = ["PROLOGUE", *(wrapped(p) for p in body), *lines]
        starts.insert(0, first_words(body[0]))
        part_labels.insert(0, None)
        story_sections += 1
    if draw(st.booleans()):  # an epilogue opening with an epigraph: its title is "Epilogue", not the quotation
        body = draw(bodies)
        lines += ["EPILOGUE", "All Things Pass Away", "— An Old Song", *(wrapped(p) for p in body)]
        starts.append("All Things Pass Away —")
        part_labels.append(part_label)
        story_sections += 1
    back = draw(st.sampled_from(["none", "NOTES", "INDEX", "APPENDIX A: THE LETTERS", "Footnotes:"]))
    tail = [back, "\n\n".join(wrapped(p) for p in draw(bodies))] if back != "none" else []
    return TextBook("\n\n\n".join(front + lines + tail) + "\n", count + story_sections, starts, part_labels,
                    back != "none")


def first_words(text: str, count: int = 5) -> str:
    return " ".join(text.split()[:count])


def assert_no_word_lost(sections, source: str) -> None:
    """Every word of the source is in a section's heading or text, as many times as in the source."""
    assert sum(section_words(section) for section in sections) == source_words(source)
    kept = Counter(word for section in sections for word in f"{section.heading} {section.text}".split())
    assert kept == Counter(source.split())


@generated(400)
@given(text_books())
def test_generated_plain_text_books_keep_their_chapters_and_every_word(book: TextBook) -> None:
    counted("plain-text books (every heading style, contents, parts, lookalike lines, short late chapters)")
    split = split_chapters(book.text)
    chapters = split.story_chapters
    assert len(chapters) == book.chapters, [c.heading for c in chapters]
    assert [first_words(c.text) for c in chapters] == book.starts
    for chapter, part_label in zip(chapters, book.part_labels):
        assert part_label is None or chapter.title.startswith(f"{part_label}, "), chapter.title
        assert not chapter.title.endswith(("Pass Away", "Old Song")), chapter.title
    assert not book.back_matter or split.chapters[-1].kind == BACK_MATTER
    assert split.chapters[0].kind == FRONT_MATTER and split.chapters[0].text.startswith("THE QUIET TOWN")
    assert_no_word_lost(split.chapters, book.text)


# --- EPUB: contents of every shape ---------------------------------------------------------------


@dataclass
class EpubPlan:
    data: bytes = field(repr=False)
    chapters: int
    titles: list[str]
    texts: list[str]  # every piece of text written into the book's pages
    front: bool
    back: bool


def _page(file_name: str, label: str, html: str) -> epub.EpubHtml:
    page = epub.EpubHtml(title=label, file_name=file_name, lang="en")
    page.content = f"<html><body>{html}</body></html>"
    return page


def _write_epub(pages: list[epub.EpubHtml], toc: list) -> bytes:
    book = epub.EpubBook()
    book.set_identifier("generated")
    book.set_title("The Quiet Town")
    book.add_author("Ann Author")
    for page in pages:
        book.add_item(page)
    book.toc = toc
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *pages]
    buffer = io.BytesIO()
    epub.write_epub(buffer, book)
    return buffer.getvalue()


@st.composite
def epub_books(draw) -> EpubPlan:
    """An EPUB: front pages, chapters (one file each or several to a file, flat, in parts, or stories with
    numbered sections), plates with contents entries inside chapters, short chapters, back pages."""
    count = draw(st.integers(2, 7))
    shape = draw(st.sampled_from(["flat", "parts", "stories"]))
    shared_files = draw(st.booleans())
    plates = draw(st.booleans())
    short = set(draw(st.lists(st.integers(0, count - 1), max_size=2))) if shape != "stories" else set()
    texts: list[str] = []
    pages: list[epub.EpubHtml] = []
    toc: list = []

    def paragraph_html(seed: int, words: tuple[int, int] = (6, 14)) -> str:
        text = paragraph_from(seed, words=words)
        texts.append(text)
        return f"<p>{text}</p>"

    front = draw(st.booleans())
    if front:  # a title page, a dedication (both short) and a preface, each its own file
        texts.extend(["The Quiet Town", "by Ann Author", "For my sister", "Preface"])
        pages += [_page("title.xhtml", "The Quiet Town", "<h1>The Quiet Town</h1><p>by Ann Author</p>"),
                  _page("dedication.xhtml", "Dedication", "<p><i>For my sister</i></p>"),
                  _page("preface.xhtml", "Preface", "<h2>Preface</h2>" + paragraph_html(draw(seeds)))]
        toc += [epub.Link("title.xhtml", "The Quiet Town", "title"), epub.Link("dedication.xhtml", "Dedication", "ded"),
                epub.Link("preface.xhtml", "Preface", "preface")]
    titles, chapter_links, part_of = [], [], []
    parts = 2 if shape == "parts" and count >= 2 else 0
    number, part = 0, 0
    html_by_file: dict[str, list[str]] = {}
    for index in range(count):
        if parts and index in (0, count // 2):
            part += 1
            number = 0
            part_file = f"part{part}.xhtml"
            texts.append(f"Part {WORDS[part].title()}")
            html_by_file[part_file] = [f"<h1>Part {WORDS[part].title()}</h1>"]
            toc.append([(epub.Section(f"Part {WORDS[part].title()}", part_file), [])])
        number += 1
        file_name = f"text{part}-{index // 2}.xhtml" if shared_files else f"chapter{index}.xhtml"
        anchor = f"c{index}"
        if shape == "stories":
            label = draw(titles_strategy)
            heading = label
        else:
            label = heading = f"Chapter {number}"
        texts.append(heading)
        html = [f"<h2 id='{anchor}'>{heading}</h2>"]
        seed = draw(seeds)
        if index in short:  # a chapter of a few words is still a chapter
            html.append(paragraph_html(seed, words=(2, 8)))
        else:
            html += [paragraph_html(seed + k) for k in range(draw(st.integers(2, 4)))]
        links = []
        if shape == "stories":  # the story's own numbered sections, listed under it in the contents
            for section in range(1, draw(st.integers(2, 3)) + 1):
                texts.append(f"{ROMAN[section]}.")
                html += [f"<h3 id='{anchor}s{section}'>{ROMAN[section]}.</h3>", paragraph_html(seed + 10 + section)]
                links.append(epub.Link(f"{file_name}#{anchor}s{section}", f"{ROMAN[section]}.", f"{anchor}s{section}"))
        if plates and index not in short:  # a plate in the running text, with its own contents entry
            caption = "The Storm Over the Harbour"
            texts.append(caption)
            html.insert(2, f"<div class='figure' id='{anchor}plate'><p class='caption'><i>{caption}</i></p></div>")
            links.append(epub.Link(f"{file_name}#{anchor}plate", caption, f"{anchor}plate"))
        html_by_file.setdefault(file_name, []).extend(html)
        link = epub.Link(f"{file_name}#{anchor}", label, anchor)
        entry = (epub.Section(label, f"{file_name}#{anchor}"), links) if shape == "stories" else link
        if parts:
            toc[-1][0][1].append(entry)
            if plates and links:
                toc[-1][0][1].extend(links)
        else:
            toc.append(entry)
            if plates and links and shape != "stories":
                toc.extend(links)
        if shape == "flat" and not shared_files and index < count - 1 and draw(st.booleans()):
            # A plate on a page of its own between chapters: a few words, not a chapter.
            caption = "The Harbour at Night"
            texts.append(caption)
            html_by_file[f"plate{index}.xhtml"] = [f"<p><i>{caption}</i></p>"]
            toc.append(epub.Link(f"plate{index}.xhtml", caption, f"plate{index}"))
        restart_prefix = f"Part {WORDS[part].title()}, " if parts else ""
        titles.append(label if shape == "stories" else f"{restart_prefix}{label}")
    toc = [entry[0] if isinstance(entry, list) else entry for entry in toc]
    for file_name, html in html_by_file.items():
        pages.append(_page(file_name, file_name, "".join(html)))
    back = draw(st.booleans())
    if back:  # notes, and a short licence page
        texts += ["Notes", "Licence"]
        pages += [_page("notes.xhtml", "Notes", "<h2>Notes</h2>" + paragraph_html(draw(seeds))),
                  _page("licence.xhtml", "Licence", "<h2>Licence</h2>" + paragraph_html(draw(seeds), words=(2, 6)))]
        toc += [epub.Link("notes.xhtml", "Notes", "notes"), epub.Link("licence.xhtml", "Licence", "licence")]
    pages = _reading_order(pages)
    return EpubPlan(_write_epub(pages, toc), count, titles, texts, front, back)


def _reading_order(pages: list[epub.EpubHtml]) -> list[epub.EpubHtml]:
    """Front pages, then the story's files in the order they were first written (parts before their chapters)."""
    order = {"title.xhtml": 0, "dedication.xhtml": 1, "preface.xhtml": 2, "notes.xhtml": 10**6, "licence.xhtml": 10**6 + 1}
    return sorted(pages, key=lambda page: order.get(page.file_name, 3))


titles_strategy = st.lists(st.sampled_from(TITLE_WORDS), min_size=1, max_size=3, unique=True).map(
    lambda words: "The " + " ".join(words))


def _plain_words(text: str) -> Counter[str]:
    """Words without the underscores that mark italics."""
    return Counter(word for word in text.replace("_", " ").split())


@generated(120)
@given(epub_books())
def test_generated_epubs_keep_their_chapters_and_every_word(plan: EpubPlan) -> None:
    counted("EPUBs (flat, parts, stories with sections, plates in the text, short chapters, front/back pages)")
    book = parse_book("book.epub", plan.data, **LIMITS)
    chapters = book.story_chapters
    assert [c.title for c in chapters] == plan.titles
    assert len(chapters) == plan.chapters
    assert (book.chapters[0].kind == FRONT_MATTER) == plan.front
    assert (book.chapters[-1].kind == BACK_MATTER) == plan.back
    kept = sum((_plain_words(f"{c.heading} {c.text}") for c in book.chapters), Counter())
    assert kept == sum((_plain_words(text) for text in plan.texts), Counter())
