"""spaCy speed and offline character extraction on the corpus: words/s of the app's annotation (NER + parser)
against NER alone (the issue's baseline), and the bare PERSON-count top 10 against the engine's top 10.

    .venv/bin/python -m bench.characters
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import spacy

from core import nlp
from core.engines.offline.characters import ChapterReading, find_characters
from core.ingest.formats import parse_book

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "corpus"
NOVELS = ["pride_and_prejudice.txt", "frankenstein.txt", "little_women.txt", "the_man_in_the_brown_suit.txt"]


def normalise(name: str) -> str:
    return re.sub(r"[.\s]+", " ", name.replace("æ", "ae")).strip().lower()


def real(names: list[str], index: dict[str, str]) -> str | None:
    hits = [index[normalise(n)] for n in names if normalise(n) in index]
    return Counter(hits).most_common(1)[0][0] if hits else None


def main() -> None:
    truth = json.loads((CORPUS / "truth.json").read_text())
    ner_only = spacy.load(nlp.MODEL_PACKAGE, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer"])
    nlp.load_pipeline()
    for novel in NOVELS:
        book = parse_book(novel, (CORPUS / novel).read_bytes(), max_bytes=50_000_000, max_words=2_000_000)
        texts = [c.text for c in book.chapters if getattr(c, "kind", "chapter") == "chapter"]
        words = sum(len(t.split()) for t in texts)
        started = time.perf_counter()
        people = Counter(e.text for doc in ner_only.pipe(texts, batch_size=8) for e in doc.ents if e.label_ == "PERSON")
        ner_seconds = time.perf_counter() - started
        started = time.perf_counter()
        readings = [ChapterReading(n, t, nlp.annotate_chapter(t)) for n, t in enumerate(texts, start=1)]
        app_seconds = time.perf_counter() - started
        started = time.perf_counter()
        clusters = find_characters(readings)
        extract_seconds = time.perf_counter() - started
        characters = truth[novel]["characters"]
        index = {normalise(a): name for name, aliases in characters.items() for a in [name, *aliases]}
        firsts = Counter(normalise(name).split()[0] for name in characters if len(name.split()) > 1)
        for name in characters:  # a full name's first word counts, when no other character shares it (as the test)
            if len(name.split()) > 1 and firsts[normalise(name).split()[0]] == 1:
                index.setdefault(normalise(name).split()[0], name)
        baseline = [real([name], index) for name, _ in people.most_common(10)]
        engine = [real([n.text for n in c.names], index) for c in clusters[:10]]
        core = truth[novel]["core_characters"]
        found = {real([n.text for n in c.names], index) for c in clusters}
        print(f"{novel}: {words:,} words; annotate {words / app_seconds:,.0f} words/s (NER only "
              f"{words / ner_seconds:,.0f} words/s, ratio {ner_seconds / app_seconds:.2f}); extraction "
              f"{extract_seconds:.2f} s; precision@10 engine {sum(m is not None for m in engine)}/10 "
              f"(distinct {len({m for m in engine if m})}) vs bare PERSON counts "
              f"{sum(m is not None for m in baseline)}/10 (distinct {len({m for m in baseline if m})}); "
              f"core recall {sum(c in found for c in core)}/{len(core)}")


if __name__ == "__main__":
    main()
