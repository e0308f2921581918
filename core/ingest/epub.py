"""Read an EPUB: spine documents to text, cut into chapters at its table-of-contents entries."""

import io
import posixpath
import re
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from xml.etree import ElementTree

from core.errors import UnreadableBookError
from core.ingest import BACK_MATTER, CHAPTER, FRONT_MATTER, ChapterText, ParsedBook, source_words
from core.ingest.chapters import (
    TOC_ENTRY_MAX_WORDS, display_title_for_heading, is_division_line, is_heading_line, is_matter_label,
    outside_numbered_chapters, split_chapters,
)

# Under this many words a contents entry not labelled as a chapter is a title page, divider or plate:
# kept as front/back matter at the ends of the book, and inside the story kept with the text before it.
MIN_CHAPTER_WORDS = 40
_CONTAINER_RULE = "This EPUB breaks the container rules: "
# "I.", "II. Friendship", "3": the numbered sections of a story, which stay inside it.
_SECTION_NUMBER = re.compile(r"^\s*[IVXLC]+\.?(?:\s|$)|^\s*\d+\.?\s*$")
_PAGE_NUMBER = re.compile(r"^\[?(?:p(?:g|age)?\.?\s*)?(?:\d+|[ivxlcdm]+)\]?$", re.IGNORECASE)
_GUTENBERG_START = re.compile(r"\*{3}\s*START OF (THE|THIS) PROJECT GUTENBERG", re.IGNORECASE)
_GUTENBERG_END = re.compile(r"\*{3}\s*END OF (THE|THIS) PROJECT GUTENBERG", re.IGNORECASE)
_BLOCK_TAGS = {
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "section", "article", "header",
    "footer", "tr", "dd", "dt", "pre", "table", "ul", "ol", "hr", "body", "figure", "figcaption", "aside", "nav",
}
_HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_ITALIC_TAGS = {"i", "em"}
_SKIPPED_TAGS = {"head", "script", "style", "svg"}
# Private-use characters mark italics while whitespace is tidied, then become underscores.
_ITALIC_OPEN, _ITALIC_CLOSE = "\ue000", "\ue001"
# Marks a <br> so it survives the collapsing of the source's own line breaks.
_LINE_BREAK = "\ue002"


@dataclass(frozen=True)
class _Block:
    """One paragraph or heading of an XHTML document."""

    text: str
    is_heading: bool


@dataclass(frozen=True)
class _TocEntry:
    """A table-of-contents entry: its label, the document it points into and the anchor there."""

    label: str
    document: str
    anchor: str
    parent: str
    division: bool = False  # a part or volume, whose child entries are the chapters


