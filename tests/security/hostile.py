"""Hostile files, built at run time: each is small to upload and built to exhaust a careless reader."""

from __future__ import annotations

import io
import random
import zipfile

from support import make_docx, make_pdf, prose


def _zip(members: list[tuple[str, bytes]], *, stored_first: bool = True, compress: bool = True) -> bytes:
    """A zip of these members (stored, not deflated, when `compress` is False: no ratio check can catch it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as archive:
        for index, (name, data) in enumerate(members):
            archive.writestr(name, data, compress_type=zipfile.ZIP_STORED if index == 0 and stored_first else None)
    return buffer.getvalue()


CONTAINER = (b'<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
             b'<rootfiles><rootfile full-path="content.opf" media-type="application/oebps-package+xml"/>'
             b'</rootfiles></container>')


def epub_with(*, spine_repeats: int = 1, document: bytes | None = None, ncx: bytes | None = None,
              compress: bool = True) -> bytes:
    """A hand-made EPUB 2: one chapter document, its spine entry repeated `spine_repeats` times."""
    document = document or (b'<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
                            b"<head><title>c</title></head><body><h1>Chapter 1</h1>"
                            + b"".join(f"<p>{prose(n, 200)}</p>".encode() for n in range(12)) + b"</body></html>")
    ncx = ncx or (b'<?xml version="1.0"?><ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1">'
                  b'<head><meta name="dtb:uid" content="x"/></head><docTitle><text>Bomb</text></docTitle><navMap>'
                  b'<navPoint id="n1" playOrder="1"><navLabel><text>Chapter 1</text></navLabel>'
                  b'<content src="c1.xhtml"/></navPoint></navMap></ncx>')
    opf = (b'<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="2.0" unique-identifier="id">'
           b'<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">x</dc:identifier>'
           b"<dc:title>Spine</dc:title><dc:language>en</dc:language></metadata><manifest>"
           b'<item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/>'
           b'<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/></manifest>'
           b'<spine toc="ncx">' + b'<itemref idref="c1"/>' * spine_repeats + b"</spine></package>")
    return _zip([("mimetype", b"application/epub+zip"), ("META-INF/container.xml", CONTAINER),
                 ("content.opf", opf), ("toc.ncx", ncx), ("c1.xhtml", document)], compress=compress)


def spine_bomb(*, compress: bool = True) -> bytes:
    """The issue's EPUB: one 2,400-word document named 6,000 times by its spine (14.4 M words).

    Deflated it is 2 KB and its package file's ratio gives it away; stored, only reading each spine
    document once defuses it.
    """
    return epub_with(spine_repeats=6000, compress=compress)


def nested_epub(depth: int = 100_000) -> bytes:
    """An EPUB whose table of contents nests navPoints `depth` deep."""
    point = b'<navPoint id="n%d" playOrder="1"><navLabel><text>Part</text></navLabel><content src="c1.xhtml"/>'
    ncx = (b'<?xml version="1.0"?><ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1">'
           b"<head/><docTitle><text>Deep</text></docTitle><navMap>"
           + b"".join(point % n for n in range(depth)) + b"</navPoint>" * depth + b"</navMap></ncx>")
    return epub_with(ncx=ncx, compress=False)


def nested_docx(depth: int = 100_000) -> bytes:
    """A Word document whose body nests content controls `depth` deep."""
    base = zipfile.ZipFile(io.BytesIO(make_docx([("Heading 1", "Chapter 1"), ("Normal", prose(1))])))
    members = []
    for info in base.infolist():
        data = base.read(info)
        if info.filename == "word/document.xml":
            start = data.index(b"<w:body>") + len(b"<w:body>")
            data = data[:start] + b"<w:sdt><w:sdtContent>" * depth + b"</w:sdtContent></w:sdt>" * depth + data[start:]
        members.append((info.filename, data))
    return _zip(members, compress=False)


def zip_bomb(kind: str) -> bytes:
    """One member that expands to 100 MB of zeros (about 100 KB on the wire)."""
    name = "c1.xhtml" if kind == "epub" else "word/document.xml"
    return _zip([("mimetype", b"application/epub+zip"), (name, b"\0" * 100_000_000)])


def expands_past_the_cap(members: int = 30) -> bytes:
    """Members of 1 MB that compress only about 10:1, as text does: none suspicious alone, 30 MB together."""
    rng = random.Random(8)
    member = b"".join(b" " * 56 + bytes(rng.choice(b"etaoinshrdlu") for _ in range(8)) for _ in range(16_384))
    return _zip([("mimetype", b"application/epub+zip")] + [(f"c{n}.xhtml", member) for n in range(members)])


def empty_pages_pdf(pages: int = 5000) -> bytes:
    return make_pdf([[] for _ in range(pages)])


def single_line(size: int = 50_000_000) -> bytes:
    """A 50 MB file on one line: ten million words and no line break."""
    return b"word " * (size // 5)
