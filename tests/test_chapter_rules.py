"""Chapter rules that must hold on books nobody tuned for: generated books in every heading style the splitter
knows, EPUB contents of every shape, DOCX title pages; each asserts the chapter count and that no word is lost."""

from __future__ import annotations

import io
import random
import uuid
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
    # Stories headed "IV. THE STORM" may have numbered sections of their own (The Adventures of Sherlock Holmes).
    sections = style == "numeral and title" and draw(st.booleans())
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
        if sections and len(body) > 1:  # a story's own numbered sections: "I.", "II." before its paragraphs
            for section, paragraph in enumerate(body, start=1):
                lines += [f"{ROMAN[section]}.", wrapped(paragraph)]
            lead = "I."
        else:
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
    kept = Counter(word for section in sections for word in f"{section.heading} {section.text}".split()
                   if any(char.isalnum() for char in word))
    assert kept == Counter(word for word in source.split() if any(char.isalnum() for char in word))


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


# --- DOCX: a title page, a Contents heading, a generator's default author ------------------------


@dataclass
class DocxPlan:
    data: bytes = field(repr=False)
    chapters: int
    paragraphs: list[str] = field(repr=False)


@st.composite
def docx_books(draw) -> DocxPlan:
    """A Word book: a title page (Title style and a "by" line), maybe a Contents heading, chapters, maybe Notes;
    its metadata author is python-docx's default, or empty."""
    count = draw(st.integers(2, 6))
    paragraphs = [("Title", "The Quiet Town"), ("Normal", "by Ann Author")]
    if draw(st.booleans()):
        paragraphs += [("Heading 1", "Contents"), *(("Normal", f"Chapter {n}") for n in range(1, count + 1))]
    for number in range(1, count + 1):
        paragraphs.append(("Heading 1", f"Chapter {number}"))
        paragraphs += [("Normal", paragraph_from(seed)) for seed in draw(st.lists(seeds, min_size=1, max_size=3))]
    if draw(st.booleans()):
        paragraphs += [("Heading 1", "Notes"), ("Normal", paragraph_from(draw(seeds)))]
    author = draw(st.sampled_from(["python-docx", ""]))
    return DocxPlan(make_docx(paragraphs, author=author), count, [text for _, text in paragraphs])


@generated(40)
@given(docx_books())
def test_generated_docx_books_keep_title_page_contents_and_every_word(plan: DocxPlan) -> None:
    counted("DOCX books (title page, Contents heading, Notes, generator-default author)")
    book = parse_book("book.docx", plan.data, **LIMITS)
    assert (book.title, book.author) == ("The Quiet Town", "Ann Author")
    assert [c.heading for c in book.story_chapters] == [f"Chapter {n}" for n in range(1, plan.chapters + 1)]
    assert all(c.kind != CHAPTER for c in book.chapters if c.heading in ("Contents", "Notes"))
    assert_no_word_lost(book.chapters, "\n\n".join(plan.paragraphs))


# --- each class of failure, on its own ----------------------------------------------------------


def test_a_contents_entry_pointing_at_a_caption_mid_chapter_does_not_start_a_chapter() -> None:
    first = (f"<h2 id='c1'>Chapter 1</h2><p>{prose(1)}</p><p id='plate1'><i>The storm, from a drawing.</i></p>"
             f"<p>{prose(2)}</p><p>Later <a id='note1'/>that day {prose(3)}</p>")
    pages = [_page("c1.xhtml", "Chapter 1", first),
             _page("c2.xhtml", "Chapter 2", f"<h2>Chapter 2</h2><p>{prose(4)}</p>")]
    toc = [epub.Link("c1.xhtml#c1", "Chapter 1", "c1"), epub.Link("c1.xhtml#plate1", "The Storm", "plate1"),
           epub.Link("c1.xhtml#note1", "A Note", "note1"), epub.Link("c2.xhtml", "Chapter 2", "c2")]
    book = parse_book("book.epub", _write_epub(pages, toc), **LIMITS)
    assert [c.title for c in book.chapters] == ["Chapter 1", "Chapter 2"]
    assert "_The storm, from a drawing._" in book.chapters[0].text and "that day" in book.chapters[0].text


