"""Read an uploaded book (.txt, .md, .epub, .docx, .pdf) into a ParsedBook."""

import io
import re
import statistics
import unicodedata
import zipfile
from collections import Counter
from functools import partial
from pathlib import PurePosixPath

import charset_normalizer

from core.errors import UnreadableBookError
from core.ingest import BACK_MATTER, CHAPTER, FRONT_MATTER, ChapterText, ParsedBook, section_words
from core.ingest.chapters import (
    display_title_for_heading, is_heading_line, is_matter_label, outside_numbered_chapters, split_chapters,
)
from core.ingest import chapters, epub
from core.ingest.epub import check_container, read_epub
from core.ingest.gutenberg import read_gutenberg_metadata, strip_gutenberg

SUPPORTED_EXTENSIONS = (".txt", ".md", ".epub", ".docx", ".pdf")
# A zip may expand to this many times the upload limit before we call it a zip bomb.
ZIP_EXPANSION_FACTOR = 5
# No honest document member compresses better than this (text manages about 10:1, Word's styles 32:1).
ZIP_MAX_RATIO = 100
# A book is a few hundred parts at most; a million empty members is an attack on the zip reader.
ZIP_MAX_MEMBERS = 10_000
# The longest printed books run to a few thousand pages; more is a file built to exhaust the reader.
PDF_MAX_PAGES = 3_000
_WORD = re.compile(rb"\S+")
_TAG = re.compile(rb"<[^>]*>")
# More than this share of control characters means the "text" is really binary.
MAX_CONTROL_CHAR_SHARE = 0.01
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# A heading over fewer words than this at the very start of a Word book is its title page.
TITLE_PAGE_MAX_WORDS = 40
# Authors that document generators write when nobody said who wrote it: the title page knows better.
_PLACEHOLDER_AUTHORS = {
    "", "python-docx", "unknown", "anonymous", "author", "user", "admin", "administrator", "owner", "default",
    "microsoft office user", "windows user", "calibre", "pandoc", "libreoffice", "writer",
}
_PLACEHOLDER_TITLES = {"", "untitled", "document", "title", "untitled document"}
_BY_LINE = re.compile(r"^(?:by|written by|author:)\s+(?P<author>[^\n]{2,80}?)[.,]?$", re.IGNORECASE)
# "The Quiet Town by Ann Author": a title line and its byline run together (PDF text, one-line title pages).
_TRAILING_BY = re.compile(r"\s[Bb]y\s+(?P<author>[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,3})\.?$")


def parse_book(filename: str, data: bytes, *, max_bytes: int, max_words: int, min_words: int = 0) -> ParsedBook:
    """Read an uploaded file into chapters, or raise UnreadableBookError saying why not."""
    extension = check_file(filename, data, max_bytes=max_bytes)
    _refuse_longer_than(extension, data, max_words=max_words, max_bytes=max_bytes)
    readers = {".txt": _parse_text, ".md": _parse_markdown, ".epub": _parse_epub, ".docx": _parse_docx,
               ".pdf": partial(_parse_pdf, max_words=max_words)}
    book = readers[extension](data, max_bytes=max_bytes)
    _check_has_text(book)
    _check_word_floor(book, min_words)
    _check_word_limit(book, max_words)
    if not book.title:
        book = ParsedBook(_title_from_filename(filename), book.author, book.chapters, book.split_method, book.notes)
    return book


def split_parameters() -> dict:
    """The splitter's thresholds, recorded with each book so a later re-split can tell what changed."""
    return {"toc_entry_max_words": chapters.TOC_ENTRY_MAX_WORDS, "target_section_words": chapters.TARGET_SECTION_WORDS,
            "min_scene_words": chapters.MIN_SCENE_WORDS, "max_scene_words": chapters.MAX_SCENE_WORDS,
            "contents_list_min_headings": chapters.CONTENTS_LIST_MIN_HEADINGS,
            "max_heading_chars": chapters.MAX_HEADING_CHARS, "epub_min_chapter_words": epub.MIN_CHAPTER_WORDS}