class _XhtmlToBlocks(HTMLParser):
    """Turn XHTML into paragraphs, remembering which paragraph each element id starts at."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[_Block] = []
        self.anchors: dict[str, int] = {}
        self._pieces: list[str] = []
        self._heading_depth = 0
        self._italic_depth = 0
        self._skip_depth = 0
        self._page_break: list[str] = []  # open tags inside a page-number marker, whose text is not the book's

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._page_break or any(name in ("epub:type", "role") and "pagebreak" in (value or "")
                                   for name, value in attrs):
            self._page_break.append(tag)
        if tag in _SKIPPED_TAGS:
            self._skip_depth += 1
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag in _HEADING_TAGS:
            self._heading_depth += 1
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.anchors.setdefault(value, len(self.blocks))
        if tag == "br":
            self._pieces.append(_LINE_BREAK)
        elif tag in _ITALIC_TAGS:
            if self._italic_depth == 0:
                self._pieces.append(_ITALIC_OPEN)
            self._italic_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("br",) and tag not in _ITALIC_TAGS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._page_break:
            del self._page_break[len(self._page_break) - 1 - self._page_break[::-1].index(tag):]
        if tag in _SKIPPED_TAGS:
            self._skip_depth = max(self._skip_depth - 1, 0)
        if tag in _ITALIC_TAGS and self._italic_depth:
            self._italic_depth -= 1
            if self._italic_depth == 0:
                self._pieces.append(_ITALIC_CLOSE)
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag in _HEADING_TAGS:
            self._heading_depth = max(self._heading_depth - 1, 0)

    def handle_data(self, data: str) -> None:
        if not self._skip_depth and not self._page_break:
            self._pieces.append(data)

    def close(self) -> None:
        super().close()
        self._flush()

    def _flush(self) -> None:
        """End the paragraph being collected, if it holds any text."""
        text = _tidy_block_text("".join(self._pieces))
        self._pieces = [_ITALIC_OPEN] if self._italic_depth else []
        if text:
            self.blocks.append(_Block(text, self._heading_depth > 0))


def _tidy_block_text(raw: str) -> str:
    """Collapse whitespace, keep <br> line breaks and write italics as _text_."""
    lines = []
    for line in raw.split(_LINE_BREAK):
        line = re.sub(r"\s+", " ", line)
        # Spaces just inside an italic span belong outside it: "<i> word </i>" -> " _word_ ".
        line = re.sub(rf"{_ITALIC_OPEN}(\s+)", rf"\1{_ITALIC_OPEN}", line)
        line = re.sub(rf"(\s+){_ITALIC_CLOSE}", rf"{_ITALIC_CLOSE}\1", line)
        line = re.sub(rf"{_ITALIC_OPEN}{_ITALIC_CLOSE}|{_ITALIC_OPEN}$|^{_ITALIC_CLOSE}", "", line)
        line = re.sub(r"\s+", " ", line).strip()
        line = line.replace(_ITALIC_OPEN, "_").replace(_ITALIC_CLOSE, "_")
        if line.strip("_ "):
            lines.append(line)
    return "\n".join(lines)


def _document_blocks(html: bytes) -> tuple[list[_Block], dict[str, int]]:
    """Parse one XHTML document into paragraphs and the paragraph index of each anchor."""
    parser = _XhtmlToBlocks()
    parser.feed(html.decode("utf-8", errors="replace"))
    parser.close()
    return parser.blocks, parser.anchors


def check_container(archive: zipfile.ZipFile) -> None:
    """Refuse an EPUB that breaks the OCF container rules, saying which rule."""
    names = archive.namelist()
    if "mimetype" not in names:
        raise UnreadableBookError(_CONTAINER_RULE + "it has no “mimetype” entry, so it is not an EPUB.")
    if names[0] != "mimetype":
        raise UnreadableBookError(_CONTAINER_RULE + "its “mimetype” entry must come first in the archive.")
    if archive.read("mimetype").strip() != b"application/epub+zip":
        raise UnreadableBookError(_CONTAINER_RULE + "its “mimetype” entry must read application/epub+zip.")
    if "META-INF/container.xml" not in names:
        raise UnreadableBookError(_CONTAINER_RULE + "it has no META-INF/container.xml.")
    try:
        container = ElementTree.fromstring(archive.read("META-INF/container.xml"))
    except ElementTree.ParseError as error:
        raise UnreadableBookError(_CONTAINER_RULE + "its META-INF/container.xml is not well-formed XML.") from error
    package = next((element.get("full-path") for element in container.iter() if element.tag.endswith("rootfile")), None)
    if not package:
        raise UnreadableBookError(_CONTAINER_RULE + "its META-INF/container.xml names no package file.")
    if package not in names:
        raise UnreadableBookError(_CONTAINER_RULE + f"its container.xml names {package}, which is not in the file.")


def read_epub(data: bytes) -> ParsedBook:
    """Read an EPUB's chapters (and its front and back matter) from its spine and table of contents."""
    import ebooklib  # imported here: only EPUB uploads need it
    from ebooklib import epub

    try:
        book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": False})
        documents = _spine_documents(book, ebooklib)
        title = _first_metadata(book, "title")
        author = _first_metadata(book, "creator")
        toc = list(_toc_entries(book.toc, parent="", book_title=title or ""))
    except UnreadableBookError:
        raise
    except Exception as error:  # ebooklib and lxml raise many types for a broken book
        raise UnreadableBookError("This EPUB file is damaged and cannot be opened.") from error
    blocks, positions, document_starts = _join_documents(documents)
    start, end = _gutenberg_bounds(blocks)
    sections = _sections_from_toc(blocks, positions, document_starts, toc, start, end)
    if sum(section.kind == CHAPTER for section in sections) < 2:
        # A book whose chapter headings are styled paragraphs: trust its contents anchors as they are.
        sections = _sections_from_toc(blocks, positions, document_starts, toc, start, end, trust_anchors=True)
    if sum(section.kind == CHAPTER for section in sections) >= 2:
        return ParsedBook(title, author, sections, "toc", [])
    text = "\n\n".join(block.text for block in blocks[start:end])
    split = split_chapters(text)
    note = "The table of contents did not list the chapters: found them in the text instead."
    return ParsedBook(title, author, split.chapters, split.split_method, [note, *split.notes])


