"""Split the plain text of a book into chapters by its headings, scene breaks or size."""

import re
from dataclasses import dataclass

from core.ingest import ChapterText
from core.ingest.numbers import read_leading_number, roman_to_int

# Under this many words, a heading's body is a table-of-contents entry, not a chapter.
TOC_ENTRY_MAX_WORDS = 12
# Size fallback: aim for chapters of about this many words, cut at paragraph ends.
TARGET_SECTION_WORDS = 4000
# Scene-break pieces shorter than this are folded into the piece before them.
MIN_SCENE_WORDS = 300
# A scene-break split is only believable if no piece is longer than this.
MAX_SCENE_WORDS = 15000
# This many heading lines in one block (no blank lines between) are a contents list.
CONTENTS_LIST_MIN_HEADINGS = 3
# Heading lines are short; anything longer is a paragraph that happens to start with "Chapter".
MAX_HEADING_CHARS = 100

_CHAPTER_KEYWORDS = {"chapter": "Chapter", "chap": "Chapter", "letter": "Letter", "canto": "Canto"}
_DIVISION_KEYWORDS = {"part": "Part", "book": "Book", "volume": "Volume", "vol": "Volume"}
_KEYWORD_HEADING = re.compile(
    r"^(?P<keyword>CHAPTER|Chapter|CHAP\.|Chap\.|LETTER|Letter|CANTO|Canto"
    r"|PART|Part|BOOK|Book|VOLUME|Volume|VOL\.|Vol\.)\s+(?P<rest>.+)$"
)
# Sections that stand on their own and belong to the story.
_STORY_SECTIONS = re.compile(
    r"^(?P<word>PROLOGUE|Prologue|EPILOGUE|Epilogue|INTERLUDE|Interlude|AFTERWORD|Afterword"
    r"|POSTSCRIPT|Postscript|CONCLUSION|Conclusion)(?:\s*[.:\-–—]\s*(?P<title>.*))?\.?$"
)
# Sections around the story: they end the last chapter but are not chapters themselves.
_BACK_MATTER = re.compile(
    r"^(APPENDIX|Appendix|NOTES|Notes|FOOTNOTES:?|Footnotes:?|GLOSSARY|Glossary|INDEX|Index"
    r"|TRANSCRIBER'?S NOTES?:?|Transcriber'?s [Nn]otes?:?|BIBLIOGRAPHY|Bibliography"
    r"|ACKNOWLEDG(E)?MENTS|Acknowledg(e)?ments|ABOUT THE AUTHOR|About the Author)\b.{0,40}$"
)
_BARE_ROMAN = re.compile(r"^(?P<number>[IVXLC]+)\.?$")
_BARE_ARABIC = re.compile(r"^(?P<number>\d{1,3})\.?$")
# "IV. THE STORM", "12. Homecoming": a numeral and its title on one line (story collections).
_NUMBERED_TITLE = re.compile(r"^(?P<number>[IVXLC]+|\d{1,3})\.\s+(?P<title>[A-Z\"'“‘][^.!?]{0,80}[.!?]?)$")
_MARKDOWN_HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>.+?)\s*#*$")
_SCENE_BREAK = re.compile(r"^(?:[*#~•·◆◇❖✦§=+_\-]\s*){1,15}$")
_ILLUSTRATION = re.compile(r"^[ \t]*\[Illustration[^\]]*\][ \t]*$", re.MULTILINE | re.IGNORECASE)
_TITLE_SEPARATOR = re.compile(r"^\s*[.:\-–—)]+\s*|^\s{2,}")
_MINOR_WORDS = {"a", "an", "and", "as", "at", "but", "by", "for", "in", "of", "on", "or", "the", "to", "with"}


@dataclass(frozen=True)
class ChapterSplit:
    """Chapters found in a text, the rule that found them, and notes for the writer."""

    chapters: list[ChapterText]
    split_method: str
    notes: list[str]


