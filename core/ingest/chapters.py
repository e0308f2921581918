"""Split the plain text of a book into chapters by its headings, scene breaks or size."""

import re
from dataclasses import dataclass

from core.ingest import BACK_MATTER, CHAPTER, FRONT_MATTER, ChapterText
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

_CHAPTER_KEYWORDS = {"chapter": "Chapter", "chap": "Chapter", "letter": "Letter", "canto": "Canto",
                     "adventure": "Adventure", "story": "Story", "tale": "Tale"}
_DIVISION_KEYWORDS = {"part": "Part", "book": "Book", "volume": "Volume", "vol": "Volume"}
_KEYWORD_HEADING = re.compile(
    r"^(?P<keyword>CHAPTER|Chapter|CHAP\.|Chap\.|LETTER|Letter|CANTO|Canto|ADVENTURE|Adventure|STORY|Story|TALE|Tale"
    r"|PART|Part|BOOK|Book|VOLUME|Volume|VOL\.|Vol\.)\s+(?P<rest>.+)$"
)
# Sections that stand on their own and belong to the story.
_STORY_SECTIONS = re.compile(
    r"^(?P<word>PROLOGUE|Prologue|EPILOGUE|Epilogue|INTERLUDE|Interlude|AFTERWORD|Afterword"
    r"|POSTSCRIPT|Postscript|CONCLUSION|Conclusion)(?:\s*[.:\-–—]\s*(?P<title>.*))?\.?$"
)
# Sections around the story: after the last chapter they start back matter (kept, not a chapter).
_BACK_MATTER = re.compile(
    r"^(APPENDIX|Appendix|NOTES|Notes|ENDNOTES|Endnotes|FOOTNOTES|Footnotes|GLOSSARY|Glossary|INDEX|Index"
    r"|TRANSCRIBER'?S NOTES?|Transcriber'?s [Nn]otes?|BIBLIOGRAPHY|Bibliography"
    r"|ACKNOWLEDG(E)?MENTS|Acknowledg(e)?ments|ABOUT THE AUTHOR|About the Author)(?P<rest>\W.{0,60})?$"
)
# Labels of front and back matter, whole ("Contents") or as the start of a label ("List of Plates").
_MATTER_LABELS = {
    "cover", "title", "title page", "titlepage", "half title", "half-title", "contents", "table of contents",
    "index", "notes", "endnotes", "footnotes", "illustrations", "plates", "copyright", "imprint", "colophon",
    "dedication", "epigraph", "epigraphs", "preface", "foreword", "introduction", "introductory", "prefatory note",
    "glossary",
    "bibliography", "acknowledgements", "acknowledgments", "licence", "license", "frontispiece", "errata",
}
_MATTER_LABEL_START = re.compile(
    r"^(?:list of (?:illustrations|plates|figures|maps)|(?:original )?transcriber'?s?\s+notes?|(?:author|editor|translator|publisher)"
    r"'?s?\s+(?:note|preface|introduction)|(?:preface|introduction|foreword) (?:to|by)\b|notes? (?:to|on) the reader"
    r"|(?:[\w']+ ){0,2}(?:preface|foreword)\b|a note on\b|also by\b|other (?:books|works) by\b|praise for\b|about the (?:author|book|e-?book|edition)"
    r"|appendix|appendices|(?:end|foot)?notes (?:to|on)\b|index (?:of|to)\b|full project gutenberg|project gutenberg"
    r"|dedicat|acknowledg|copyright|licen[cs]e\b|illustration\b|plate\b)",
    re.IGNORECASE,
)
_BARE_ROMAN = re.compile(r"^(?P<number>[IVXLC]+)\.?$")
_BARE_ARABIC = re.compile(r"^(?P<number>\d{1,3})\.?$")
# "IV. THE STORM", "12. Homecoming": a numeral and its title on one line (story collections).
_NUMBERED_TITLE = re.compile(r"^(?P<number>[IVXLC]+|\d{1,3})\.\s+(?P<title>[A-Z\"'“‘][^.!?]{0,80}[.!?]?)$")
_MARKDOWN_HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>.+?)\s*#*$")
_SCENE_BREAK = re.compile(r"^(?:[*#~•·◆◇❖✦§=+_\-]\s*){1,15}$")
_ILLUSTRATION = re.compile(r"^[ \t]*\[Illustration(?P<caption>[^\]]*)\][ \t]*$", re.MULTILINE | re.IGNORECASE)
_ATTRIBUTION = re.compile(r"^(?:—|–|--|-)\s*\S")
_TITLE_SEPARATOR = re.compile(r"^\s*[.:\-–—)]+\s*|^\s{2,}")
_MINOR_WORDS = {"a", "an", "and", "as", "at", "but", "by", "for", "in", "nor", "of", "on", "or", "the", "to", "with"}
# Words that are Roman numerals in shape but English words in a title.
_NOT_NUMERALS = {"i", "mix", "li", "di", "mi", "cd", "dc", "mc"}