def safe_filename(filename: str) -> str:
    """The name an upload is kept and shown under: its last path part ("../../x.txt" is "x.txt"), without
    control or invisible characters (NUL, bidi overrides), at most 200 characters with its extension kept."""
    name = printable(re.split(r"[\\/]", filename or "")[-1]).strip()
    if len(name) > 200:
        suffix = PurePosixPath(name).suffix[:20]
        name = name[:200 - len(suffix)] + suffix
    return name or "upload"


def printable(text: str) -> str:
    """Text without control, format or unassigned characters (Postgres refuses NUL; bidi overrides lie)."""
    return "".join(char for char in text if unicodedata.category(char)[0] != "C" or char in "\n\t")


def check_file(filename: str, data: bytes, *, max_bytes: int) -> str:
    """Refuse what can be refused without reading the book (format, size, emptiness); return the extension."""
    extension = PurePosixPath(filename.lower()).suffix
    if extension not in SUPPORTED_EXTENSIONS:
        raise UnreadableBookError(
            f"“{filename}” is not a format Plot Studio reads; upload one of: {', '.join(SUPPORTED_EXTENSIONS)}."
        )
    if len(data) > max_bytes:
        raise UnreadableBookError(
            f"This file is {len(data):,} bytes; the largest book Plot Studio accepts is {max_bytes:,} bytes."
        )
    if not data.strip():
        raise UnreadableBookError("This file is empty: there is no text to read.")
    return extension


def _check_has_text(book: ParsedBook) -> None:
    """Refuse a book whose chapters hold no words at all."""
    if not any(chapter.text.strip() for chapter in book.chapters):
        raise UnreadableBookError("This file holds no readable text.")


def _check_word_floor(book: ParsedBook, min_words: int) -> None:
    """Refuse an upload too short to be a book (a stray note, a broken export)."""
    words = sum(section_words(chapter) for chapter in book.chapters)
    if words < min_words:
        raise UnreadableBookError(f"This file holds only {words:,} words; a book needs at least {min_words:,}.")


def count_words(data: bytes, *, stop_after: int) -> int:
    """Whitespace-separated words in raw bytes, counting no further than `stop_after` (no list is built)."""
    count = 0
    for count, _ in enumerate(_WORD.finditer(data), start=1):
        if count > stop_after:
            break
    return count


def _refuse_longer_than(extension: str, data: bytes, *, max_words: int, max_bytes: int) -> None:
    """Refuse a book over the word limit from its raw text, before parsing builds anything from it.

    Text files are counted as they are; EPUB and Word documents over the text of each member once, tags
    stripped (a spine naming one document 6,000 times is counted once). PDFs stop at the limit as they
    are extracted (_parse_pdf).
    """
    if extension in (".txt", ".md"):
        words = count_words(data, stop_after=max_words)
    elif extension in (".epub", ".docx"):
        archive = open_zip_safely(data, max_bytes=max_bytes, kind="EPUB" if extension == ".epub" else "Word")
        words = 0
        for member in archive.infolist():  # every member read once: a damaged one is refused here, not later
            content = _read_member(archive, member, extension)
            if member.filename.lower().endswith((".xhtml", ".html", ".htm", ".xml")) and words <= max_words:
                words += count_words(_TAG.sub(b" ", content), stop_after=max_words - words)
    else:
        return
    if words > max_words:
        raise UnreadableBookError(f"This book has more than {max_words:,} words; the limit is {max_words:,} words.")


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, extension: str) -> bytes:
    try:
        return archive.read(member)
    except Exception as error:  # zlib, CRC and format errors of a damaged member
        kind = "EPUB" if extension == ".epub" else "Word"
        raise UnreadableBookError(f"This {kind} file is damaged and cannot be opened.") from error


def _check_word_limit(book: ParsedBook, max_words: int) -> None:
    """Refuse a book longer than the word limit, giving both numbers."""
    words = sum(len(chapter.text.split()) for chapter in book.chapters)
    if words > max_words:
        raise UnreadableBookError(f"This book has {words:,} words; the limit is {max_words:,} words.")


def _title_from_filename(filename: str) -> str:
    """Make a readable title from a file name: "the_great-novel.txt" -> "The Great Novel"."""
    stem = PurePosixPath(filename).stem
    words = re.sub(r"[_\-.]+", " ", stem).split()
    return " ".join(word[:1].upper() + word[1:] for word in words) or "Untitled"


