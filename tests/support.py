"""What several test modules share: paths, a writer, the CLI, waiting, and small books built at run time."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import docx
from ebooklib import epub

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "corpus"  # the public-domain corpus travels with the repository


def make_writer(prefix: str = "writer"):
    """A new account (never an admin) with a unique email."""
    from core.services.accounts import sign_up

    return sign_up(f"{prefix}-{uuid.uuid4().hex[:8]}@example.com", "correct horse battery", is_admin=False)


def make_admin(prefix: str = "admin"):
    """A committed administrator (only the owner role can grant admin rights), with a unique email."""
    from sqlalchemy import text

    from core.services.accounts import get_account
    from db.engine import act_as, owner_engine

    user_id = uuid.uuid4()
    with owner_engine().begin() as conn:
        act_as(conn, user_id)
        conn.execute(text("INSERT INTO users (id, email, is_admin) VALUES (:id, :email, true)"),
                     {"id": user_id, "email": f"{prefix}-{user_id.hex[:8]}@example.com"})
    return get_account(user_id)


def run_cli(*args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`python -m core ARGS` as a script would run it: no terminal, the test's environment, `stdin` if given."""
    result = subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, env=os.environ.copy(),
                            capture_output=True, text=True, timeout=600,
                            **({"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}))
    if check:
        assert result.returncode == 0, result.stderr
    return result


def wait_until(condition, *, seconds: float = 60, message: str = "condition"):
    """Poll `condition` until it returns something truthy (bounded), and return that."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {message}")


def prose(seed: int, words: int = 60) -> str:
    """Return a paragraph of plain prose, different for each seed."""
    vocabulary = "the rain fell on a quiet town while she walked home slowly thinking of letters".split()
    return f"It was {seed} o'clock and " + " ".join(vocabulary[(seed * 7 + i) % len(vocabulary)] for i in range(words)) + "."


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