@dataclass(frozen=True)
class ChapterSplit:
    """Sections found in a text (chapters and matter, in reading order), the rule that found them, and notes."""

    chapters: list[ChapterText]
    split_method: str
    notes: list[str]

    @property
    def story_chapters(self) -> list[ChapterText]:
        """The chapters of the story, without the front and back matter."""
        return [chapter for chapter in self.chapters if chapter.kind == CHAPTER]


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
    """Split a book's text (licence already stripped) into chapters and front/back matter, in reading order."""
    stripped = [line.strip() for line in _ILLUSTRATION.sub(_caption_paragraph, text).split("\n")]
    headings = _find_headings(stripped, markdown=markdown)
    chapters_found = [h for h in headings if h.kind in ("chapter", "story", "bare", "markdown")]
    if chapters_found:
        return ChapterSplit(_build_sections(stripped, headings), "headings", [])
    return _split_without_headings(stripped)


def _caption_paragraph(match: re.Match) -> str:
    """Keep an illustration's caption as a paragraph of its own; a bare [Illustration] marker holds no words."""
    caption = " ".join(match.group("caption").split())
    return f"\n[Illustration{caption}]\n" if caption else ""


def is_heading_line(line: str) -> bool:
    """Whether a single line reads as a chapter, story-section or part heading."""
    heading = _read_heading([line.strip()], 0)
    return heading is not None and heading.kind in ("chapter", "story", "division")


def is_division_line(line: str) -> bool:
    """Whether a line reads as a part, book or volume heading ("Part Two", "Book the First--Recalled")."""
    heading = _read_heading([line.strip()], 0)
    return heading is not None and heading.kind == "division"


def is_numbered_chapter_line(line: str) -> bool:
    """Whether a line is a numbered chapter heading ("CHAPTER 1. Loomings.", "Letter IV"), not a part or a title."""
    heading = _read_heading([line.strip()], 0)
    return heading is not None and heading.kind == "chapter"


def is_story_section_line(line: str) -> bool:
    """Whether a line names a section of the story that stands outside the numbering (Prologue, Epilogue...)."""
    heading = _read_heading([line.strip()], 0)
    return heading is not None and heading.kind == "story"


def outside_numbered_chapters(labels: list[str]) -> set[int]:
    """In a book that numbers its chapters, the sections before the first numbered chapter and after the last
    (other than a prologue or epilogue): its front and back matter (title page, etymology, extracts, notes)."""
    numbered = [index for index, label in enumerate(labels) if is_numbered_chapter_line(label)]
    if len(numbered) < 2:
        return set()
    return {index for index, label in enumerate(labels)
            if (index < numbered[0] or index > numbered[-1]) and not is_story_section_line(label)}


def is_matter_label(label: str) -> bool:
    """Whether a heading or contents label names front or back matter (title page, preface, index, licence...)."""
    label = label.replace("’", "'")
    normalised = re.sub(r"\s+", " ", re.sub(r"^[\W_]+|[\W_]+$", "", label.strip().lower()))
    normalised = normalised.removeprefix("the ")
    return normalised in _MATTER_LABELS or bool(_MATTER_LABEL_START.match(normalised))


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
    # Bare numerals ("IV") are weak evidence: used only when no line says "Chapter" (a Prologue may go with either).
    if any(h.kind == "chapter" for h in candidates):
        candidates = [h for h in candidates if h.kind != "bare"]
    # "I. A SCANDAL IN BOHEMIA" heads a story; the bare "I.", "II." between such headings are its own sections,
    # and so are those after the last one when the titled headings hold stories (text between them), not a
    # contents list.
    titled = [h.line for h in candidates if h.series == "titled"]
    stories = any(any(line and not is_heading_line(line) for line in stripped[a + 1:b])
                  for a, b in zip(titled, titled[1:]))
    if len(titled) >= 2 and any(h.series == "bare" and (titled[0] < h.line < titled[-1]
                                                         or stories and h.line > titled[-1]) for h in candidates):
        candidates = [h for h in candidates if h.series != "bare"]
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
    back_match = _BACK_MATTER.match(line)
    if back_match and _reads_as_title_rest(back_match.group("rest") or ""):
        return _Heading(index, "back", "back", None, line, _tidy_title(line), "")
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
            return _Heading(index, "bare", "titled", number[0], line, titled_match.group("number"),
                            _tidy_title(titled_match.group("title").rstrip(".")))
    return None


