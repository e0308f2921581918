"""Fountain -> Final Draft FDX and PDF (screenplain's exporters), and the whole book as one screenplay."""

from __future__ import annotations

import io
from dataclasses import dataclass

from core.screenplay import fountain as ftn

FORMATS = {"fountain": ("text/plain", "fountain"), "fdx": ("application/xml", "fdx"),
           "pdf": ("application/pdf", "pdf")}


@dataclass
class ChapterText:
    number: int
    title: str
    fountain: str


def to_fdx(text: str) -> bytes:
    from screenplain.export.fdx import to_fdx as write_fdx

    out = io.StringIO()
    write_fdx(ftn.to_screenplay(text), out)
    return out.getvalue().encode("utf-8")


def to_pdf(text: str) -> bytes:
    from screenplain.export import pdf

    out = io.BytesIO()
    pdf.to_pdf(ftn.to_screenplay(text), out)
    return out.getvalue()


def to_html(text: str) -> str:
    """The screenplay as HTML (screenplain's classes: h6 headings, .character, .dialog, .transition, ...)."""
    from screenplain.export.html import convert_bare

    out = io.StringIO()
    convert_bare(ftn.to_screenplay(text), out)
    return out.getvalue()


def render(text: str, fmt: str) -> bytes:
    """One screenplay in a download format."""
    if fmt == "fountain":
        return text.encode("utf-8")
    if fmt == "fdx":
        return to_fdx(text)
    if fmt == "pdf":
        return to_pdf(text)
    raise ftn.FountainError(f"Plot Studio exports Fountain, FDX or PDF, not “{fmt}”.")


def whole_book(title: str, author: str | None, chapters: list[ChapterText]) -> str:
    """Every chapter's screenplay in order under one title page; each chapter starts on a new page."""
    blocks = [ftn.title_page({"Title": title, "Credit": "Adapted from the novel by", "Author": author or "",
                              "Source": f"{len(chapters)} chapters"})]
    for index, chapter in enumerate(chapters):
        if index:
            blocks.append("===")
        named = chapter.title.strip().lower() not in ("", f"chapter {chapter.number}")
        blocks.append(f"# Chapter {chapter.number}" + (f": {chapter.title}" if named else ""))
        blocks.append(f"> **CHAPTER {chapter.number}** <")
        blocks.append(ftn.body_of(chapter.fountain))
    return ftn.join(blocks)


def filename(stem: str, fmt: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem).strip("_") or "script"
    return f"{safe[:80]}.{FORMATS[fmt][1]}"
