"""parse_book: every supported format, every encoding, and every kind of bad upload."""

import io
import random
import zipfile

import pypdf
import pytest

from core.errors import UnreadableBookError
from core.ingest.formats import parse_book, pdf_pages_to_text
from support import make_docx, make_epub, make_pdf, prose, wrap, zip_bomb

LIMITS = {"max_bytes": 5_000_000, "max_words": 1_000_000}


def starts(book, count: int = 3) -> list[str]:
    """First words of each chapter's text."""
    return [" ".join(chapter.text.split()[:count]) for chapter in book.story_chapters]


# --- plain text and markdown --------------------------------------------------------------------

ACCENTED = "Café, naïve, déjà vu, Zoë and Ångström."
CURLY = "“Well,” she said, ‘it’s done’ – really…"


@pytest.mark.parametrize(
    "encoding, sample",
    [("utf-8", CURLY), ("utf-8-sig", CURLY), ("utf-16", CURLY), ("utf-16-be", CURLY), ("cp1252", CURLY), ("latin-1", ACCENTED)],
)
def test_text_encodings_round_trip(encoding: str, sample: str) -> None:
    text = f"Chapter 1\r\n\r\n{sample} {prose(1)}\r\n\r\nChapter 2\r\n\r\n{prose(2)} {sample}\r\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    book = parse_book("book.txt", data, **LIMITS)
    assert [c.heading for c in book.chapters] == ["Chapter 1", "Chapter 2"]
    assert book.chapters[0].text.startswith(sample)
    assert book.chapters[1].text.endswith(sample)


def test_markdown_headings_make_chapters() -> None:
    text = f"# My Novel\n\n## The Arrival\n\n{prose(1)}\n\n## The Storm\n\n{prose(2)}\n"
    book = parse_book("my-novel.md", text.encode(), **LIMITS)
    assert book.title == "My Novel"
    assert [c.title for c in book.story_chapters] == ["The Arrival", "The Storm"]
    assert [(c.kind, c.text) for c in book.chapters[:1]] == [("front_matter", "# My Novel")]


def test_title_falls_back_to_first_line_then_filename() -> None:
    body = f"Chapter 1\n\n{prose(1)}\n"
    assert parse_book("x.txt", f"The Quiet Town\n\n{body}".encode(), **LIMITS).title == "The Quiet Town"
    assert parse_book("the_quiet-town.txt", body.encode(), **LIMITS).title == "The Quiet Town"


# --- epub ---------------------------------------------------------------------------------------


def test_epub_chapters_come_from_the_toc_split_at_anchors() -> None:
    book = parse_book("book.epub", make_epub(), **LIMITS)
    assert (book.title, book.author, book.split_method) == ("The Test Book", "Ann Author", "toc")
    assert [c.heading for c in book.story_chapters] == ["Chapter 1", "Chapter 2", "Chapter 3"]
    assert starts(book) == ["_A note._ It", "It was 3", "It was 4"]
    assert "\n\nIt was 2" in book.story_chapters[0].text and "\nNew line." in book.story_chapters[0].text
    # The title page and the contents page are kept, as front matter.
    assert [(c.kind, c.title) for c in book.chapters[:2]] == [("front_matter", "The Test Book"), ("front_matter", "Contents")]


# --- docx ---------------------------------------------------------------------------------------


def test_docx_chapters_come_from_heading_styles() -> None:
    paragraphs = [("Title", "The Test Book"), ("Normal", "A dedication."), ("Heading 1", "Chapter 1"),
                  ("Normal", f"She read _Undine_ twice. {prose(1)}"), ("Heading 1", "Chapter 2: The Storm"),
                  ("Normal", prose(2))]
    book = parse_book("book.docx", make_docx(paragraphs, title="The Test Book", author="Ann Author"), **LIMITS)
    assert (book.title, book.author, book.split_method) == ("The Test Book", "Ann Author", "styles")
    assert [c.title for c in book.story_chapters] == ["Chapter 1", "Chapter 2: The Storm"]
    assert book.story_chapters[0].text.startswith("She read _Undine_ twice.")
    assert [(c.kind, c.text) for c in book.chapters[:1]] == [("front_matter", "The Test Book\n\nA dedication.")]


def test_docx_without_heading_styles_uses_the_text_splitter() -> None:
    paragraphs = [("Normal", "CHAPTER I"), ("Normal", prose(1)), ("Normal", "CHAPTER II"), ("Normal", prose(2))]
    book = parse_book("book.docx", make_docx(paragraphs), **LIMITS)
    assert book.split_method == "headings"
    assert [c.heading for c in book.chapters] == ["CHAPTER I", "CHAPTER II"]