def _reads_as_title_rest(rest: str) -> bool:
    """Whether what follows "Notes"/"Index"/"Appendix" on a line is a heading's tail, not a sentence's."""
    words = re.sub(r"^[\s.:\-–—]+", "", rest).rstrip(" .:").split()
    if rest.rstrip().endswith((",", ";", "?", "!")):
        return False
    # "Notes to Chapter I", "Appendix A: The Letters"; not "Notes were passed under the door."
    return all(not word[0].isalpha() or word[0].isupper() or word.lower() in _MINOR_WORDS for word in words)


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
    title = " ".join(title.rstrip(".").split())
    if title.isupper():
        title = title_case(title)
    return title


def title_case(text: str) -> str:
    """Title-case shouted text: Roman numerals stay capitals, minor words stay small unless they start a phrase."""
    words = text.lower().split()
    cased = []
    for position, word in enumerate(words):
        # After "II." or "Part One:" a new phrase starts, so its first word is capitalised.
        previous = words[position - 1] if position else ""
        starts_phrase = not previous or previous[-1] in ".:;!?—–-" or previous.isdigit()
        cased.append(_case_word(word, starts_phrase=starts_phrase))
    return " ".join(cased)


def _case_word(word: str, *, starts_phrase: bool) -> str:
    """Case one lowered word of a title; hyphenated parts are cased one by one ("Red-Headed", "Hide-and-Seek")."""
    bare = word.strip(".,;:!?()[]\"'“”‘’")
    if bare not in _NOT_NUMERALS and roman_to_int(bare) or bare == "i" and starts_phrase:
        return word.upper()
    parts = word.split("-")
    cased = []
    for index, part in enumerate(parts):
        minor = part in _MINOR_WORDS and not (starts_phrase and index == 0)
        cased.append(part if minor else _capitalise(part))
    return "-".join(cased)


def _capitalise(word: str) -> str:
    """Capitalise the first letter of a word, past any opening quote or bracket."""
    for index, char in enumerate(word):
        if char.isalpha():
            return word[:index] + char.upper() + word[index + 1:]
    return word


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
    """Drop a contents list: chapter headings with almost no text under them, before the story, announcing it."""
    counts = _body_word_counts(stripped, headings)
    chapter_positions = [i for i, h in enumerate(headings) if h.kind not in ("division", "back")]
    tiny = {i for i in chapter_positions if counts[i] < TOC_ENTRY_MAX_WORDS}
    # A contents list comes before the story, so short chapters after the first full one are chapters.
    first_full = next((i for i in chapter_positions if i not in tiny), len(headings))
    entries = [i for i in chapter_positions if i in tiny and i < first_full]
    # Its entries are announced again by the headings after them; otherwise they are short chapters.
    later = {_entry_key(h) for h in headings[first_full:]}
    if not any(_entry_key(headings[i]) in later for i in entries):
        return headings
    # Parts and back-matter lines inside the contents list go with it.
    dropped = set(entries) | {i for i in range(max(entries)) if headings[i].kind in ("division", "back")}
    return [h for i, h in enumerate(headings) if i not in dropped]


def _entry_key(heading: _Heading) -> tuple:
    """What a contents entry and the heading it announces share: the numbered series, or the label."""
    series = "bare" if heading.series == "titled" else heading.series  # "I. The Storm" announces "I."
    return (series, heading.number) if heading.number is not None else (series, heading.label.lower())


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