def _first_metadata(book, name: str) -> str | None:
    """Return the first Dublin Core value of a metadata field, if any."""
    values = book.get_metadata("DC", name)
    return values[0][0].strip() or None if values else None


def _spine_documents(book, ebooklib) -> list[tuple[str, bytes]]:
    """Return (name, content) of the XHTML documents in reading order, navigation excluded.

    Each document once: a spine that names one document thousands of times (a 3.5 KB file that
    expands to millions of words) reads as the one document it is.
    """
    documents, seen = [], set()
    for item_id, _linear in book.spine:
        item = book.get_item_with_id(item_id)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT or isinstance(item, _nav_class()) \
                or item_id in seen:
            continue
        seen.add(item_id)
        documents.append((posixpath.normpath(item.get_name()), item.get_content()))
    return documents


def _nav_class():
    """The ebooklib class of EPUB 3 navigation documents."""
    from ebooklib.epub import EpubNav

    return EpubNav


def _toc_entries(entries, *, parent: str, book_title: str):
    """Yield the entries that bound sections: nested entries are sections inside their parent, except
    that parts and volumes (and a wrapper: named as the book, or alone at the top) open into their children."""
    alone = not parent and sum(not is_matter_label(_entry_label(entry)) for entry in entries) == 1
    for entry in entries:
        if isinstance(entry, tuple):
            section, children = entry
            label = getattr(section, "title", "") or ""
            href = getattr(section, "href", "") or ""
            # An entry pointing where its first child does is a heading over its children, not a unit.
            grouping = not href or bool(children) and href == _entry_href(children[0]) \
                and not all(_SECTION_NUMBER.match(_entry_label(child)) for child in children)
            if grouping or alone and children or _opens_into_children(label, children, book_title):
                if href:
                    yield _toc_entry(label, href, parent, division=True)
                yield from _toc_entries(children, parent=label, book_title=book_title)
            else:
                yield _toc_entry(label, href, parent)
        elif getattr(entry, "href", None):
            yield _toc_entry(entry.title or "", entry.href, parent)


def _opens_into_children(label: str, children, book_title: str) -> bool:
    """Whether an entry is a part, volume or wrapper whose children are the book's chapters."""
    if is_division_line(label) or _normalised(label) == _normalised(book_title):
        return True
    labels = [_entry_label(child) for child in children]
    # "Chapter 1", "Chapter 2" under an entry: the entry is a part; "I.", "II." under a story are its sections.
    return sum(is_heading_line(child) for child in labels) > len(labels) / 2


def _entry_label(entry) -> str:
    section = entry[0] if isinstance(entry, tuple) else entry
    return getattr(section, "title", "") or ""


def _entry_href(entry) -> str:
    section = entry[0] if isinstance(entry, tuple) else entry
    return getattr(section, "href", "") or ""


def _normalised(label: str) -> str:
    return re.sub(r"\W+", " ", label.lower()).strip()


def _toc_entry(label: str, href: str, parent: str, *, division: bool = False) -> _TocEntry:
    """Split a TOC link into the document it names and its anchor."""
    document, _, anchor = href.partition("#")
    return _TocEntry(re.sub(r"\s+", " ", label).strip(), posixpath.normpath(document), anchor, parent, division)