@dataclass(frozen=True)
class _Heading:
    """A line that may open a chapter (or a part, or back matter)."""

    line: int
    kind: str  # "chapter", "story", "division", "back", "bare", "markdown"
    series: str  # headings numbered together, e.g. "chapter" or "letter"
    number: int | None
    printed: str
    label: str  # the display title before any title line, e.g. "Chapter One"
    title: str  # a title printed on the same line, e.g. "The Beginning"


def split_chapters(text: str, *, markdown: bool = False) -> ChapterSplit:
    """Split a book's text (licence already stripped) into chapters in reading order."""
    stripped = [line.strip() for line in _ILLUSTRATION.sub("", text).split("\n")]
    headings = _find_headings(stripped, markdown=markdown)
    chapters_found = [h for h in headings if h.kind in ("chapter", "story", "bare", "markdown")]
    if chapters_found:
        return ChapterSplit(_build_chapters(stripped, headings), "headings", _heading_notes(stripped, headings))
    return _split_without_headings(stripped)


def is_heading_line(line: str) -> bool:
    """Whether a single line reads as a chapter, story-section or part heading."""
    heading = _read_heading([line.strip()], 0)
    return heading is not None and heading.kind in ("chapter", "story", "division")


def display_title_for_heading(line: str) -> str:
    """Display title for a heading line: "CHAPTER IV. THE STORM" -> "Chapter IV: The Storm"."""
    heading = _read_heading([line.strip()], 0)
    if heading is None or heading.kind in ("back", "bare"):
        return _tidy_title(line)
    return f"{heading.label}: {heading.title}" if heading.title else heading.label


def _find_headings(stripped: list[str], *, markdown: bool) -> list[_Heading]:
    """Return the headings that open chapters, parts and back matter, in order."""
    if markdown:
        markdown_headings = _markdown_headings(stripped)
        if markdown_headings:
            return markdown_headings
    candidates = [
        heading
        for index in range(len(stripped))
        if _stands_alone(stripped, index) and not _opens_contents_list(stripped, index)
        for heading in [_read_heading(stripped, index)]
        if heading
    ]
    # Bare numerals ("IV") are weak evidence: used only when no line says "Chapter".
    if any(h.kind in ("chapter", "story") for h in candidates):
        candidates = [h for h in candidates if h.kind != "bare"]
    candidates = _drop_table_of_contents(stripped, candidates)
    candidates = _keep_numbering_sequences(candidates)
    # One bare numeral is more likely a stray line than the only chapter of a book.
    if sum(h.kind == "bare" for h in candidates) == 1:
        candidates = [h for h in candidates if h.kind != "bare"]
    return _drop_inner_back_matter(candidates)


def _stands_alone(stripped: list[str], index: int) -> bool:
    """Whether a line is short and opens a paragraph, as headings do."""
    line = stripped[index]
    return bool(line) and len(line) <= MAX_HEADING_CHARS and (index == 0 or not stripped[index - 1])


def _opens_contents_list(stripped: list[str], index: int) -> bool:
    """Whether a line starts a block of heading lines with no blank between: a contents list."""
    block = []
    for line in stripped[index:]:
        if not line:
            break
        block.append(line)
    return sum(is_heading_line(line) for line in block) >= CONTENTS_LIST_MIN_HEADINGS


def _read_heading(stripped: list[str], index: int) -> _Heading | None:
    """Recognise a heading line, or return None for ordinary text."""
    line = stripped[index]
    keyword_match = _KEYWORD_HEADING.match(line)
    if keyword_match:
        return _read_keyword_heading(index, line, keyword_match)
    story_match = _STORY_SECTIONS.match(line)
    if story_match:
        word = story_match.group("word").capitalize()
        return _Heading(index, "story", word.lower(), None, line, word, _tidy_title(story_match.group("title") or ""))
    if _BACK_MATTER.match(line):
        return _Heading(index, "back", "back", None, line, line, "")
    bare_match = _BARE_ROMAN.match(line) or _BARE_ARABIC.match(line)
    followed_by_blank = index + 1 >= len(stripped) or not stripped[index + 1]
    if bare_match and followed_by_blank:
        number = read_leading_number(bare_match.group("number"))
        if number:
            return _Heading(index, "bare", "bare", number[0], line, bare_match.group("number"), "")
    titled_match = _NUMBERED_TITLE.match(line)
    if titled_match and followed_by_blank:
        number = read_leading_number(titled_match.group("number"))
        if number:
            return _Heading(index, "bare", "bare", number[0], line, titled_match.group("number"),
                            _tidy_title(titled_match.group("title").rstrip(".")))
    return None


