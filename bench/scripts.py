"""Offline screenplays for every chapter of a novel, the whole book as a PDF, and the scene aligner on 120 pages.

Run from the repository root: `.venv/bin/python -m bench.scripts [BOOK.txt]` (see bench/README.md). Needs no
database: the engine, the exporters and the aligner are pure functions over text.
"""

from __future__ import annotations

import difflib
import io
import json
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORPUS = REPO / "tests" / "corpus"
TARGET_PAGES = 120
SCENES = 190


def chapters_of(name: str):
    from core.ingest.formats import parse_book
    truth = json.loads((CORPUS / "truth.json").read_text())[name]
    openings = [c["starts_with"] for c in truth["chapters"]]
    parsed = parse_book(name, (CORPUS / name).read_bytes(), max_bytes=10 ** 9, max_words=10 ** 8)
    chapters = [c for c in parsed.chapters if any(" ".join(c.text.split()).startswith(o) for o in openings)]
    return parsed, chapters, truth["characters"]


def offline_scripts(name: str):
    from core.engines.offline.script import CharacterRef, _pipeline, chapter_script
    from core.screenplay import fountain as ftn
    parsed, chapters, characters = chapters_of(name)
    board = [CharacterRef(canonical, aliases) for canonical, aliases in characters.items()]
    started = time.perf_counter()
    _pipeline()
    load = time.perf_counter() - started
    seconds, pages, texts, scenes = [], [], [], 0
    for number, chapter in enumerate(chapters, start=1):
        started = time.perf_counter()
        text = chapter_script(chapter.text, book_title=parsed.title or name, chapter_number=number,
                              chapter_title=chapter.title, characters=board).fountain
        seconds.append(time.perf_counter() - started)
        script = ftn.parse(text)
        pages.append(script.pages)
        scenes += len(script.scenes)
        texts.append((number, chapter.title, text))
    words = sum(len(c.text.split()) for c in chapters)
    print(f"{name}: {len(chapters)} chapters, {words:,} words; spaCy load {load:.2f} s")
    print(f"  offline script per chapter: mean {statistics.mean(seconds):.3f} s, median "
          f"{statistics.median(seconds):.3f} s, max {max(seconds):.3f} s; total {sum(seconds):.1f} s "
          f"({words / sum(seconds):,.0f} words/s)")
    print(f"  produced {sum(pages):.0f} pages ({statistics.mean(pages):.1f} per chapter), {scenes} scenes")
    return parsed, texts


def whole_book_pdf(title: str, texts) -> str:
    import pypdf

    from core.screenplay import export
    book = export.whole_book(title, None, [export.ChapterText(n, t, f) for n, t, f in texts])
    started = time.perf_counter()
    pdf = export.to_pdf(book)
    elapsed = time.perf_counter() - started
    pages = len(pypdf.PdfReader(io.BytesIO(pdf)).pages)
    started = time.perf_counter()
    export.to_fdx(book)
    fdx = time.perf_counter() - started
    print(f"  whole-book PDF: {elapsed:.2f} s for {pages} pages ({pages / elapsed:.0f} pages/s); FDX {fdx:.2f} s")
    return book


def two_versions(book: str) -> tuple[str, str]:
    """A 120-page screenplay cut from the book, and an edit of it: scenes deleted, inserted, moved, reworded."""
    from core.screenplay import fountain as ftn
    blocks = ftn.body_of(book).split("\n\n")
    scenes, current = [], []
    for block in blocks:
        if ftn.parse(block + "\n").scenes and current:
            scenes.append(current)
            current = []
        current.append(block)
    scenes.append(current)
    chosen, lines = [], 0
    for scene in scenes:
        chosen.append("\n\n".join(scene))
        if ftn.parse("\n\n".join(chosen)).pages >= TARGET_PAGES:
            break
    # A feature runs to ~190 scenes in 120 pages; the offline drafts cut fewer, so cut the same text finer.
    blocks = "\n\n".join(chosen).split("\n\n")
    step = max(1, len(blocks) // SCENES)
    chosen, current = [], []
    for index, block in enumerate(blocks):
        if index % step == 0 and current and len(chosen) < SCENES - 1:
            chosen.append("\n\n".join(current))
            current = [] if ftn.parse(block + "\n").scenes else [f"INT. ROOM {len(chosen)} - DAY"]
        current.append(block)
    chosen.append("\n\n".join(current))
    rng = random.Random(7)
    edited = list(chosen)
    for index in sorted(rng.sample(range(len(edited)), 5), reverse=True):
        del edited[index]
    for _ in range(5):
        at = rng.randrange(len(edited))
        edited.insert(at, f"EXT. NEW PLACE {at} - DAY\n\nSomething new happens here.\n\nELINOR\nA line never written.")
    for index in rng.sample(range(len(edited)), 20):
        words = edited[index].split(" ")
        for _ in range(5):
            words[rng.randrange(len(words))] = "CHANGED"
        edited[index] = " ".join(words)
    a, b = rng.sample(range(len(edited)), 2)
    edited[a], edited[b] = edited[b], edited[a]
    return "\n\n".join(chosen) + "\n", "\n\n".join(edited) + "\n"


def aligner(book: str) -> None:
    from core.screenplay import align
    from core.screenplay import fountain as ftn
    left_text, right_text = two_versions(book)
    started = time.perf_counter()
    left, right = ftn._parse(left_text), ftn._parse(right_text)
    parse = time.perf_counter() - started
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        result = align.compare(left, right)
        runs.append(time.perf_counter() - started)
    compare = min(runs)
    started = time.perf_counter()
    opcodes = difflib.SequenceMatcher(None, left_text.split(), right_text.split(), autojunk=False).get_opcodes()
    naive = time.perf_counter() - started
    print(f"  aligner on {left.pages:.0f} vs {right.pages:.0f} pages ({len(left.scenes)} vs {len(right.scenes)} scenes): "
          f"parse both {parse:.2f} s, compare {compare:.3f} s (best of 3); rows {result.counts()}")
    print(f"  naive difflib over the whole texts' words: {naive:.2f} s, {len(opcodes)} opcodes, no scenes "
          f"= {naive / compare:.1f}x the aligner's time ({naive / (compare + parse):.1f}x with parsing)")


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "pride_and_prejudice.txt"
    parsed, texts = offline_scripts(name)
    book = whole_book_pdf(parsed.title or name, texts)
    aligner(book)


if __name__ == "__main__":
    main()