# --- pdf ----------------------------------------------------------------------------------------


def test_pdf_text_loses_page_furniture_and_keeps_chapters() -> None:
    chapter_one = wrap(prose(1, 120)) + wrap("The writer began her adaptation of the story.")
    pages = [
        ["A TEST BOOK", "Chapter 1", *chapter_one[:8], "1"],
        ["A TEST BOOK", *chapter_one[8:], "The long work of adapt-", "ation went on.", "2"],
        ["A TEST BOOK", "Chapter 2", *wrap(prose(2, 100)), "3"],
    ]
    book = parse_book("book.pdf", make_pdf(pages, title="A Test Book"), **LIMITS)
    assert book.title == "A Test Book"
    assert [c.heading for c in book.chapters] == ["Chapter 1", "Chapter 2"]
    assert starts(book) == ["It was 1", "It was 2"]
    text = " ".join(c.text for c in book.chapters)
    assert "A TEST BOOK" not in text and "adaptation went on." in text
    assert all(not paragraph.strip().isdigit() for c in book.chapters for paragraph in c.text.split("\n\n"))
    assert not any(c.text.rstrip().endswith(("1", "2", "3")) for c in book.chapters)


def test_pdf_paragraphs_are_rebuilt_from_lines() -> None:
    lines = ["A first paragraph that runs across a full line of text", "and ends here.", "A second one."]
    assert pdf_pages_to_text(["\n".join(lines)]) == (
        "A first paragraph that runs across a full line of text and ends here.\n\nA second one."
    )


# --- bad uploads --------------------------------------------------------------------------------


def refused(filename: str, data: bytes, **limits) -> str:
    """Parse an upload that must be refused; return the message the writer sees."""
    with pytest.raises(UnreadableBookError) as caught:
        parse_book(filename, data, **{**LIMITS, **limits})
    return str(caught.value)


def test_empty_and_blank_files_are_refused() -> None:
    assert "empty" in refused("book.txt", b"")
    assert "empty" in refused("book.txt", b"  \n\t\r\n ")
    assert "blank" in refused("book.txt", "  \n ".encode("utf-16"))


def test_binary_renamed_txt_is_refused() -> None:
    assert "binary" in refused("book.txt", bytes(range(256)) * 50)
    no_nul = bytes(b or 1 for b in random.Random(0).randbytes(20_000))
    assert "binary" in refused("book.txt", no_nul) or "not text" in refused("book.txt", no_nul)


def test_unsupported_extension_lists_the_formats() -> None:
    message = refused("book.rtf", b"{\\rtf1 hello}")
    assert ".epub" in message and ".pdf" in message and ".txt" in message


def test_too_large_and_too_many_words_give_the_numbers() -> None:
    data = f"Chapter 1\n\n{prose(1)}\n".encode()
    assert f"{len(data):,}" in refused("book.txt", data, max_bytes=100)
    assert "limit is 10 words" in refused("book.txt", data, max_words=10)


def test_corrupt_epub_and_docx_are_refused() -> None:
    assert "damaged" in refused("book.epub", b"this is not a zip file at all")
    assert "damaged" in refused("book.docx", b"PK\x03\x04 broken")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "a zip, but not a book")
    assert "no “mimetype” entry" in refused("book.epub", buffer.getvalue())
    assert "damaged" in refused("book.docx", buffer.getvalue())


@pytest.mark.parametrize("filename, member", [("book.docx", "word/document.xml"), ("book.epub", "OEBPS/c1.xhtml")])
def test_zip_bombs_are_refused_before_extraction(filename: str, member: str) -> None:
    assert "refused" in refused(filename, zip_bomb(member), max_bytes=1_000_000)


def test_encrypted_pdf_is_refused() -> None:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(make_pdf([["Chapter 1", prose(1)]]))))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    assert "password-protected" in refused("book.pdf", buffer.getvalue())


def test_image_only_pdf_is_refused() -> None:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=612, height=792)
    buffer = io.BytesIO()
    writer.write(buffer)
    assert "no text layer" in refused("book.pdf", buffer.getvalue())


def test_corrupt_pdf_is_refused() -> None:
    assert "damaged" in refused("book.pdf", b"%PDF-1.4\nthis is not really a pdf")