def _read_keyword_heading(index: int, line: str, match: re.Match) -> _Heading | None:
    """Read "CHAPTER XII. Title" style headings; None if what follows is not a number."""
    keyword = match.group("keyword").rstrip(".").lower()
    number = read_leading_number(match.group("rest"))
    if not number:
        return None
    value, printed_number, remainder = number
    title = _read_same_line_title(remainder)
    if title is None:
        return None
    if keyword in _DIVISION_KEYWORDS:
        label = f"{_DIVISION_KEYWORDS[keyword]} {_display_number(printed_number)}"
        return _Heading(index, "division", keyword, value, line, label, title)
    label = f"{_CHAPTER_KEYWORDS[keyword]} {_display_number(printed_number)}"
    return _Heading(index, "chapter", _CHAPTER_KEYWORDS[keyword].lower(), value, line, label, title)


def _read_same_line_title(remainder: str) -> str | None:
    """Return the title after a heading number ("" if none), or None if it reads as prose."""
    if not remainder.strip():
        return ""
    separator = _TITLE_SEPARATOR.match(remainder)
    if separator:
        return _tidy_title(remainder[separator.end():])
    # "Chapter 3 The Storm" is a heading; "Chapter 3 of the report" is a sentence.
    rest = remainder.strip()
    if remainder.startswith(" ") and rest[0].isupper():
        return _tidy_title(rest)
    return None


def _display_number(printed: str) -> str:
    """Show a heading number the way a title would: "TWENTY-ONE" -> "Twenty-One", "xii" -> "XII"."""
    if printed.isdigit():
        return printed
    if roman_to_int(printed):
        return printed.upper()
    return re.sub(r"[A-Za-z]+", lambda word: "the" if word.group(0).lower() == "the" else word.group(0).capitalize(),
                  printed)


def _tidy_title(title: str) -> str:
    """Turn a printed title into a display title: trims dots and page numbers, unshouts capitals."""
    title = re.sub(r"[\s.]*\d*$", "", title.strip()) if re.search(r"\.{3,}\s*\d*$", title) else title.strip()
    title = title.rstrip(".").strip()
    if title.isupper():
        words = title.lower().split()
        title = " ".join(_unshout(word, first=position == 0) for position, word in enumerate(words))
    return title


def _unshout(word: str, *, first: bool) -> str:
    """Case one lowered word of a shouted title: minor words small, Roman numerals large."""
    if roman_to_int(word.strip(".,;:!?")):
        return word.upper()
    if not first and word in _MINOR_WORDS:
        return word
    return word[:1].upper() + word[1:]


def _markdown_headings(stripped: list[str]) -> list[_Heading]:
    """Return markdown headings at the level that divides the book into chapters."""
    found = [(index, _MARKDOWN_HEADING.match(line)) for index, line in enumerate(stripped)]
    found = [(index, match) for index, match in found if match]
    if not found:
        return []
    levels = sorted({len(match.group("hashes")) for _, match in found})
    # A lone top-level heading is the book's title; the chapters are one level down.
    level = levels[0]
    if sum(len(match.group("hashes")) == level for _, match in found) == 1 and len(levels) > 1:
        level = levels[1]
    return [
        _Heading(index, "markdown", "markdown", None, match.group("title"), _tidy_title(match.group("title")), "")
        for index, match in found
        if len(match.group("hashes")) == level
    ]


def _body_word_counts(stripped: list[str], headings: list[_Heading]) -> list[int]:
    """Count the words between each heading and the next one."""
    ends = [h.line for h in headings[1:]] + [len(stripped)]
    return [sum(len(line.split()) for line in stripped[h.line + 1:end]) for h, end in zip(headings, ends)]


