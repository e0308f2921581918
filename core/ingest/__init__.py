"""Turn an uploaded book file into titled chapters of plain text."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ChapterText:
    """One chapter: its heading as printed, a display title and its body text."""

    heading: str
    title: str
    text: str


@dataclass(frozen=True)
class ParsedBook:
    """A book read from a file: metadata, chapters in reading order and how they were found."""

    title: str | None
    author: str | None
    chapters: list[ChapterText]
    split_method: str
    notes: list[str] = field(default_factory=list)
