"""Chapter splitting of plain text: real Gutenberg books against truth.json, and each heading style."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.ingest.chapters import TOC_ENTRY_MAX_WORDS, split_chapters
from core.ingest.formats import parse_book
from core.ingest.gutenberg import read_gutenberg_metadata, strip_gutenberg

from support import CORPUS

TRUTH_FILE = CORPUS / "truth.json"


def prose(seed: int, words: int = 60) -> str:
    """Return a paragraph of plain lowercase-led prose, different for each seed."""
    vocabulary = "the rain fell on a quiet town while she walked home slowly thinking of letters".split()
    body = " ".join(vocabulary[(seed * 7 + i) % len(vocabulary)] for i in range(words))
    return f"It was {seed} o'clock and {body}."


def first_words(text: str, count: int = 8) -> str:
    """Return the first words of a text, joined by single spaces."""
    return " ".join(text.split()[:count])


# --- real books ---------------------------------------------------------------------------------


def truth_books() -> list[str]:
    """Names of the books truth.json describes (empty without the corpus)."""
    return list(json.loads(TRUTH_FILE.read_text())) if TRUTH_FILE.exists() else []


@pytest.mark.parametrize("name", truth_books())
def test_real_book_chapters_match_truth(name: str) -> None:
    expected = json.loads(TRUTH_FILE.read_text())[name]["chapters"]
    book = parse_book(name, (CORPUS / name).read_bytes(), max_bytes=50_000_000, max_words=5_000_000)
    found = [{"heading": c.heading, "starts_with": first_words(c.text)} for c in book.story_chapters]
    assert found == expected


def test_real_books_have_titles_authors_and_clean_ends() -> None:
    book = parse_book("little_women.txt", (CORPUS / "little_women.txt").read_bytes(), max_bytes=10**8, max_words=10**7)
    assert (book.title, book.author) == ("Little Women", "Louisa May Alcott")
    assert book.story_chapters[0].title == "Chapter One: Playing Pilgrims"
    assert book.story_chapters[-1].title == "Chapter Forty-Seven: Harvest Time"
    assert "Gutenberg" not in book.chapters[-1].text
    assert all("\n\n\n" not in chapter.text for chapter in book.chapters)


# --- Gutenberg boilerplate ----------------------------------------------------------------------


GUTENBERG_BOOK = """The Project Gutenberg EBook of A Test, by Somebody

Title: A Test Book
       or, The Subtitle

Author: Ann Author

*** START OF THIS PROJECT GUTENBERG EBOOK A TEST ***

Produced by Volunteers

CHAPTER I

{one}

CHAPTER II

{two}

End of the Project Gutenberg EBook of A Test, by Somebody

*** END OF THIS PROJECT GUTENBERG EBOOK A TEST ***