# --- plain text -------------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    """Decode the bytes of a text file whatever its encoding, with newlines normalised."""
    if data.startswith(_UTF16_BOMS):
        text = _decode_or_refuse(data, "utf-16")
    elif data.startswith(b"\xef\xbb\xbf"):
        text = _decode_or_refuse(data, "utf-8-sig")
    elif b"\x00" in data:
        raise UnreadableBookError("This file is binary, not text: check that you uploaded the book itself.")
    else:
        text = _decode_unknown(data)
    if _control_char_share(text) > MAX_CONTROL_CHAR_SHARE:
        raise UnreadableBookError("This file is binary, not text: check that you uploaded the book itself.")
    return normalise_newlines(text)


def _decode_or_refuse(data: bytes, encoding: str) -> str:
    """Decode with a known encoding, turning failure into a message for the writer."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise UnreadableBookError(f"This file claims to be {encoding} but is not valid {encoding} text.") from error


def _decode_unknown(data: bytes) -> str:
    """Decode text without a byte-order mark: UTF-8 when valid, else what charset-normalizer finds."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Windows-1252 is by far the most common legacy encoding of English books; it also reads
    # Latin-1 letters identically, so prefer it whenever charset-normalizer finds it plausible.
    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    if best is None:
        raise UnreadableBookError("This file is not text in any encoding Plot Studio recognises.")
    if any(match.encoding == "cp1252" for match in matches):
        return data.decode("cp1252", errors="replace")
    return str(best)


def _control_char_share(text: str) -> float:
    """Share of characters that no text contains: control characters and decoding failures."""
    sample = text[:200_000]
    bad = sum(1 for char in sample if char == "\ufffd" or (unicodedata.category(char) == "Cc" and char not in "\n\r\t\f"))
    return bad / max(len(sample), 1)


def normalise_newlines(text: str) -> str:
    """Use \\n for every line break and drop a byte-order mark."""
    # "\r\r\n" comes from files converted to Windows line ends twice: still one break.
    return re.sub(r"\r+\n", "\n", text.lstrip("\ufeff")).replace("\r", "\n")


def _parse_text(data: bytes, *, max_bytes: int, markdown: bool = False) -> ParsedBook:
    """Read a plain-text or markdown book."""
    text = decode_text(data)
    if not text.strip():
        raise UnreadableBookError("This file holds only blank space: there is no text to read.")
    title, author = read_gutenberg_metadata(text)
    if markdown and not title:  # a markdown book's YAML front matter: "title: ...", "author: ..."
        title, author = _front_matter_field(text, "title"), _front_matter_field(text, "author")
    body = strip_gutenberg(text)
    split = split_chapters(body, markdown=markdown)
    if not author:  # no Gutenberg header: a "by ..." line on the title page
        author = _title_page([("", line.strip()) for line in body.split("\n")[:80] if line.strip()], None)[1]
    return ParsedBook(title or _first_title_line(body, markdown=markdown), author, split.chapters, split.split_method, split.notes)


def _front_matter_field(text: str, name: str) -> str | None:
    """One field of a markdown file's YAML front matter (between --- lines at its top), unquoted."""
    block = re.match(r"\A\s*---[ \t]*\n(.*?)\n---[ \t]*(\n|\Z)", text, re.DOTALL)
    field = re.search(rf"^{name}:[ \t]*(.+)$", block.group(1), re.MULTILINE | re.IGNORECASE) if block else None
    return field.group(1).strip().strip("\"'") or None if field else None


def _parse_markdown(data: bytes, *, max_bytes: int) -> ParsedBook:
    """Read a markdown book, whose # headings mark the chapters."""
    return _parse_text(data, max_bytes=max_bytes, markdown=True)


def _first_title_line(text: str, *, markdown: bool) -> str | None:
    """Guess the title from the first line if it is short, unpunctuated, alone and not a chapter heading."""
    lines = [line.strip() for line in text.split("\n")]
    index = next((index for index, line in enumerate(lines) if line), len(lines))
    first = lines[index] if index < len(lines) else ""
    if markdown:
        match = re.match(r"#\s+(.+)", first)
        return match.group(1).strip() if match else None
    # The first line of a wrapped paragraph is not a title: a title stands alone.
    alone = index + 1 >= len(lines) or not lines[index + 1]
    if not alone or len(first) > 60 or first[-1:] in ".,;:?!\"”" or is_heading_line(first):
        return None
    return first