def test_a_storys_numbered_sections_stay_inside_it_and_parts_open_into_chapters() -> None:
    story = (f"<h2 id='s'>The Red Storm</h2><h3 id='s1'>I.</h3><p>{prose(1)}</p>"
             f"<h3 id='s2'>II.</h3><p>{prose(2)}</p>")
    pages = [_page("s1.xhtml", "s1", story), _page("s2.xhtml", "s2", f"<h2>The Quiet Sea</h2><p>{prose(3)}</p>")]
    toc = [(epub.Section("The Red Storm", "s1.xhtml#s"), [epub.Link("s1.xhtml#s1", "I.", "a"),
                                                          epub.Link("s1.xhtml#s2", "II.", "b")]),
           epub.Link("s2.xhtml", "The Quiet Sea", "c")]
    book = parse_book("stories.epub", _write_epub(pages, toc), **LIMITS)
    assert [c.title for c in book.chapters] == ["The Red Storm", "The Quiet Sea"]
    assert "II." in book.chapters[0].text
    pages = [_page("p1.xhtml", "p1", "<h1>Part One</h1>"),
             _page("c1.xhtml", "c1", f"<h2>Chapter 1</h2><p>{prose(1)}</p>"),
             _page("p2.xhtml", "p2", "<h1>Part Two</h1>"),
             _page("c2.xhtml", "c2", f"<h2>Chapter 1</h2><p>{prose(2)}</p>")]
    toc = [(epub.Section("Part One", "p1.xhtml"), [epub.Link("c1.xhtml", "Chapter 1", "c1")]),
           (epub.Section("Part Two", "p2.xhtml"), [epub.Link("c2.xhtml", "Chapter 1", "c2")])]
    book = parse_book("parts.epub", _write_epub(pages, toc), **LIMITS)
    assert [(c.heading, c.title) for c in book.chapters] == [
        ("Part One\nChapter 1", "Part One, Chapter 1"), ("Part Two\nChapter 1", "Part Two, Chapter 1")]


@pytest.mark.parametrize("story_heading", ["ADVENTURE {n}. {title}", "{n}. {title}"])
def test_a_plain_text_storys_numbered_sections_stay_inside_it(story_heading: str) -> None:
    # The Adventures of Sherlock Holmes as Gutenberg prints it: each story has sections I., II., III.
    names = ["A SCANDAL IN BOHEMIA", "THE RED-HEADED LEAGUE", "A CASE OF IDENTITY"]
    stories = []
    for number, name in enumerate(names, start=1):
        sections = [f"{ROMAN[s]}.\n\n{wrapped(prose(10 * number + s, 80))}" for s in range(1, 4 - number % 2)]
        stories.append(story_heading.format(n=ROMAN[number], title=name) + "\n\n" + "\n\n".join(sections))
    contents = "\n".join(story_heading.format(n=ROMAN[n], title=name) for n, name in enumerate(names, start=1))
    text = f"THE ADVENTURES OF SHERLOCK HOLMES\n\nby Arthur Conan Doyle\n\nContents\n\n{contents}\n\n\n" + \
        "\n\n\n".join(stories)
    split = split_chapters(text)
    assert [c.title.split(": ")[-1] for c in split.story_chapters] == [
        "A Scandal in Bohemia", "The Red-Headed League", "A Case of Identity"]
    assert split.story_chapters[0].text.startswith("I.\n\nIt was 11") and "\n\nII.\n\n" in split.story_chapters[0].text
    assert_no_word_lost(split.chapters, text)


def test_the_last_storys_numbered_sections_stay_inside_it() -> None:
    # Found by the generated books: sections only in the last story, with no story heading after them.
    text = (f"THE QUIET TOWN\n\n\nI. THE STORM\n\n\n{wrapped(prose(1, 80))}\n\n\nII. THE CALM\n\n\n"
            f"I.\n\n\nNotes were passed under the door.\n\n\nII.\n\n\n{wrapped(prose(2, 80))}\n")
    split = split_chapters(text)
    assert [c.title for c in split.story_chapters] == ["I: The Storm", "II: The Calm"]
    assert split.story_chapters[1].text.startswith("I.\n\nNotes were passed under the door.\n\nII.")
    assert_no_word_lost(split.chapters, text)