def _build_sections(stripped: list[str], headings: list[_Heading]) -> list[ChapterText]:
    """Cut the text at the headings: front matter, chapters with display titles, parts' own pages, back matter."""
    restarts = _numbering_restarts(headings)
    sections = _front_matter(stripped[:headings[0].line])
    # Markdown headings name anything; in a book that numbers its chapters, the others at either end are matter.
    markdown = headings[0].kind == "markdown"  # markdown headings are all of one kind
    outside = outside_numbered_chapters([h.label for h in headings]) if markdown else set()
    division: _Heading | None = None
    division_lines: list[str] = []  # a part heading (and its title line) with no text of its own
    seen_chapter = False
    ends = [h.line for h in headings[1:]] + [len(stripped)]
    for position, (heading, end) in enumerate(zip(headings, ends)):
        body = stripped[heading.line + 1:end]
        if heading.kind == "division":
            if division_lines:  # two part headings in a row (a contents list of parts): the first stays visible
                sections.append(ChapterText("\n".join(division_lines), division.label, "", FRONT_MATTER))
            division = heading
            title_index = _title_line_index(body)
            if _paragraph_count(body) <= (0 if title_index is None else 1):
                division_lines = [heading.printed, *([] if title_index is None else [body[title_index]])]
            else:  # a part with a page of its own (an epigraph, an argument): kept, not a chapter
                label = f"{heading.label}: {heading.title}" if heading.title else heading.label
                sections.append(ChapterText(heading.printed, label, _paragraphs(body), FRONT_MATTER))
                division_lines = []
            continue
        if heading.kind == "back" or heading.kind == "markdown" and (is_matter_label(heading.label)
                                                                     or position in outside):
            kind = BACK_MATTER if seen_chapter else FRONT_MATTER
            sections.append(ChapterText("\n".join([*division_lines, heading.printed]), heading.label,
                                        _paragraphs(body), kind))
            division_lines = []
            continue
        printed = [*division_lines, heading.printed]
        division_lines = []
        title = heading.title
        if heading.kind == "bare" and not title:
            # A collection's "IV." then "THE STORM": the title line names the story; the text starts after it.
            title_index = _title_line_index(body)
            if title_index is not None:
                title = _tidy_title(body[title_index])
                printed.append(body[title_index])
                body = body[title_index + 1:]
        title = _display_title(heading, title, body)
        if restarts and division is not None:
            title = f"{division.label}, {title}"
        sections.append(ChapterText("\n".join(printed), title, _paragraphs(body), CHAPTER))
        seen_chapter = True
    if division_lines:  # a part heading after the last chapter: its words stay visible
        sections.append(ChapterText("\n".join(division_lines), _tidy_title(division_lines[0]), "", BACK_MATTER))
    return sections


def _front_matter(lines: list[str]) -> list[ChapterText]:
    """Cut the text before the first chapter at its matter labels ("CONTENTS", "PREFACE"): kept, not chapters."""
    sections: list[ChapterText] = []
    heading, start = "", 0
    for index, line in enumerate(lines):
        if _stands_alone(lines, index) and len(line.split()) <= 8 and line[0] != "[" and is_matter_label(line):
            sections.append(ChapterText(heading, _tidy_title(heading) or "Front matter",
                                        _paragraphs(lines[start:index]), FRONT_MATTER))
            heading, start = line, index + 1
    sections.append(ChapterText(heading, _tidy_title(heading) or "Front matter", _paragraphs(lines[start:]),
                                FRONT_MATTER))
    return [section for section in sections if section.heading or section.text]


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


def _display_title(heading: _Heading, title: str, body: list[str]) -> str:
    """Title for display: the label plus a title from the heading line or the line after it."""
    if heading.kind == "markdown":
        return heading.label
    title = title or _title_line_after_heading(body)
    return f"{heading.label}: {title}" if title else heading.label


def _title_line_after_heading(body: list[str]) -> str:
    """Return the first line under a heading if it reads as a title (short, capitalised, alone)."""
    index = _title_line_index(body)
    return _tidy_title(body[index]) if index is not None else ""


def _title_line_index(body: list[str]) -> int | None:
    """Index of the first line under a heading if it reads as a title, else None."""
    for index, line in enumerate(body):
        if not line:
            continue
        alone = index + 1 >= len(body) or not body[index + 1]
        following = next((later for later in body[index + 1:] if later), "")
        # An epigraph's first line is followed by its attribution ("— Shakespeare"): not a title.
        if alone and _looks_like_title(line) and not _ATTRIBUTION.match(following):
            return index
        return None
    return None


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


def _paragraph_count(lines: list[str]) -> int:
    """Count the paragraphs (runs of non-blank lines) in lines."""
    return sum(1 for index, line in enumerate(lines) if line and (index == 0 or not lines[index - 1]))


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
