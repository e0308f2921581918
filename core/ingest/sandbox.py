"""Read an upload in a child process under a memory ceiling, so a hostile file fails its own job, not the app.

The parent sends the file on stdin; the child (`python -m core.ingest.sandbox`) limits its own address
space and CPU time first, parses, and answers one JSON object on stdout: the book, or the sentence
that refuses it, and its peak memory. JSON, not pickle: the child has read hostile bytes, so nothing it
sends back may run code in the app.
"""

from __future__ import annotations

import json
import logging
import resource
import struct
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from core.errors import UnreadableBookError
from core.ingest import ChapterText, ParsedBook

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]
CPU_SECONDS = 300
WALL_SECONDS = 600
TOO_MUCH_MEMORY = "Reading this file needs more memory than Plot Studio allows for one book; it was refused."
TOO_SLOW = "Reading this file took too long for a book; it was refused."
CRASHED = "This file could not be read: it is damaged or not really a book file."


@dataclass(frozen=True)
class SandboxedParse:
    """What the child answered: the book, or why not; and the most memory it held (KiB)."""

    book: ParsedBook | None
    error: str | None
    peak_rss_kib: int


def parse_upload(filename: str, data: bytes, *, max_bytes: int, max_words: int, memory_mb: int,
                 **options) -> ParsedBook:
    """`parse_book` in a child process with at most `memory_mb` of memory; raises UnreadableBookError."""
    result = run_parser(filename, data, max_bytes=max_bytes, max_words=max_words, memory_mb=memory_mb, **options)
    if result.error:
        raise UnreadableBookError(result.error)
    return result.book


def run_parser(filename: str, data: bytes, *, memory_mb: int, **limits) -> SandboxedParse:
    """Run the parser in a child and report what it said (never raises for a bad file)."""
    header = json.dumps({"filename": filename, "limits": limits, "memory_bytes": memory_mb * 1024 * 1024}).encode()
    child = subprocess.Popen([sys.executable, "-m", "core.ingest.sandbox"], cwd=REPO_ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = child.communicate(struct.pack(">I", len(header)) + header + data, timeout=WALL_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        return SandboxedParse(None, TOO_SLOW, 0)
    try:
        answer = json.loads(out)
    except ValueError:
        # Killed by its limits (SIGKILL on CPU, an allocation failing inside C code) or crashed.
        log.warning("upload parser for %r ended with code %s: %s", filename, child.returncode,
                    err.decode(errors="replace")[-2000:])
        reason = TOO_SLOW if child.returncode in (-9, -24) else TOO_MUCH_MEMORY if b"MemoryError" in err else CRASHED
        return SandboxedParse(None, reason, 0)
    if answer.get("detail"):
        log.warning("upload parser for %r failed:\n%s", filename, answer["detail"])
    book = answer.get("book")
    parsed = ParsedBook(book["title"], book["author"], [ChapterText(**chapter) for chapter in book["chapters"]],
                        book["split_method"], book["notes"]) if book else None
    return SandboxedParse(parsed, answer.get("error"), int(answer.get("peak_rss_kib", 0)))


def _child() -> None:
    """The child's side: limit ourselves, read the request, parse, answer."""
    stdin = sys.stdin.buffer
    (length,) = struct.unpack(">I", stdin.read(4))
    request = json.loads(stdin.read(length))
    ceiling = request["memory_bytes"]
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS + 5))
    answer: dict = {}
    try:
        data = stdin.read()
        from core.ingest.formats import parse_book

        book = parse_book(request["filename"], data, **request["limits"])
        del data
        answer["book"] = {"title": book.title, "author": book.author, "split_method": book.split_method,
                          "notes": list(book.notes), "chapters": [vars(chapter) for chapter in book.chapters]}
    except UnreadableBookError as error:
        answer["error"] = str(error)
    except MemoryError:
        answer = {"error": TOO_MUCH_MEMORY}
    except RecursionError:
        answer = {"error": "This file is nested too deeply to be a book; it was refused."}
    except Exception:  # a parser's bug on a strange file: one sentence for the writer, the detail in the log
        answer = {"error": CRASHED, "detail": traceback.format_exc()}
    answer["peak_rss_kib"] = _peak_rss_kib()
    sys.stdout.write(json.dumps(answer))


def _peak_rss_kib() -> int:
    """This process's peak resident memory since exec (ru_maxrss would include the parent's at fork)."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    except (OSError, StopIteration, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    _child()