@pytest.mark.parametrize("label, kind", [
    ("Title Page", FRONT_MATTER), ("Transcriber's Note", FRONT_MATTER), ("List of Illustrations", FRONT_MATTER),
    ("Preface", FRONT_MATTER), ("Dedication", FRONT_MATTER), ("Epigraphs", FRONT_MATTER), ("Contents", FRONT_MATTER),
    ("Notes", BACK_MATTER), ("Index", BACK_MATTER), ("The Full Project Gutenberg License", BACK_MATTER),
])
def test_front_and_back_matter_is_kept_and_marked_not_numbered(label: str, kind: str) -> None:
    matter = _page("m.xhtml", label, f"<h2>{label}</h2><p>{prose(9, 80)}</p>")
    chapters = [_page(f"c{n}.xhtml", f"c{n}", f"<h2>Chapter {n}</h2><p>{prose(n)}</p>") for n in (1, 2)]
    pages = [matter, *chapters] if kind == FRONT_MATTER else [*chapters, matter]
    toc = [epub.Link(page.file_name, label if page is matter else page.file_name.replace("c", "Chapter ")[:-6],
                     page.file_name) for page in pages]
    book = parse_book("book.epub", _write_epub(pages, toc), **LIMITS)
    assert [(c.kind, c.heading) for c in book.chapters if c.kind != CHAPTER] == [(kind, label)]
    assert len(book.story_chapters) == 2 and prose(9, 80) in "".join(c.text for c in book.chapters)
    # In plain text: matter before the first chapter, and a back-matter heading after the last.
    chapters_text = [f"Chapter 1\n\n{prose(1)}", f"Chapter 2\n\n{prose(2)}"]
    matter_text = f"{label}\n\n{prose(9, 80)}"
    if kind == FRONT_MATTER or label in ("Notes", "Index"):
        text = "\n\n".join([matter_text, *chapters_text] if kind == FRONT_MATTER else [*chapters_text, matter_text])
        split = split_chapters(text)
        assert len(split.story_chapters) == 2 and split.chapters[0 if kind == FRONT_MATTER else -1].kind == kind
        assert_no_word_lost(split.chapters, text)


def test_in_a_book_that_numbers_its_chapters_what_comes_before_the_first_is_front_matter() -> None:
    # Moby-Dick's shape: title page, etymology and extracts (an epigraph collection) before Chapter 1.
    front = [("title.xhtml", "Moby-Dick; or, The Whale", f"<h1>MOBY-DICK</h1><p>{prose(7, 60)}</p>"),
             ("etymology.xhtml", "Etymology", f"<h2>ETYMOLOGY.</h2><p>{prose(8, 90)}</p>"),
             ("extracts.xhtml", "Extracts", f"<h2>EXTRACTS.</h2><p>“{prose(9, 90)}” —Old Song</p>")]
    story = [(f"c{n}.xhtml", f"CHAPTER {n}. The Name.", f"<h2>CHAPTER {n}.</h2><p>{prose(n, 90)}</p>") for n in (1, 2)]
    story.append(("epilogue.xhtml", "Epilogue", f"<h2>Epilogue</h2><p>{prose(5, 90)}</p>"))
    pages = [_page(name, label, html) for name, label, html in front + story]
    book = parse_book("book.epub", _write_epub(pages, [epub.Link(name, label, name) for name, label, _ in front + story]),
                      **LIMITS)
    assert [c.kind for c in book.chapters] == [FRONT_MATTER] * 3 + [CHAPTER] * 3
    assert [c.title for c in book.story_chapters] == ["Chapter 1: The Name", "Chapter 2: The Name", "Epilogue"]