def _drop_table_of_contents(stripped: list[str], headings: list[_Heading]) -> list[_Heading]:
    """Drop runs of chapter headings with almost no text under them: a table of contents."""
    counts = _body_word_counts(stripped, headings)
    tiny = [h.kind not in ("division", "back") and count < TOC_ENTRY_MAX_WORDS for h, count in zip(headings, counts)]
    chapter_positions = [i for i, h in enumerate(headings) if h.kind not in ("division", "back")]
    dropped: set[int] = set()
    # Parts and back-matter lines sit inside a contents list too, so they do not break a run.
    for previous, current in zip(chapter_positions, chapter_positions[1:]):
        if tiny[previous] and tiny[current]:
            dropped.update({previous, current})
        elif tiny[previous] and _same_number(headings[previous], headings[current]):
            dropped.add(previous)  # a contents entry, repeated by the chapter it announces
    if dropped:
        last_dropped = max(dropped)
        dropped.update(i for i in range(last_dropped) if headings[i].kind in ("division", "back"))
    return [h for i, h in enumerate(headings) if i not in dropped]


def _same_number(first: _Heading, second: _Heading) -> bool:
    return first.number is not None and (first.series, first.number) == (second.series, second.number)


def _keep_numbering_sequences(headings: list[_Heading]) -> list[_Heading]:
    """Drop numbered headings that break their series' count (prose that looks like a heading)."""
    last_number: dict[str, int] = {}
    kept = []
    for heading in headings:
        if heading.number is None or heading.kind == "division":
            kept.append(heading)
            continue
        previous = last_number.get(heading.series)
        starts_over = heading.number == 1
        if heading.kind == "bare" and previous is None and not starts_over:
            continue
        if heading.kind == "bare" and previous is not None and heading.number not in (previous + 1, 1):
            continue
        if previous is None or heading.number > previous or starts_over:
            last_number[heading.series] = heading.number
            kept.append(heading)
    return kept


def _drop_inner_back_matter(headings: list[_Heading]) -> list[_Heading]:
    """Keep back-matter headings only after the last chapter, where they end the story."""
    chapter_lines = [h.line for h in headings if h.kind not in ("division", "back")]
    last_chapter = max(chapter_lines, default=-1)
    return [h for h in headings if h.kind != "back" or h.line > last_chapter]


def _build_chapters(stripped: list[str], headings: list[_Heading]) -> list[ChapterText]:
    """Cut the text at the headings and give each chapter its display title."""
    restarts = _numbering_restarts(headings)
    chapters = []
    division: _Heading | None = None
    pending_division: _Heading | None = None
    ends = [h.line for h in headings[1:]] + [len(stripped)]
    for heading, end in zip(headings, ends):
        if heading.kind == "division":
            pending_division = heading
            continue
        if heading.kind == "back":
            continue
        if pending_division is not None:
            division, pending_division = pending_division, None
        body = stripped[heading.line + 1:end]
        title = _display_title(heading, body)
        if restarts and division is not None:
            title = f"{division.label}, {title}"
        chapters.append(ChapterText(heading=heading.printed, title=title, text=_paragraphs(body)))
    return chapters


def _numbering_restarts(headings: list[_Heading]) -> bool:
    """Whether chapter numbers start again somewhere (at a new part or volume)."""
    last_number: dict[str, int] = {}
    for heading in headings:
        if heading.number is None or heading.kind == "division":
            continue
        if heading.number <= last_number.get(heading.series, 0):
            return True
        last_number[heading.series] = heading.number
    return False


def _display_title(heading: _Heading, body: list[str]) -> str:
    """Title for display: the label plus a title from the heading line or the line after it."""
    if heading.kind == "markdown":
        return heading.label
    title = heading.title or _title_line_after_heading(body)
    return f"{heading.label}: {title}" if title else heading.label


def _title_line_after_heading(body: list[str]) -> str:
    """Return the first line under a heading if it reads as a title (short, capitalised, alone)."""
    for index, line in enumerate(body):
        if not line:
            continue
        alone = index + 1 >= len(body) or not body[index + 1]
        return _tidy_title(line) if alone and _looks_like_title(line) else ""
    return ""


