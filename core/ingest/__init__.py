"""Turn an uploaded book file into titled chapters of plain text."""

from dataclasses import dataclass, field

# What a section of a book is: a chapter of the story, or the matter around it (title page,
# contents, preface, notes, index, licence), which is kept and shown but not numbered.
CHAPTER, FRONT_MATTER, BACK_MATTER = "chapter", "front_matter", "back_matter"
KINDS = (CHAPTER, FRONT_MATTER, BACK_MATTER)
# Bump when the splitting rules change, so books split by an older version can be offered a re-split.
SPLITTER_VERSION = "2"


@dataclass(frozen=True)
class ChapterText:
    """One section in reading order: its heading as printed, a display title, its body text and its kind."""

    heading: str
    title: str
    text: str
    kind: str = CHAPTER


@dataclass(frozen=True)
class ParsedBook:
    """A book read from a file: metadata, sections in reading order and how they were found."""

    title: str | None
    author: str | None
    chapters: list[ChapterText]
    split_method: str
    notes: list[str] = field(default_factory=list)

    @property
    def story_chapters(self) -> list[ChapterText]:
        """The chapters of the story, without the front and back matter."""
        return [chapter for chapter in self.chapters if chapter.kind == CHAPTER]


def source_words(text: str) -> int:
    """Count the words of a text: tokens holding a letter or digit (scene-break stars are not words)."""
    return sum(any(char.isalnum() for char in token) for token in text.split())


def section_words(chapter: ChapterText) -> int:
    """Words a section keeps from the source: its printed heading and its body."""
    return source_words(chapter.heading) + source_words(chapter.text)