def test_an_anthologys_lone_wrapper_opens_into_its_stories_past_page_numbers() -> None:
    # One top-level section, stories grouped by author (entries without a page), a page number above each heading.
    stories = "".join(f"<section id='s{n}'><div><span epub:type='pagebreak' id='p{n}'>17{n}</span></div>"
                      f"<h3>19{n}</h3><p>{prose(n, 90)}</p></section>" for n in (1, 2, 3))
    page = _page("s.xhtml", "s", f"<h2>SECTION IV FAIRY STORIES</h2>{stories}")
    toc = [(epub.Section("SECTION IV FAIRY STORIES", "s.xhtml"), [
        (epub.Section("Hans Christian Andersen"), [epub.Link("s.xhtml#s1", "191 THE REAL PRINCESS", "a"),
                                                  epub.Link("s.xhtml#s2", "192 THE FIR TREE", "b")]),
        (epub.Section("Oscar Wilde"), [epub.Link("s.xhtml#s3", "193 THE HAPPY PRINCE", "c")])])]
    book = parse_book("book.epub", _write_epub([page], toc), **LIMITS)
    assert [c.title for c in book.story_chapters] == [
        "191 The Real Princess", "192 The Fir Tree", "193 The Happy Prince"]
    assert not any("17" in c.text.split() for c in book.chapters)  # page numbers are not the book's words


def test_a_docx_contents_heading_is_front_matter() -> None:
    paragraphs = [("Heading 1", "Contents"), ("Normal", "Chapter 1"), ("Normal", "Chapter 2"),
                  ("Heading 1", "Chapter 1"), ("Normal", prose(1)), ("Heading 1", "Chapter 2"), ("Normal", prose(2))]
    book = parse_book("book.docx", make_docx(paragraphs), **LIMITS)
    assert [(c.kind, c.heading) for c in book.chapters] == [
        (FRONT_MATTER, "Contents"), (CHAPTER, "Chapter 1"), (CHAPTER, "Chapter 2")]


def test_the_contents_label_names_a_chapter_not_its_epigraph() -> None:
    epilogue = "<p><i>All things pass away.</i></p><p>— An Old Song</p>" + f"<p>{prose(2, 80)}</p>"
    pages = [_page("c1.xhtml", "c1", f"<h2>Chapter 1</h2><p>{prose(1)}</p>"), _page("e.xhtml", "e", epilogue)]
    toc = [epub.Link("c1.xhtml", "Chapter 1", "c1"), epub.Link("e.xhtml", "Epilogue", "e")]
    book = parse_book("book.epub", _write_epub(pages, toc), **LIMITS)
    assert [c.title for c in book.chapters] == ["Chapter 1", "Epilogue"]
    assert book.chapters[1].text.startswith("_All things pass away._")


@pytest.mark.parametrize("printed, title", [
    ("CHAPTER II", "Chapter II"), ("II. THE RED-HEADED LEAGUE", "II. The Red-Headed League"),
    ("CHAPTER IV. THE MAN IN THE BROWN SUIT", "Chapter IV. The Man in the Brown Suit"),
    ("PART ONE: THE ARRIVAL", "Part One: The Arrival"), ("THE MIX OF IT", "The Mix of It"),
    ("HIDE-AND-SEEK", "Hide-and-Seek"), ("A DAY IN XIX CENTURY ROME", "A Day in XIX Century Rome"),
])
def test_title_case_knows_numerals_phrases_and_hyphens(printed: str, title: str) -> None:
    assert title_case(printed) == title


def test_the_books_own_casing_is_kept() -> None:
    book = parse_book("book.epub", _write_epub(
        [_page(f"c{n}.xhtml", "c", f"<h2>{label}</h2><p>{prose(n, 80)}</p>")
         for n, label in ((1, "II. The Red-headed League"), (2, "III. A Case of Identity"))],
        [epub.Link("c1.xhtml", "II. The Red-headed League", "a"), epub.Link("c2.xhtml", "III. A Case of Identity", "b")]),
        **LIMITS)
    assert [c.title for c in book.chapters] == ["II. The Red-headed League", "III. A Case of Identity"]