Section 1. General Terms of Use and Redistributing Project Gutenberg-tm
"""


def test_gutenberg_header_footer_and_licence_are_stripped() -> None:
    text = GUTENBERG_BOOK.format(one=prose(1), two=prose(2))
    stripped = strip_gutenberg(text)
    assert "Produced by" not in stripped and "End of the Project" not in stripped
    assert "General Terms" not in stripped and "Title:" not in stripped
    assert read_gutenberg_metadata(text) == ("A Test Book or, The Subtitle", "Ann Author")


@pytest.mark.parametrize(
    "start, end",
    [
        ("*** START OF THE PROJECT GUTENBERG EBOOK X ***", "*** END OF THE PROJECT GUTENBERG EBOOK X ***"),
        ("***START OF THE PROJECT GUTENBERG EBOOK X***", "***END OF THE PROJECT GUTENBERG EBOOK X***"),
        ("*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*", "End of Project Gutenberg's X"),
    ],
)
def test_gutenberg_marker_variants(start: str, end: str) -> None:
    text = f"licence words\n{start}\n\nThe story itself.\n\n{end}\nmore licence"
    assert strip_gutenberg(text).strip() == "The story itself."


def test_text_without_gutenberg_markers_is_untouched() -> None:
    assert strip_gutenberg("Just a story.\n") == "Just a story.\n"
    assert read_gutenberg_metadata("Title: Not a header\n") == (None, None)


# --- heading styles -----------------------------------------------------------------------------


def split(text: str, **options):
    """Split text and return (headings, titles, first words of each chapter)."""
    chapters = split_chapters(text, **options).story_chapters
    return (
        [c.heading for c in chapters],
        [c.title for c in chapters],
        [first_words(c.text, 3) for c in chapters],
    )


def test_numbered_chapters_and_table_of_contents_is_skipped() -> None:
    text = f"My Book\n\nCONTENTS\n\nChapter 1\n\nChapter 2\n\nChapter 3\n\n\nChapter 1\n\n{prose(1)}\n\nChapter 2\n\n{prose(2)}\n\nChapter 3\n\n{prose(3)}\n"
    headings, titles, starts = split(text)
    assert headings == ["Chapter 1", "Chapter 2", "Chapter 3"]
    assert starts == ["It was 1", "It was 2", "It was 3"]


def test_table_of_contents_with_titles_and_page_numbers_is_skipped() -> None:
    toc = "\n".join(f"CHAPTER {n}. A Title ........ {page}" for page, n in ((1, "I"), (9, "II"), (17, "III")))
    body = "\n\n".join(f"CHAPTER {n}. A TITLE\n\n{prose(i)}" for i, n in enumerate(("I", "II", "III"), 1))
    headings, titles, starts = split(f"CONTENTS\n\n{toc}\n\n{body}")
    assert headings == ["CHAPTER I. A TITLE", "CHAPTER II. A TITLE", "CHAPTER III. A TITLE"]
    assert titles == ["Chapter I: A Title", "Chapter II: A Title", "Chapter III: A Title"]
    assert starts[0] == "It was 1"


@pytest.mark.parametrize(
    "line, title",
    [
        ("CHAPTER I. The Beginning", "Chapter I: The Beginning"),
        ("Chapter 1: The Beginning", "Chapter 1: The Beginning"),
        ("Chapter 1 — The Beginning", "Chapter 1: The Beginning"),
        ("CHAPTER THE FIRST", "Chapter the First"),
        ("CHAPTER ONE", "Chapter One"),
        ("Chapter Forty-seven", "Chapter Forty-Seven"),
        ("CHAPTER TWENTY-THREE", "Chapter Twenty-Three"),
        ("Chapter 1.", "Chapter 1"),
        ("CHAPTER I.", "Chapter I"),
        ("Letter I", "Letter I"),
    ],
)
def test_heading_spellings(line: str, title: str) -> None:
    text = f"Front matter.\n\n{line}\n\n{prose(1)}\n"
    headings, titles, starts = split(text)
    assert (headings, titles, starts) == ([line], [title], ["It was 1"])


def test_worded_numbers_with_title_on_the_next_line() -> None:
    text = f"CHAPTER ONE\n\nPLAYING PILGRIMS\n\n{prose(1)}\n\nCHAPTER TWO\n\nA MERRY CHRISTMAS\n\n{prose(2)}\n"
    headings, titles, starts = split(text)
    assert headings == ["CHAPTER ONE", "CHAPTER TWO"]
    assert titles == ["Chapter One: Playing Pilgrims", "Chapter Two: A Merry Christmas"]
    # The title line stays at the start of the chapter's text.
    assert starts == ["PLAYING PILGRIMS It", "A MERRY CHRISTMAS"]


def test_prologue_letters_chapters_and_epilogue() -> None:
    text = (
        f"  PROLOGUE\n\n{prose(0)}\n\nLetter 1\n\n{prose(1)}\n\nLetter 2\n\n{prose(2)}\n\n"
        f"Chapter 1\n\n{prose(3)}\n\nEPILOGUE\n\n{prose(4)}\n"
    )
    headings, titles, _ = split(text)
    assert headings == ["PROLOGUE", "Letter 1", "Letter 2", "Chapter 1", "EPILOGUE"]
    assert titles == ["Prologue", "Letter 1", "Letter 2", "Chapter 1", "Epilogue"]


def test_prologue_inside_a_sentence_is_not_a_heading() -> None:
    text = f"Chapter 1\n\n{prose(1)}\n\nPrologue to a life, she thought.\n\n{prose(2)}\n"
    assert split(text)[0] == ["Chapter 1"]


def test_bare_roman_numerals_with_titles_in_a_collection() -> None:
    stories = "\n\n".join(f"{n}.\n\nTHE {name} STORY\n\n{prose(i)}" for i, (n, name) in enumerate([("I", "FIRST"), ("II", "SECOND"), ("III", "THIRD")], 1))
    headings, titles, starts = split(f"A COLLECTION\n\n{stories}\n")
    # The title line under the numeral names the story, and the story's text starts after it.
    assert headings == ["I.\nTHE FIRST STORY", "II.\nTHE SECOND STORY", "III.\nTHE THIRD STORY"]
    assert titles == ["I: The First Story", "II: The Second Story", "III: The Third Story"]
    assert starts == ["It was 1", "It was 2", "It was 3"]


def test_lone_word_i_in_dialogue_is_not_a_heading() -> None:
    text = f"Chapter 1\n\n{prose(1)}\n\n\"Who did it?\"\n\nI\n\n{prose(2)}\n\nChapter 2\n\n{prose(3)}\n"
    headings, _, _ = split(text)
    assert headings == ["Chapter 1", "Chapter 2"]


def test_chapter_in_prose_is_not_a_heading() -> None:
    text = (
        f"Chapter 1\n\n{prose(1)}\n\nChapter 3 of the report was missing, he said.\n\n{prose(2)}\n\n"
        f"Chapter 2\n\n{prose(3)}\n\nChapter 2.\n\n{prose(4)}\n\nChapter 3\n\n{prose(5)}\n"
    )
    headings, _, starts = split(text)
    assert headings == ["Chapter 1", "Chapter 2", "Chapter 3"]
    assert starts == ["It was 1", "It was 3", "It was 5"]


def test_part_and_volume_restarts_keep_reading_order() -> None:
    text = (
        f"VOLUME I\n\nCHAPTER I\n\n{prose(1)}\n\nCHAPTER II\n\n{prose(2)}\n\n"
        f"VOLUME II\n\nCHAPTER I\n\n{prose(3)}\n\nCHAPTER II\n\n{prose(4)}\n"
    )
    headings, titles, starts = split(text)
    # The part heading is kept with the first chapter it opens.
    assert headings == ["VOLUME I\nCHAPTER I", "CHAPTER II", "VOLUME II\nCHAPTER I", "CHAPTER II"]
    assert titles == ["Volume I, Chapter I", "Volume I, Chapter II", "Volume II, Chapter I", "Volume II, Chapter II"]
    assert starts == ["It was 1", "It was 2", "It was 3", "It was 4"]


def test_part_headings_with_worded_numbers_and_continuous_chapters() -> None:
    text = f"PART ONE\n\nChapter 1\n\n{prose(1)}\n\nPART TWO\n\nChapter 2\n\n{prose(2)}\n"
    headings, titles, _ = split(text)
    # Chapters numbered straight through need no part in their titles.
    assert (headings, titles) == (["PART ONE\nChapter 1", "PART TWO\nChapter 2"], ["Chapter 1", "Chapter 2"])


def test_part_restart_titles_use_the_printed_part_number() -> None:
    text = f"PART ONE\n\nChapter 1\n\n{prose(1)}\n\nPART TWO\n\nChapter 1\n\n{prose(2)}\n\nChapter 2\n\n{prose(3)}\n"
    assert split(text)[1] == ["Part One, Chapter 1", "Part Two, Chapter 1", "Part Two, Chapter 2"]


def test_illustration_markers_do_not_break_headings() -> None:
    text = f"[Illustration]\nCHAPTER I.\n\n[Illustration: A long\ncaption here]\n\n{prose(1)}\n\n[Illustration]\n\nCHAPTER II.\n\n{prose(2)}\n"
    chapters = split_chapters(text).story_chapters
    assert [c.heading for c in chapters] == ["CHAPTER I.", "CHAPTER II."]
    # A caption is text of the chapter it sits in; a bare marker holds no words.
    assert chapters[0].text.startswith("[Illustration: A long caption here]\n\nIt was 1")
    assert chapters[1].text.startswith("It was 2") and "[Illustration]" not in chapters[0].text


def test_markdown_headings() -> None:
    text = f"# The Book\n\nBy someone.\n\n## The Arrival\n\n{prose(1)}\n\n## The Storm\n\n{prose(2)}\n"
    headings, titles, starts = split(text, markdown=True)
    assert headings == ["The Arrival", "The Storm"]
    assert starts == ["It was 1", "It was 2"]


def test_back_matter_after_the_last_chapter_is_kept_apart() -> None:
    text = f"Chapter 1\n\n{prose(1)}\n\nChapter 2\n\n{prose(2)}\n\nFOOTNOTES:\n\n[1] A note.\n"
    result = split_chapters(text)
    assert "A note" not in result.story_chapters[-1].text
    assert [(c.kind, c.heading, c.text) for c in result.chapters[2:]] == [("back_matter", "FOOTNOTES:", "[1] A note.")]


def test_paragraphs_are_unwrapped_and_separated_by_one_blank_line() -> None:
    text = "Chapter 1\n\nFirst line\nwrapped here.\n\n\n\nSecond paragraph.\n"
    assert split_chapters(text).chapters[0].text == "First line wrapped here.\n\nSecond paragraph."


# --- no headings --------------------------------------------------------------------------------


def test_no_headings_splits_at_scene_breaks() -> None:
    text = f"{prose(1, 400)}\n\n* * *\n\n{prose(2, 400)}\n\n#\n\n{prose(3, 400)}\n"
    result = split_chapters(text)
    assert result.split_method == "scene breaks"
    assert [first_words(c.text, 3) for c in result.chapters] == ["It was 1", "It was 2", "It was 3"]
    assert result.notes == ["No chapter headings found: split at scene breaks."]


def test_no_headings_or_breaks_splits_by_size_at_paragraphs() -> None:
    text = "\n\n".join(prose(i, 200) for i in range(60))
    result = split_chapters(text)
    assert result.split_method == "size"
    assert len(result.chapters) == 3
    assert all(3000 <= len(c.text.split()) <= 5500 for c in result.chapters)
    assert result.chapters[1].text.startswith("It was ")


def test_short_text_without_headings_is_one_chapter() -> None:
    result = split_chapters(prose(1))
    assert result.split_method == "single"
    assert [c.title for c in result.chapters] == ["Section 1"]


# --- properties ---------------------------------------------------------------------------------

words = st.text(alphabet="abcdefghij", min_size=1, max_size=8)
# Chapters of fewer than TOC_ENTRY_MAX_WORDS words read as contents entries, so bodies are longer.
paragraphs = st.lists(words, min_size=TOC_ENTRY_MAX_WORDS, max_size=30).map(" ".join)
chapter_bodies = st.lists(paragraphs, min_size=1, max_size=5).map("\n\n".join)


@settings(max_examples=60, deadline=None)
@given(st.lists(chapter_bodies, min_size=1, max_size=8), st.sampled_from(["Chapter {}", "CHAPTER {}", "Letter {}"]))
def test_splitting_keeps_every_word_in_order(bodies: list[str], heading: str) -> None:
    text = "\n\n".join(f"{heading.format(n)}\n\n{body}" for n, body in enumerate(bodies, 1))
    result = split_chapters(text)
    assert [c.heading for c in result.chapters] == [heading.format(n) for n in range(1, len(bodies) + 1)]
    assert " ".join(c.text for c in result.chapters).split() == " ".join(bodies).split()


@settings(max_examples=40, deadline=None)
@given(st.lists(paragraphs, min_size=1, max_size=40))
def test_fallback_splits_keep_every_word_in_order(body: list[str]) -> None:
    text = "\n\n".join(body)
    result = split_chapters(text)
    assert " ".join(c.text for c in result.chapters).split() == text.split()


SHAPE_PARAGRAPH = ("She walked along the shore for a long while, thinking of the many things that had happened "
                   "to her since the spring, and of the letters she had never answered.")


def _shaped_book(headings: list[str], *, contents: bool) -> str:
    body = "\n\n".join([SHAPE_PARAGRAPH] * 3)
    parts = ["CONTENTS\n\n" + "\n".join(h.replace("\n\n", " ") for h in headings)] if contents else []
    return "\n\n\n".join(parts + [f"{heading}\n\n{body}" for heading in headings])


@pytest.mark.parametrize("contents", [False, True])
@pytest.mark.parametrize("headings, titles", [
    (["I. A SCANDAL IN BOHEMIA", "II. THE RED-HEADED LEAGUE", "III. A CASE OF IDENTITY"],
     ["I: A Scandal in Bohemia", "II: The Red-Headed League", "III: A Case of Identity"]),
    (["Book the First--Recalled to Life\n\nI. The Period", "II. The Mail",
      "Book the Second--the Golden Thread\n\nI. Five Years Later", "II. A Sight"],
     ["Book the First, I: The Period", "Book the First, II: The Mail", "Book the Second, I: Five Years Later",
      "Book the Second, II: A Sight"]),
    (["BOOK ONE: 1805\n\nCHAPTER I", "CHAPTER II", "BOOK TWO: 1805\n\nCHAPTER I", "CHAPTER II"],
     ["Book One, Chapter I", "Book One, Chapter II", "Book Two, Chapter I", "Book Two, Chapter II"]),
    (["CHAPTER 1. Loomings.", "CHAPTER 2. The Carpet-Bag.", "Epilogue"],
     ["Chapter 1: Loomings", "Chapter 2: The Carpet-Bag", "Epilogue"]),
    (["Chapter 1: The Boy Who Lived", "Chapter 2: The Vanishing Glass"],
     ["Chapter 1: The Boy Who Lived", "Chapter 2: The Vanishing Glass"]),
])
def test_common_heading_shapes_with_or_without_a_contents_list(headings, titles, contents):
    split = split_chapters(_shaped_book(headings, contents=contents))
    assert split.split_method == "headings"
    assert [chapter.title for chapter in split.story_chapters] == titles
    assert all(chapter.text.startswith("She walked") for chapter in split.story_chapters)