def _join_documents(
    documents: list[tuple[str, bytes]],
) -> tuple[list[_Block], dict[tuple[str, str], int], set[int]]:
    """Concatenate the documents' paragraphs; map (document, anchor) to a paragraph index; note where each starts."""
    blocks: list[_Block] = []
    positions: dict[tuple[str, str], int] = {}
    starts: set[int] = set()
    for name, content in documents:
        document_blocks, anchors = _document_blocks(content)
        positions[(name, "")] = len(blocks)
        starts.add(len(blocks))
        for anchor, index in anchors.items():
            positions[(name, anchor)] = len(blocks) + index
        blocks.extend(document_blocks)
    return blocks, positions, starts


def _gutenberg_bounds(blocks: list[_Block]) -> tuple[int, int]:
    """Return the paragraph range between Gutenberg's start and end markers (all if absent)."""
    start = next((i + 1 for i, block in enumerate(blocks) if _GUTENBERG_START.search(block.text)), 0)
    end = next((i for i, block in enumerate(blocks) if i >= start and _GUTENBERG_END.search(block.text)), len(blocks))
    return start, end


def _locate(entry: _TocEntry, positions: dict[tuple[str, str], int]) -> int | None:
    """Find the paragraph a TOC entry points at, matching document names by their tail."""
    if (entry.document, entry.anchor) in positions:
        return positions[(entry.document, entry.anchor)]
    # TOC links are relative to the TOC file, document names to the package: compare the ends.
    for (document, anchor), index in positions.items():
        if anchor == entry.anchor and (document.endswith("/" + entry.document) or entry.document.endswith("/" + document)):
            return index
    return None


def _sections_from_toc(
    blocks: list[_Block], positions: dict[tuple[str, str], int], document_starts: set[int], toc: list[_TocEntry],
    start: int, end: int, *, trust_anchors: bool = False,
) -> list[ChapterText]:
    """Cut the paragraphs where contents entries start a new unit; every paragraph lands in a section."""
    # A plate, caption or page anchor inside running text stays in its chapter: only unit starts bound sections.
    candidates = [(entry, index) for entry in toc if (index := _locate(entry, positions)) is not None
                  and (trust_anchors or _starts_unit(index, blocks, document_starts))]
    # In reading order: a list of plates early in the contents must not hide the chapters it points past.
    candidates.sort(key=lambda candidate: candidate[1])
    located: list[tuple[_TocEntry, int]] = []
    for entry, index in candidates:
        if not located or index > located[-1][1]:
            located.append((entry, index))
        elif located[-1][0].division:
            located[-1] = (entry, index)  # a part and its first chapter in one place: the chapter bounds it
    units = []
    for (entry, first), (_, after) in zip(located, [*located[1:], (None, len(blocks))]):
        first, after = max(first, start), min(after, end)
        if first < after:
            units.append((entry, blocks[first:after], _role(entry, blocks[first:after])))
    # A book that numbers its chapters: what comes before the first or after the last is matter.
    names = [entry.label or (unit[0].text if unit else "") for entry, unit, _ in units]
    outside = outside_numbered_chapters(names)
    units = [(entry, unit, "matter" if role == "chapter" and index in outside else role)
             for index, (entry, unit, role) in enumerate(units)]
    front = blocks[start:min(located[0][1], end)] if located else []
    return _assemble(units, front)


def _starts_unit(index: int, blocks: list[_Block], document_starts: set[int]) -> bool:
    """Whether a new unit of text starts at a paragraph: a document of its own, or a heading there."""
    if index in document_starts:
        return True
    while index < len(blocks) and not blocks[index].is_heading and _PAGE_NUMBER.match(blocks[index].text):
        index += 1  # a page number printed above the heading
    return index < len(blocks) and (blocks[index].is_heading or is_heading_line(blocks[index].text))