@generated(60)
@given(st.lists(titles_strategy, min_size=2, max_size=8), st.lists(bodies, min_size=8, max_size=8))
def test_a_numeral_line_then_a_title_line_makes_the_title(story_titles: list[str], story_bodies) -> None:
    counted("numeral line, then title line (plain-text story collections)")
    stories = [f"{ROMAN[n]}.\n\n{title.upper()}\n\n" + "\n\n".join(map(wrapped, body))
               for n, (title, body) in enumerate(zip(story_titles, story_bodies), 1)]
    text = "ADVENTURES\n\n\n" + "\n\n\n".join(stories)
    split = split_chapters(text)
    assert [c.title for c in split.story_chapters] == [
        f"{ROMAN[n]}: {title_case(title.upper())}" for n, title in enumerate(story_titles, 1)]
    assert [first_words(c.text) for c in split.story_chapters] == [
        first_words(body[0]) for body in story_bodies[:len(story_titles)]]
    assert_no_word_lost(split.chapters, text)


@pytest.mark.parametrize("author", ["python-docx", "", "Unknown", "Microsoft Office User"])
def test_a_generator_default_author_gives_way_to_the_title_page(author: str) -> None:
    paragraphs = [("Title", "The Quiet Town"), ("Normal", "by Ann Author"), ("Heading 1", "Chapter 1"),
                  ("Normal", prose(1)), ("Heading 1", "Chapter 2"), ("Normal", prose(2))]
    book = parse_book("book.docx", make_docx(paragraphs, author=author), **LIMITS)
    assert (book.title, book.author) == ("The Quiet Town", "Ann Author")
    assert parse_book("book.docx", make_docx(paragraphs, author="Real Name"), **LIMITS).author == "Real Name"


