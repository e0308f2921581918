"""Read an EPUB: spine documents to text, cut into chapters at its table-of-contents entries."""

import io
import posixpath
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from core.errors import UnreadableBookError
from core.ingest import ChapterText, ParsedBook
from core.ingest.chapters import display_title_for_heading, split_chapters

# Under this many words a table-of-contents entry is a title page or divider, not a chapter.
MIN_CHAPTER_WORDS = 40
_NOT_CHAPTER_LABEL = re.compile(
    r"^\s*(table of )?contents\b|licen[cs]e|title ?page|copyright|^\s*cover\s*$|colophon|dedication"
    r"|^\s*also by|about the author|acknowledg|^\s*index\s*$|^\s*(foot)?notes\s*$|project gutenberg",
    re.IGNORECASE,
)
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

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
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
        if not self._skip_depth:
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


def read_epub(data: bytes) -> ParsedBook:
    """Read an EPUB's chapters from its spine and table of contents."""
    import ebooklib  # imported here: only EPUB uploads need it
    from ebooklib import epub

    try:
        book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": False})
        documents = _spine_documents(book, ebooklib)
        toc = list(_flatten_toc(book.toc, parent=""))
        title = _first_metadata(book, "title")
        author = _first_metadata(book, "creator")
    except UnreadableBookError:
        raise
    except Exception as error:  # ebooklib and lxml raise many types for a broken book
        raise UnreadableBookError("This EPUB file is damaged and cannot be opened.") from error
    blocks, positions = _join_documents(documents)
    start, end = _gutenberg_bounds(blocks)
    chapters = _chapters_from_toc(blocks, positions, toc, start, end)
    if len(chapters) >= 2:
        return ParsedBook(title, author, chapters, "toc", [])
    text = "\n\n".join(block.text for block in blocks[start:end])
    split = split_chapters(text)
    note = "The table of contents did not list the chapters: found them in the text instead."
    return ParsedBook(title, author, split.chapters, split.split_method, [note, *split.notes])


def _first_metadata(book, name: str) -> str | None:
    """Return the first Dublin Core value of a metadata field, if any."""
    values = book.get_metadata("DC", name)
    return values[0][0].strip() or None if values else None


def _spine_documents(book, ebooklib) -> list[tuple[str, bytes]]:
    """Return (name, content) of the XHTML documents in reading order, navigation excluded."""
    documents = []
    for item_id, _linear in book.spine:
        item = book.get_item_with_id(item_id)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT or isinstance(item, _nav_class()):
            continue
        documents.append((posixpath.normpath(item.get_name()), item.get_content()))
    return documents


def _nav_class():
    """The ebooklib class of EPUB 3 navigation documents."""
    from ebooklib.epub import EpubNav

    return EpubNav


def _flatten_toc(entries, *, parent: str):
    """Yield table-of-contents entries in order, nested ones after their parent."""
    for entry in entries:
        if isinstance(entry, tuple):
            section, children = entry
            label = getattr(section, "title", "") or ""
            href = getattr(section, "href", "") or ""
            if href:
                yield _toc_entry(label, href, parent)
            yield from _flatten_toc(children, parent=label)
        elif getattr(entry, "href", None):
            yield _toc_entry(entry.title or "", entry.href, parent)


def _toc_entry(label: str, href: str, parent: str) -> _TocEntry:
    """Split a TOC link into the document it names and its anchor."""
    document, _, anchor = href.partition("#")
    return _TocEntry(re.sub(r"\s+", " ", label).strip(), posixpath.normpath(document), anchor, parent)


def _join_documents(documents: list[tuple[str, bytes]]) -> tuple[list[_Block], dict[tuple[str, str], int]]:
    """Concatenate the documents' paragraphs; map (document, anchor) to a paragraph index."""
    blocks: list[_Block] = []
    positions: dict[tuple[str, str], int] = {}
    for name, content in documents:
        document_blocks, anchors = _document_blocks(content)
        positions[(name, "")] = len(blocks)
        for anchor, index in anchors.items():
            positions[(name, anchor)] = len(blocks) + index
        blocks.extend(document_blocks)
    return blocks, positions


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


def _chapters_from_toc(
    blocks: list[_Block], positions: dict[tuple[str, str], int], toc: list[_TocEntry], start: int, end: int
) -> list[ChapterText]:
    """Cut the paragraphs at each TOC entry and keep the entries that are chapters."""
    located = []
    for entry in toc:
        index = _locate(entry, positions)
        # Entries out of reading order (or pointing nowhere) cannot bound a chapter.
        if index is not None and (not located or index > located[-1][1]):
            located.append((entry, index))
    chapters = []
    for (entry, first), (_, after) in zip(located, [*located[1:], (None, len(blocks))]):
        first, after = max(first, start), min(after, end)
        if first >= after or _NOT_CHAPTER_LABEL.search(entry.label):
            continue
        chapter = _chapter_from_blocks(entry, blocks[first:after])
        if len(chapter.text.split()) >= MIN_CHAPTER_WORDS:
            chapters.append((entry, chapter))
    return _prefix_repeated_titles(chapters)


def _chapter_from_blocks(entry: _TocEntry, blocks: list[_Block]) -> ChapterText:
    """Make a chapter whose heading is its first heading paragraph (or the TOC label)."""
    if blocks and blocks[0].is_heading:
        heading, body = blocks[0].text, blocks[1:]
    else:
        heading, body = entry.label, blocks
    title = display_title_for_heading(entry.label or heading)
    return ChapterText(heading=heading, title=title, text="\n\n".join(block.text for block in body))


def _prefix_repeated_titles(chapters: list[tuple[_TocEntry, ChapterText]]) -> list[ChapterText]:
    """Give titles their part ("Part Two, Chapter 1") when chapter numbers restart per part."""
    titles = [chapter.title for _, chapter in chapters]
    if len(set(titles)) == len(titles):
        return [chapter for _, chapter in chapters]
    return [
        ChapterText(chapter.heading, f"{display_title_for_heading(entry.parent)}, {chapter.title}", chapter.text)
        if entry.parent
        else chapter
        for entry, chapter in chapters
    ]