def _role(entry: _TocEntry, blocks: list[_Block]) -> str:
    """What a contents entry's text is: a division, matter, a minor page (title, plate) or a chapter."""
    if entry.division:
        return "division"
    if is_matter_label(entry.label):
        return "matter"
    words = sum(source_words(block.text) for block in blocks)
    if words < MIN_CHAPTER_WORDS and not is_heading_line(entry.label):
        return "minor"
    return "chapter"


def _assemble(units: list[tuple[_TocEntry, list[_Block], str]], front: list[_Block]) -> list[ChapterText]:
    """Turn the units into sections: chapters, matter at either end, parts' pages; minor pages join the text."""
    chapter_units = [i for i, (_, _, role) in enumerate(units) if role == "chapter"]
    first_chapter, last_chapter = (chapter_units[0], chapter_units[-1]) if chapter_units else (len(units), -1)
    sections: list[ChapterText] = [_matter_section(None, front, FRONT_MATTER)] if front else []
    chapters: list[tuple[_TocEntry, int]] = []  # (entry, index in sections) of each chapter, for part prefixes
    part_lines: list[str] = []  # a part's heading with no page of its own, kept with its first chapter
    for index, (entry, blocks, role) in enumerate(units):
        words = sum(source_words(block.text) for block in blocks)
        if role == "division" and index < last_chapter and words <= TOC_ENTRY_MAX_WORDS:
            part_lines.extend(block.text for block in blocks)
        elif role == "chapter":
            chapter = _chapter_from_blocks(entry, blocks)
            if part_lines:
                chapter = ChapterText("\n".join([*part_lines, chapter.heading]), chapter.title, chapter.text)
                part_lines = []
            chapters.append((entry, len(sections)))
            sections.append(chapter)
        elif role in ("matter", "division") or index < first_chapter or index > last_chapter or not sections:
            kind = FRONT_MATTER if index < last_chapter else BACK_MATTER
            matter = _matter_section(entry, blocks, kind)
            if part_lines:  # a part heading followed by matter (its bibliography, its introduction)
                matter = ChapterText("\n".join([*part_lines, matter.heading]).strip(), matter.title, matter.text, kind)
                part_lines = []
            sections.append(matter)
        else:  # a title page or plate between chapters: its text stays with the text before it
            previous = sections[-1]
            text = "\n\n".join(filter(None, [previous.text, *(block.text for block in blocks)]))
            sections[-1] = ChapterText(previous.heading, previous.title, text, previous.kind)
    return _prefix_repeated_titles(sections, chapters)


def _matter_section(entry: _TocEntry | None, blocks: list[_Block], kind: str) -> ChapterText:
    """A front- or back-matter section: its first heading as printed, titled by its contents label."""
    heading, body = (blocks[0].text, blocks[1:]) if blocks and blocks[0].is_heading else ("", blocks)
    label = entry.label if entry else ""
    title = display_title_for_heading(label or heading) if label or heading else "Front matter"
    return ChapterText(heading, title, "\n\n".join(block.text for block in body), kind)


def _chapter_from_blocks(entry: _TocEntry, blocks: list[_Block]) -> ChapterText:
    """Make a chapter whose heading is its first heading paragraph, titled by its contents label."""
    if blocks and (blocks[0].is_heading or is_heading_line(blocks[0].text)):
        heading, body = blocks[0].text, blocks[1:]
    else:
        heading, body = "", blocks
    # The contents label names the chapter; a first line may be an epigraph.
    title = display_title_for_heading(entry.label or heading or "Untitled")
    return ChapterText(heading=heading, title=title, text="\n\n".join(block.text for block in body))


def _prefix_repeated_titles(sections: list[ChapterText], chapters: list[tuple[_TocEntry, int]]) -> list[ChapterText]:
    """Give titles their part ("Part Two, Chapter 1") when chapter numbers restart per part."""
    titles = [sections[index].title for _, index in chapters]
    if len(set(titles)) == len(titles):
        return sections
    sections = list(sections)
    for entry, index in chapters:
        if entry.parent:
            chapter = sections[index]
            sections[index] = ChapterText(chapter.heading, f"{display_title_for_heading(entry.parent)}, {chapter.title}",
                                          chapter.text, chapter.kind)
    return sections
