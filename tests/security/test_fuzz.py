"""Hypothesis fuzzing of every parser on mutated real files (truncated, bit-flipped, spliced): a book or
one clear sentence, never a crash. The number of examples run is printed."""

from __future__ import annotations

import functools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import UnreadableBookError
from core.ingest import ParsedBook
from core.ingest.formats import parse_book
from security.conftest import record
from support import CORPUS, make_docx, make_epub, make_pdf, prose, wrap

LIMITS = {"max_bytes": 5_000_000, "max_words": 1_000_000}


@functools.cache
def originals() -> dict[str, tuple[str, bytes]]:
    """Real files of each format: the corpus where it has one, the support builders otherwise."""
    text = (CORPUS / "frankenstein.txt").read_bytes()[:40_000]
    return {
        "txt": ("frankenstein.txt", text),
        "md": ("book.md", b"# A Book\n\n" + b"\n\n".join(f"## Chapter {n}\n\n{prose(n, 120)}".encode() for n in range(1, 6))),
        "epub (corpus)": ("frankenstein.epub", (CORPUS / "frankenstein.epub").read_bytes()),
        "epub": ("book.epub", make_epub()),
        "docx": ("book.docx", make_docx([("Title", "A Book"), ("Heading 1", "Chapter 1"), ("Normal", prose(1)),
                                         ("Heading 1", "Chapter 2"), ("Normal", "_An aside._ " + prose(2))])),
        "pdf": ("book.pdf", make_pdf([["CHAPTER I", *wrap(prose(1, 150))], ["CHAPTER II", *wrap(prose(2, 150))]],
                                     title="A Book")),
    }


# Examples per format: the corpus EPUB is 476 KB and takes half a second a parse, the rest far less.
EXAMPLES = {"txt": 150, "md": 100, "epub (corpus)": 25, "epub": 200, "docx": 100, "pdf": 100}
RUN: dict[str, int] = {}


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """The file truncated, with bits flipped, with bytes spliced in, or all three."""
    size = len(data)
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, size))]
    flips = draw(st.lists(st.tuples(st.integers(0, max(size - 1, 0)), st.integers(0, 7)), max_size=12))
    buffer = bytearray(data)
    for position, bit in flips:
        if position < len(buffer):
            buffer[position] ^= 1 << bit
    if draw(st.booleans()):
        at = draw(st.integers(0, len(buffer)))
        buffer[at:at] = draw(st.binary(max_size=64))
    return bytes(buffer)


def _clear(message: str) -> bool:
    return bool(message) and "\n" not in message and "Traceback" not in message and len(message) < 300


@pytest.mark.parametrize("kind", list(EXAMPLES))
def test_a_mutated_file_gives_a_book_or_one_sentence(kind):
    filename, original = originals()[kind]
    RUN[kind] = 0

    @settings(max_examples=EXAMPLES[kind], deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(mutated(original))
    def parses_or_refuses(data: bytes) -> None:
        RUN[kind] += 1
        try:
            book = parse_book(filename, data, **LIMITS)
        except UnreadableBookError as error:
            assert _clear(str(error)), str(error)
            return
        assert isinstance(book, ParsedBook) and book.chapters

    parses_or_refuses()
    record("fuzzing", f"{kind} ({filename}, {len(original):,} bytes): {RUN[kind]} mutated examples, no crash")
    assert RUN[kind] >= EXAMPLES[kind] // 2