# --- zip containers ---------------------------------------------------------------------------


def open_zip_safely(data: bytes, *, max_bytes: int, kind: str) -> zipfile.ZipFile:
    """Open a zip container, refusing corrupt files and zip bombs before anything is extracted."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise UnreadableBookError(f"This {kind} file is damaged and cannot be opened.") from error
    if len(members) > ZIP_MAX_MEMBERS:
        raise UnreadableBookError(f"This {kind} file holds {len(members):,} parts, far more than a book; it was refused.")
    total = sum(member.file_size for member in members)
    if total > max_bytes * ZIP_EXPANSION_FACTOR:
        raise UnreadableBookError(
            f"This {kind} file would expand to {total:,} bytes, far more than a book; it was refused."
        )
    for member in members:
        # Every member: a thousand small bombs are as bad as one big one.
        if member.file_size > ZIP_MAX_RATIO * max(member.compress_size, 1):
            raise UnreadableBookError(f"This {kind} file contains a suspiciously compressed part; it was refused.")
    return archive


def _parse_epub(data: bytes, *, max_bytes: int) -> ParsedBook:
    """Read an EPUB book, taking chapters from its table of contents."""
    check_container(open_zip_safely(data, max_bytes=max_bytes, kind="EPUB"))
    return read_epub(data)


# --- docx -------------------------------------------------------------------------------------


def _parse_docx(data: bytes, *, max_bytes: int) -> ParsedBook:
    """Read a Word document, taking chapters from its heading styles."""
    import docx  # imported here: python-docx is slow to import and only docx uploads need it

    open_zip_safely(data, max_bytes=max_bytes, kind="Word")
    try:
        document = docx.Document(io.BytesIO(data))
        paragraphs = [(_style_name(paragraph), _docx_paragraph_text(paragraph)) for paragraph in document.paragraphs]
        properties = document.core_properties
        title, author = properties.title or "", properties.author or ""
    except Exception as error:  # python-docx raises many types for a broken package
        raise UnreadableBookError("This Word file is damaged and cannot be opened.") from error
    heading_style = _chapter_heading_style([style for style, _ in paragraphs])
    if heading_style is None:
        split = split_chapters("\n\n".join(text for _, text in paragraphs))
        sections, method, notes = split.chapters, split.split_method, split.notes
    else:
        sections, method, notes = _chapters_at_style(paragraphs, heading_style), "styles", []
    page_title, page_author = _title_page(paragraphs, heading_style)
    if sections and sections[0].kind == FRONT_MATTER and sections[0].heading:  # the title set as a heading
        lines = [("", line) for line in sections[0].text.split("\n\n")]
        page_title, page_author = page_title or sections[0].heading, page_author or _title_page(lines, None)[1]
    return ParsedBook(_prefer_title_page(title, page_title, _PLACEHOLDER_TITLES),
                      _prefer_title_page(author, page_author, _PLACEHOLDER_AUTHORS), sections, method, notes)


def _prefer_title_page(metadata: str, title_page: str | None, placeholders: set[str]) -> str | None:
    """Metadata, unless it is empty or a generator's default ("python-docx"): then the title page's line."""
    if metadata.strip().lower() not in placeholders:
        return metadata.strip()
    return title_page


def _title_page(paragraphs: list[tuple[str, str]], heading_style: str | None) -> tuple[str | None, str | None]:
    """Read the book's title and author from the paragraphs before the first chapter."""
    front = []
    for style, text in paragraphs:
        if style == heading_style or is_heading_line(text) or is_matter_label(text):
            break
        if text:
            front.append((style, text))
    # "By the same author" heads a list of other books, not the title page's byline.
    by_lines = [None if re.match(r"by the same\b", text, re.IGNORECASE) else _BY_LINE.match(text) for _, text in front]
    author = next((match.group("author").strip() for match in by_lines if match), None)
    if author is None:  # a paragraph styled for the author ("Author", "Byline")
        author = next((text for style, text in front if re.search(r"author|byline", style, re.IGNORECASE)), None)
    if author is None:
        trailing = [_TRAILING_BY.search(text) for _, text in front[:3] if len(text.split()) <= 12]
        author = next((match.group("author") for match in trailing if match), None)
    short = [(style, text) for (style, text), match in zip(front, by_lines)
             if not match and text != author and len(text.split()) <= 12]
    title = next((text for style, text in short if style == "Title" and heading_style != "Title"), None)
    title = title or next((text for _, text in short), None)
    return title, author