def _rezip(data: bytes, *, drop: str = "", first: str = "mimetype", replace: dict[str, bytes] | None = None) -> bytes:
    """Copy an EPUB's zip, dropping a member, putting another first, or replacing contents."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        members = [(info.filename, source.read(info)) for info in source.infolist() if info.filename != drop]
    members.sort(key=lambda member: member[0] != first)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for name, content in members:
            target.writestr(name, (replace or {}).get(name, content))
    return buffer.getvalue()


def _valid_epub() -> bytes:
    return _write_epub([_page(f"c{n}.xhtml", "c", f"<h2>Chapter {n}</h2><p>{prose(n, 150)}</p>") for n in (1, 2)],
                       [epub.Link(f"c{n}.xhtml", f"Chapter {n}", f"c{n}") for n in (1, 2)])


@pytest.mark.parametrize("change, rule", [
    ({"drop": "mimetype"}, "it has no “mimetype” entry"),
    ({"first": "META-INF/container.xml"}, "its “mimetype” entry must come first"),
    ({"replace": {"mimetype": b"application/zip"}}, "must read application/epub+zip"),
    ({"drop": "META-INF/container.xml"}, "it has no META-INF/container.xml"),
    ({"replace": {"META-INF/container.xml": b"<container><rootfiles>"}}, "not well-formed XML"),
    ({"replace": {"META-INF/container.xml": b"<container><rootfiles/></container>"}}, "names no package file"),
    ({"drop": "EPUB/content.opf"}, "names EPUB/content.opf, which is not in the file"),
])
def test_an_epub_breaking_the_container_rules_is_refused_saying_which(change: dict, rule: str) -> None:
    assert parse_book("book.epub", _valid_epub(), **LIMITS, min_words=200).story_chapters
    with pytest.raises(UnreadableBookError) as refused:
        parse_book("book.epub", _rezip(_valid_epub(), **change), **LIMITS)
    message = str(refused.value)
    assert message.startswith("This EPUB breaks the container rules: ") and rule in message
    assert message.count(". ") == 0 and message.endswith(".")


def test_a_four_word_epub_without_mimetype_is_refused() -> None:
    tiny = _write_epub([_page("c.xhtml", "c", "<p>Just four words here.</p>")], [epub.Link("c.xhtml", "One", "c")])
    assert "no “mimetype” entry" in str(pytest.raises(UnreadableBookError, parse_book, "book.epub",
                                                      _rezip(tiny, drop="mimetype"), **LIMITS).value)
    message = str(pytest.raises(UnreadableBookError, parse_book, "book.epub", tiny, **LIMITS, min_words=200).value)
    assert message == "This file holds only 4 words; a book needs at least 200."


@pytest.mark.parametrize("filename, data", [
    ("note.txt", prose(1, 40).encode()), ("note.md", f"# Note\n\n{prose(1, 40)}".encode()),
    ("note.docx", make_docx([("Normal", prose(1, 40))])),
])
def test_an_upload_under_the_minimum_words_is_refused_in_one_sentence(filename: str, data: bytes) -> None:
    with pytest.raises(UnreadableBookError, match=r"^This file holds only \d+ words; a book needs at least 200\.$"):
        parse_book(filename, data, **LIMITS, min_words=200)
    assert parse_book(filename, data, **LIMITS, min_words=10).chapters


def test_the_minimum_is_a_setting_of_200_words_that_the_library_applies() -> None:
    from core.config import Settings
    from core.services import library

    assert Settings().min_book_words == 200
    assert library._limits()["min_words"] == Settings().min_book_words


# --- no silent loss -------------------------------------------------------------------------------


def test_a_notes_sentence_after_the_last_heading_keeps_the_rest_of_the_book() -> None:
    ending = "\n\n".join(["Notes were passed under the door.", prose(3, 170)])
    text = f"Chapter 1\n\n{prose(1)}\n\nChapter 2\n\n{prose(2)}\n\n{ending}\n"
    split = split_chapters(text)
    assert [c.kind for c in split.chapters] == [CHAPTER, CHAPTER]
    assert split.chapters[-1].text.endswith(prose(3, 170))
    assert_no_word_lost(split.chapters, text)


def test_short_late_chapters_are_chapters_and_keep_their_part() -> None:
    text = "\n\n".join([f"PART ONE\n\nChapter 1\n\n{prose(1)}", f"Chapter 2\n\n{prose(2)}",
                        "PART TWO\n\nChapter 1\n\nShe left.", "Chapter 2\n\nHe stayed.", "Chapter 3\n\nThe end."])
    split = split_chapters(text)
    assert [c.title for c in split.chapters] == [
        "Part One, Chapter 1", "Part One, Chapter 2", "Part Two, Chapter 1", "Part Two, Chapter 2",
        "Part Two, Chapter 3"]
    assert_no_word_lost(split.chapters, text)


def test_short_and_matter_epub_entries_keep_their_text() -> None:
    pages = [_page("t.xhtml", "t", "<h1>The Quiet Town</h1>"), _page("d.xhtml", "d", "<p>For my sister.</p>"),
             *(_page(f"c{n}.xhtml", "c", f"<h2>Chapter {n}</h2><p>{prose(n)}</p>") for n in (1, 2)),
             _page("c3.xhtml", "c", "<h2>Chapter 3</h2><p>It ended.</p>"),
             _page("n.xhtml", "n", f"<h2>Notes</h2><p>{prose(4)}</p>"), _page("l.xhtml", "l", "<p>Licence: free.</p>")]
    labels = ["The Quiet Town", "Dedication", "Chapter 1", "Chapter 2", "Chapter 3", "Notes", "Licence"]
    toc = [epub.Link(page.file_name, label, page.file_name) for page, label in zip(pages, labels)]
    book = parse_book("book.epub", _write_epub(pages, toc), **LIMITS)
    assert [(c.kind, c.title) for c in book.chapters] == [
        (FRONT_MATTER, "The Quiet Town"), (FRONT_MATTER, "Dedication"), (CHAPTER, "Chapter 1"),
        (CHAPTER, "Chapter 2"), (CHAPTER, "Chapter 3"), (BACK_MATTER, "Notes"), (BACK_MATTER, "Licence")]
    assert book.chapters[1].text == "For my sister." and book.chapters[-1].text == "Licence: free."


# --- the library keeps the kind, numbers chapters among themselves, and lets the writer change it -----


def test_matter_is_stored_with_its_kind_unnumbered_and_the_writer_can_turn_it_into_a_chapter(writer_a) -> None:
    import hashlib

    from core.errors import PlotStudioError
    from core.services import library
    from db.engine import unit_of_work
    from db.models import Book, Chapter

    sections = [("Contents", FRONT_MATTER), ("Chapter 1", CHAPTER), ("Chapter 2", CHAPTER), ("Notes", BACK_MATTER)]
    with unit_of_work(writer_a.id) as session:
        book = Book(user_id=writer_a.id, title="Kinds")
        session.add(book)
        session.flush()
        for number, (title, kind) in enumerate(sections, start=1):
            session.add(Chapter(book_id=book.id, user_id=writer_a.id, number=number, title=title, text=prose(number),
                                word_count=len(prose(number).split()), kind=kind,
                                content_sha256=hashlib.sha256(prose(number).encode()).hexdigest()))
        book_id = book.id
    listed = library.list_chapters(writer_a.id, book_id)
    assert [(c.title, c.kind, c.ordinal) for c in listed] == [
        ("Contents", FRONT_MATTER, None), ("Chapter 1", CHAPTER, 1), ("Chapter 2", CHAPTER, 2),
        ("Notes", BACK_MATTER, None)]
    assert all(c.words == len(prose(c.number).split()) for c in listed)
    library.set_chapter_kind(writer_a.id, listed[0].id, CHAPTER)
    library.set_chapter_kind(writer_a.id, listed[2].id, BACK_MATTER)
    assert [(c.kind, c.ordinal) for c in library.list_chapters(writer_a.id, book_id)] == [
        (CHAPTER, 1), (CHAPTER, 2), (BACK_MATTER, None), (BACK_MATTER, None)]
    with pytest.raises(PlotStudioError, match="chapter, front matter or back matter"):
        library.set_chapter_kind(writer_a.id, listed[0].id, "appendix")


def test_another_writer_cannot_change_a_sections_kind(writer_a, writer_b) -> None:
    import hashlib

    from core.errors import PlotStudioError
    from core.services import library
    from db.engine import unit_of_work
    from db.models import Book, Chapter

    with unit_of_work(writer_a.id) as session:
        book = Book(user_id=writer_a.id, title="Mine")
        session.add(book)
        session.flush()
        chapter = Chapter(book_id=book.id, user_id=writer_a.id, number=1, title="Contents", text="x",
                          kind=FRONT_MATTER, content_sha256=hashlib.sha256(b"x").hexdigest())
        session.add(chapter)
        session.flush()
        chapter_id = chapter.id
    with pytest.raises(PlotStudioError):
        library.set_chapter_kind(writer_b.id, chapter_id, CHAPTER)
    assert library.get_chapter(writer_a.id, chapter_id).kind == FRONT_MATTER


def test_an_ingested_book_keeps_its_matter_marked_and_records_its_splitter(writer_a) -> None:
    from core import jobs
    from core.ingest import SPLITTER_VERSION
    from core.services import library

    text = "\n\n".join(["THE QUIET TOWN\n\nby Ann Author", "CONTENTS\n\nChapter 1\nChapter 2\nChapter 3",
                        *(f"Chapter {n}\n\n{prose(n, 90)}" for n in (1, 2, 3)), f"NOTES\n\n{prose(4)}"])
    job_id = library.start_ingest(writer_a.id, "quiet.txt", text.encode(), queue=False)
    jobs.run_job(str(job_id), str(writer_a.id), library.ingest_book, jobs.get_job(writer_a.id, job_id).params)
    job = jobs.get_job(writer_a.id, job_id)
    assert job.status == "succeeded", job.error
    book = library.get_book(writer_a.id, uuid.UUID(job.result["book_id"]))
    assert (book.author, book.splitter_version) == ("Ann Author", SPLITTER_VERSION)
    assert book.split_parameters["toc_entry_max_words"] == 12
    assert [(c.kind, c.title, c.ordinal) for c in library.list_chapters(writer_a.id, book.id)] == [
        (FRONT_MATTER, "Front matter", None), (FRONT_MATTER, "Contents", None), (CHAPTER, "Chapter 1", 1),
        (CHAPTER, "Chapter 2", 2), (CHAPTER, "Chapter 3", 3), (BACK_MATTER, "Notes", None)]
    assert [c["title"] for c in job.result["chapters"]] == ["Chapter 1", "Chapter 2", "Chapter 3"]


def test_a_pdf_exporters_title_and_default_author_give_way() -> None:
    from support import make_pdf, wrap

    pages = [["The Quiet Town", "by Ann Author"], ["Chapter 1", *wrap(prose(1, 120))], ["Chapter 2", *wrap(prose(2, 120))]]
    book = parse_book("quiet-town.pdf", make_pdf(pages, title="Microsoft Word - draft3.docx"), **LIMITS)
    assert (book.title, book.author) == ("Quiet Town", "Ann Author")
    assert [c.heading for c in book.story_chapters] == ["Chapter 1", "Chapter 2"]


def test_a_list_of_plates_early_in_the_contents_does_not_hide_the_chapters() -> None:
    chapters = [_page(f"c{n}.xhtml", "c", f"<h2>Chapter {n}</h2><p>{prose(n, 80)}</p>") for n in (1, 2, 3)]
    plate = _page("plate.xhtml", "p", "<p><i>The harbour at night.</i></p>")
    pages = [chapters[0], chapters[1], plate, chapters[2]]
    toc = [epub.Link("plate.xhtml", "The Harbour at Night", "plate"),
           *(epub.Link(f"c{n}.xhtml", f"Chapter {n}", f"c{n}") for n in (1, 2, 3))]
    book = parse_book("book.epub", _write_epub(pages, toc), **LIMITS)
    assert [c.title for c in book.chapters] == ["Chapter 1", "Chapter 2", "Chapter 3"]
    assert book.chapters[1].text.endswith("_The harbour at night._")


def test_a_docx_whose_title_is_styled_as_a_heading_keeps_it_as_its_title_page() -> None:
    paragraphs = [("Heading 1", "The Quiet Town"), ("Normal", "by Ann Author"),
                  *(pair for n, name in enumerate(["Arrival", "Storm", "Return"], 1)
                    for pair in (("Heading 1", name), ("Normal", prose(n, 80))))]
    book = parse_book("book.docx", make_docx(paragraphs, author="python-docx"), **LIMITS)
    assert (book.title, book.author) == ("The Quiet Town", "Ann Author")
    assert [(c.kind, c.heading) for c in book.chapters] == [
        (FRONT_MATTER, "The Quiet Town"), (CHAPTER, "Arrival"), (CHAPTER, "Storm"), (CHAPTER, "Return")]


def test_markdown_matter_around_numbered_chapters() -> None:
    text = (f"# The Quiet Town\n\n## Epigraphs\n\n{prose(1, 20)}\n\n## Chapter 1\n\n{prose(2)}\n\n## Chapter 2\n\n"
            f"{prose(3)}\n\n## Epilogue\n\n{prose(4)}\n\n## With Thanks\n\n{prose(5, 20)}\n")
    split = split_chapters(text, markdown=True)
    assert [(c.kind, c.title) for c in split.chapters] == [
        (FRONT_MATTER, "Front matter"), (FRONT_MATTER, "Epigraphs"), (CHAPTER, "Chapter 1"), (CHAPTER, "Chapter 2"),
        (CHAPTER, "Epilogue"), (BACK_MATTER, "With Thanks")]
    assert_no_word_lost(split.chapters, text)


def test_a_markdown_books_front_matter_names_title_and_author() -> None:
    text = f'---\ntitle: "The Quiet Town"\nauthor: Ann Author\n---\n\n# Chapter 1\n\n{prose(1)}\n\n# Chapter 2\n\n{prose(2)}\n'
    book = parse_book("draft.md", text.encode(), **LIMITS)
    assert (book.title, book.author) == ("The Quiet Town", "Ann Author")
    assert [c.title for c in book.story_chapters] == ["Chapter 1", "Chapter 2"]
    assert_no_word_lost(book.chapters, text)


def test_chapters_headed_by_styled_paragraphs_still_follow_the_contents() -> None:
    html = "".join(f"<p class='chapter-title' id='c{n}'>{name}</p><p>{prose(n, 80)}</p>"
                   for n, name in enumerate(["The Arrival", "The Storm", "The Return"], start=1))
    toc = [epub.Link(f"book.xhtml#c{n}", name, f"c{n}") for n, name in enumerate(["The Arrival", "The Storm", "The Return"], 1)]
    book = parse_book("book.epub", _write_epub([_page("book.xhtml", "b", html)], toc), **LIMITS)
    assert [c.title for c in book.chapters] == ["The Arrival", "The Storm", "The Return"]