def _looks_like_title(line: str) -> bool:
    """Whether a line looks like a chapter title rather than the first sentence."""
    words = line.split()
    if len(line) > 70 or len(words) > 12 or not any(c.isalpha() for c in line):
        return False
    if line[0] in "\"“‘'_([" or line[-1] in ".,;:?":
        return False
    if line.isupper():
        return True
    return all(word[0].isupper() or word.lower() in _MINOR_WORDS for word in words if word[0].isalpha())


def _paragraphs(lines: list[str]) -> str:
    """Join wrapped lines into paragraphs separated by one blank line."""
    paragraphs, current = [], []
    for line in lines:
        if line:
            current.append(line)
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs)


def _heading_notes(stripped: list[str], headings: list[_Heading]) -> list[str]:
    """Describe what the heading split skipped, for the writer."""
    first_line = min(h.line for h in headings if h.kind not in ("division", "back"))
    front_words = sum(len(line.split()) for line in stripped[:first_line])
    notes = []
    if front_words:
        notes.append(f"Skipped {front_words} words before the first chapter (title page, contents, front matter).")
    back = [h for h in headings if h.kind == "back"]
    if back:
        notes.append(f"Left out the back matter from “{back[0].printed}” on.")
    return notes


def _split_without_headings(stripped: list[str]) -> ChapterSplit:
    """Split a text with no chapter headings at its scene breaks, or else by size."""
    paragraphs = _paragraphs(stripped).split("\n\n") if any(stripped) else []
    scenes = _split_at_scene_breaks(paragraphs)
    if scenes:
        return ChapterSplit(
            _numbered_sections(scenes), "scene breaks", ["No chapter headings found: split at scene breaks."]
        )
    pieces = _split_by_size(paragraphs)
    if len(pieces) <= 1:
        return ChapterSplit(
            _numbered_sections(pieces), "single", ["No chapter headings found: the book is one chapter."]
        )
    note = f"No chapter headings or scene breaks found: split into parts of about {TARGET_SECTION_WORDS} words."
    return ChapterSplit(_numbered_sections(pieces), "size", [note])


def _split_at_scene_breaks(paragraphs: list[str]) -> list[list[str]]:
    """Group paragraphs into scenes at break lines; [] if that gives no believable pieces."""
    scenes: list[list[str]] = [[]]
    for paragraph in paragraphs:
        if _SCENE_BREAK.match(paragraph):
            scenes.append([])
        else:
            scenes[-1].append(paragraph)
    scenes = [scene for scene in scenes if scene]
    merged: list[list[str]] = []
    for scene in scenes:
        if merged and _word_count(scene) < MIN_SCENE_WORDS:
            merged[-1].extend(scene)
        else:
            merged.append(scene)
    if len(merged) > 1 and _word_count(merged[0]) < MIN_SCENE_WORDS:
        merged[1:2] = [merged[0] + merged[1]]
        merged.pop(0)
    if len(merged) < 2 or max(_word_count(scene) for scene in merged) > MAX_SCENE_WORDS:
        return []
    return merged


def _split_by_size(paragraphs: list[str]) -> list[list[str]]:
    """Cut paragraphs into pieces of about TARGET_SECTION_WORDS words."""
    pieces: list[list[str]] = [[]]
    words = 0
    for paragraph in paragraphs:
        if words >= TARGET_SECTION_WORDS:
            pieces.append([])
            words = 0
        pieces[-1].append(paragraph)
        words += len(paragraph.split())
    # A short tail reads better as the end of the previous part than as a part of its own.
    if len(pieces) > 1 and _word_count(pieces[-1]) < TARGET_SECTION_WORDS // 4:
        pieces[-2].extend(pieces.pop())
    return [piece for piece in pieces if piece]


def _numbered_sections(pieces: list[list[str]]) -> list[ChapterText]:
    """Make chapters with no printed heading from groups of paragraphs."""
    return [
        ChapterText(heading="", title=f"Section {number}", text="\n\n".join(piece))
        for number, piece in enumerate(pieces, start=1)
    ]


def _word_count(paragraphs: list[str]) -> int:
    """Count the words in a list of paragraphs."""
    return sum(len(paragraph.split()) for paragraph in paragraphs)