def _style_name(paragraph) -> str:
    """Return a paragraph's style name, or "" when the document gives none."""
    return paragraph.style.name if paragraph.style is not None else ""


def _docx_paragraph_text(paragraph) -> str:
    """Return a paragraph's text with italic runs marked _like this_."""
    pieces, italic = [], False
    for run in paragraph.runs:
        run_italic = bool(run.italic) and bool(run.text.strip())
        if run_italic != italic:
            pieces.append("_")
            italic = run_italic
        pieces.append(run.text)
    if italic:
        pieces.append("_")
    text = "".join(pieces) if paragraph.runs else paragraph.text
    return re.sub(r"\s+", " ", text).strip()


def _chapter_heading_style(styles: list[str]) -> str | None:
    """Pick the paragraph style that marks chapters: Heading 1, else Heading 2, else Title."""
    counts = Counter(styles)
    # One Heading 1 above many Heading 2s is the book's title, not its only chapter.
    if counts["Heading 1"] and not (counts["Heading 1"] == 1 and counts["Heading 2"] > 1):
        return "Heading 1"
    if counts["Heading 2"]:
        return "Heading 2"
    if counts["Title"] > 1:
        return "Title"
    return None


def _chapters_at_style(paragraphs: list[tuple[str, str]], heading_style: str) -> list[ChapterText]:
    """Cut paragraphs at each heading of the given style; the title page and headed matter are kept as matter."""
    front: list[str] = []
    units: list[tuple[str, list[str]]] = []
    for style, text in paragraphs:
        if style == heading_style and text:
            units.append((text, []))
        elif text:
            (units[-1][1] if units else front).append(text)
    outside = outside_numbered_chapters([heading for heading, _ in units])
    story = {index for index, (heading, _) in enumerate(units) if not is_matter_label(heading) and index not in outside}
    # The book's title styled as a heading over a few lines (its byline): a title page, not the first chapter.
    if 0 in story and len(story) >= 3 and sum(len(text.split()) for text in units[0][1]) < TITLE_PAGE_MAX_WORDS \
            and not is_heading_line(units[0][0]):
        story.discard(0)
    last_story = max(story, default=-1)
    sections = [ChapterText("", "Title page", "\n\n".join(front), FRONT_MATTER)] if front else []
    for index, (heading, body) in enumerate(units):
        kind = CHAPTER if index in story else FRONT_MATTER if index < last_story else BACK_MATTER
        sections.append(ChapterText(heading, display_title_for_heading(heading), "\n\n".join(body), kind))
    return sections


# --- pdf --------------------------------------------------------------------------------------


def _parse_pdf(data: bytes, *, max_bytes: int, max_words: int | None = None) -> ParsedBook:
    """Read a PDF's text layer, clean away page furniture and split it into chapters."""
    import pypdf  # imported here: only PDF uploads need it

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not _decrypts_without_password(reader):
            raise UnreadableBookError(
                "This PDF is password-protected: remove the password (or export an unprotected copy) and upload it again."
            )
        pages = _pdf_page_texts(reader, max_words)
        metadata = reader.metadata
        title = (metadata.title or None) if metadata else None
        author = (metadata.author or None) if metadata else None
    except UnreadableBookError:
        raise
    except Exception as error:  # pypdf raises many types for a broken file
        raise UnreadableBookError("This PDF is damaged and cannot be read.") from error
    if sum(char.isalpha() for page in pages for char in page) < 20:
        raise UnreadableBookError(
            "This PDF has no text layer (it is scanned images): run it through OCR, or upload the book as text."
        )
    text = pdf_pages_to_text(pages)
    split = split_chapters(text)
    # Exporters write their own names ("Microsoft Word - draft.docx", "Unknown"): the title page knows better.
    title = re.sub(r"^Microsoft Word - ", "", title or "")
    title = None if title.strip().lower() in _PLACEHOLDER_TITLES or re.search(r"\.docx?$", title) else title.strip()
    page_author = _title_page([("", line) for line in text.split("\n")[:80] if line.strip()], None)[1]
    return ParsedBook(title, _prefer_title_page(author or "", page_author, _PLACEHOLDER_AUTHORS), split.chapters,
                      split.split_method, split.notes)


