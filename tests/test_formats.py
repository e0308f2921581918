"""parse_book: every supported format, every encoding, and every kind of bad upload."""

import io
import random
import zipfile

import docx
import pypdf
import pytest
from ebooklib import epub

from core.errors import UnreadableBookError
from core.ingest.formats import parse_book, pdf_pages_to_text

LIMITS = {"max_bytes": 5_000_000, "max_words": 1_000_000}


def prose(seed: int, words: int = 60) -> str:
    """Return a paragraph of plain prose, different for each seed."""
    vocabulary = "the rain fell on a quiet town while she walked home slowly thinking of letters".split()
    return f"It was {seed} o'clock and " + " ".join(vocabulary[(seed * 7 + i) % len(vocabulary)] for i in range(words)) + "."


def starts(book, count: int = 3) -> list[str]:
    """First words of each chapter's text."""
    return [" ".join(chapter.text.split()[:count]) for chapter in book.chapters]


# --- fixture builders (built at run time so no binaries are committed) --------------------------


def make_pdf(pages: list[list[str]], *, title: str = "") -> bytes:
    """Write a small valid PDF whose pages carry the given lines in a real text layer."""
    objects: list[bytes] = []
    page_ids = [3 + 2 * i for i in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{i} 0 R" for i in page_ids).encode()
    objects.append(b"<< /Type /Pages /Kids [" + kids + b"] /Count " + str(len(pages)).encode() + b" >>")
    font_id = 3 + 2 * len(pages)
    for page_id, lines in zip(page_ids, pages):
        escaped = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in lines]
        stream = ("BT /F1 11 Tf 14 TL 72 760 Td " + " ".join(f"({line}) Tj T*" for line in escaped) + " ET").encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 {font_id} 0 R >> >> "
            f"/Contents {page_id + 1} 0 R >>".encode()
        )
        objects.append(b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    info_id = len(objects) + 1
    objects.append(f"<< /Title ({title}) >>".encode())
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {info_id} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def wrap(text: str, width: int = 70) -> list[str]:
    """Hard-wrap text into lines of at most width characters."""
    lines, current = [], ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return lines + [current] if current else lines


def make_docx(paragraphs: list[tuple[str, str]], *, title: str = "", author: str = "") -> bytes:
    """Write a Word document from (style, text) pairs; "_x_" in text becomes an italic run."""
    document = docx.Document()
    for style, text in paragraphs:
        if style.startswith("Heading"):
            document.add_heading(text, level=int(style[-1]))
        elif style == "Title":
            document.add_heading(text, level=0)
        else:
            paragraph = document.add_paragraph()
            for index, piece in enumerate(text.split("_")):
                paragraph.add_run(piece).italic = index % 2 == 1 or None
    document.core_properties.title = title
    document.core_properties.author = author
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_epub() -> bytes:
    """Write an EPUB with a title page, a contents page, and a file holding two chapters."""
    book = epub.EpubBook()
    book.set_identifier("test-book")
    book.set_title("The Test Book")
    book.add_author("Ann Author")
    title_page = epub.EpubHtml(title="Title", file_name="title.xhtml", content="<h1>The Test Book</h1><p>by Ann Author</p>")
    contents = epub.EpubHtml(title="Contents", file_name="toc.xhtml", content="<h2>Contents</h2>" + "<p>Chapter 1</p>" * 3)
    first = epub.EpubHtml(
        title="Chapter 1", file_name="c1.xhtml",
        content=f"<h2 id='c1'>Chapter 1</h2><p><i>A note.</i> {prose(1)}</p><p>{prose(2)}<br/>New line.</p>",
    )
    shared = epub.EpubHtml(
        title="Chapters 2 and 3", file_name="c2.xhtml",
        content=f"<div id='c2'><h2>Chapter 2</h2><p>{prose(3)}</p></div><div id='c3'><h2>Chapter 3</h2><p>{prose(4)}</p></div>",
    )
    for item in (title_page, contents, first, shared):
        book.add_item(item)
    book.toc = [
        epub.Link("title.xhtml", "The Test Book", "title"),
        epub.Link("toc.xhtml", "Contents", "contents"),
        epub.Link("c1.xhtml#c1", "Chapter 1", "c1"),
        epub.Link("c2.xhtml#c2", "Chapter 2", "c2"),
        epub.Link("c2.xhtml#c3", "Chapter 3", "c3"),
    ]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", title_page, contents, first, shared]
    buffer = io.BytesIO()
    epub.write_epub(buffer, book)
    return buffer.getvalue()


def zip_bomb(member: str) -> bytes:
    """A small zip whose one member expands to 50 MB of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, b"\0" * 50_000_000)
    return buffer.getvalue()


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
    assert [c.title for c in book.chapters] == ["The Arrival", "The Storm"]


def test_title_falls_back_to_first_line_then_filename() -> None:
    body = f"Chapter 1\n\n{prose(1)}\n"
    assert parse_book("x.txt", f"The Quiet Town\n\n{body}".encode(), **LIMITS).title == "The Quiet Town"
    assert parse_book("the_quiet-town.txt", body.encode(), **LIMITS).title == "The Quiet Town"


# --- epub ---------------------------------------------------------------------------------------


def test_epub_chapters_come_from_the_toc_split_at_anchors() -> None:
    book = parse_book("book.epub", make_epub(), **LIMITS)
    assert (book.title, book.author, book.split_method) == ("The Test Book", "Ann Author", "toc")
    assert [c.heading for c in book.chapters] == ["Chapter 1", "Chapter 2", "Chapter 3"]
    assert starts(book) == ["_A note._ It", "It was 3", "It was 4"]
    assert "\n\nIt was 2" in book.chapters[0].text and "\nNew line." in book.chapters[0].text


# --- docx ---------------------------------------------------------------------------------------


def test_docx_chapters_come_from_heading_styles() -> None:
    paragraphs = [("Title", "The Test Book"), ("Normal", "A dedication."), ("Heading 1", "Chapter 1"),
                  ("Normal", f"She read _Undine_ twice. {prose(1)}"), ("Heading 1", "Chapter 2: The Storm"),
                  ("Normal", prose(2))]
    book = parse_book("book.docx", make_docx(paragraphs, title="The Test Book", author="Ann Author"), **LIMITS)
    assert (book.title, book.author, book.split_method) == ("The Test Book", "Ann Author", "styles")
    assert [c.title for c in book.chapters] == ["Chapter 1", "Chapter 2: The Storm"]
    assert book.chapters[0].text.startswith("She read _Undine_ twice.")


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
    assert "damaged" in refused("book.epub", buffer.getvalue())
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
