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