def _pdf_page_texts(reader, max_words: int | None) -> list[str]:
    """The text of each page, refusing a PDF of too many pages and stopping once it passes the word limit."""
    count = len(reader.pages)
    if count > PDF_MAX_PAGES:
        raise UnreadableBookError(f"This PDF has {count:,} pages; Plot Studio reads books of up to {PDF_MAX_PAGES:,} pages.")
    pages, words = [], 0
    for page in reader.pages:
        pages.append(page.extract_text() or "")
        words += len(pages[-1].split())
        if max_words is not None and words > max_words:
            raise UnreadableBookError(f"This book has more than {max_words:,} words; the limit is {max_words:,} words.")
    return pages


def _decrypts_without_password(reader) -> bool:
    """Whether an encrypted PDF opens with the empty password (owner-only protection)."""
    try:
        return bool(reader.decrypt(""))
    except Exception:  # a missing crypto backend or an unknown scheme: treat as locked
        return False


def pdf_pages_to_text(pages: list[str]) -> str:
    """Join the text of PDF pages into paragraphs, without running headers, footers or page numbers."""
    page_lines = [[line.strip() for line in page.split("\n") if line.strip()] for page in pages]
    furniture = _running_lines(page_lines)
    cleaned = [_strip_page_furniture(lines, furniture) for lines in page_lines]
    return _rebuild_paragraphs([line for lines in cleaned for line in lines])


_PAGE_NUMBER = re.compile(r"^(?:page\s+)?[-–—\s]*(\d+|[ivxlcdm]+)[-–—\s]*$", re.IGNORECASE)
# Lines looked at for running headers and footers at each end of a page.
_FURNITURE_DEPTH = 2


def _furniture_key(line: str) -> str:
    """Compare running lines with their page numbers blanked out."""
    return re.sub(r"\d+", "#", line.lower())


def _running_lines(page_lines: list[list[str]]) -> set[str]:
    """Find lines repeated at the top or bottom of many pages: running headers and footers."""
    if len(page_lines) < 2:
        return set()
    counts = Counter(
        key
        for lines in page_lines
        for key in {_furniture_key(line) for line in lines[:_FURNITURE_DEPTH] + lines[-_FURNITURE_DEPTH:]}
    )
    return {key for key, count in counts.items() if count >= max(2, (len(page_lines) + 1) // 2)}


def _strip_page_furniture(lines: list[str], furniture: set[str]) -> list[str]:
    """Drop running headers, footers and bare page numbers from the ends of one page."""
    def is_furniture(line: str) -> bool:
        # A chapter heading at the top of a page looks like a running header once digits are
        # blanked; repeated running headers that are headings fail the numbering check instead.
        if is_heading_line(line):
            return False
        return _furniture_key(line) in furniture or bool(_PAGE_NUMBER.match(line))

    start, end = 0, len(lines)
    while start < end and start < _FURNITURE_DEPTH and is_furniture(lines[start]):
        start += 1
    while end > start and len(lines) - end < _FURNITURE_DEPTH and is_furniture(lines[end - 1]):
        end -= 1
    return lines[start:end]


def _rebuild_paragraphs(lines: list[str]) -> str:
    """Join PDF lines into paragraphs: short lines end paragraphs, headings stand alone."""
    long_lines = [len(line) for line in lines if len(line) > 30]
    full_width = statistics.median(long_lines) if long_lines else 60
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        if is_heading_line(line):
            if current:
                paragraphs.append(current)
            paragraphs.append(line)
            current = ""
            continue
        current = _join_wrapped(current, line)
        ends_sentence = line[-1] in ".!?\"'”’:;)_"
        if len(line) < 0.75 * full_width and ends_sentence:
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return "\n\n".join(paragraphs)


def _join_wrapped(current: str, line: str) -> str:
    """Append a wrapped line, mending words hyphenated across the break ("adapt-" + "ation")."""
    if not current:
        return line
    if re.search(r"[A-Za-z]-$", current) and line[:1].islower():
        return current[:-1] + line
    return f"{current} {line}"
