"""The offline plot overview: a real draft from the book alone, by general rules (no model).

- People and places: capitalised words the book rarely writes in lower case, counted where they do not open a
  sentence (after a title they always count); a word mostly after "in/at/to/from…" is a place.
- Protagonist: the most named person; in a book told in the first person, the narrator, found as the name others
  call "dear"/"dearest"/"poor" (Victor in Frankenstein), since a narrator rarely names themself.
- Opposing force: the next most named person, unless the book keeps naming a monster (creature, fiend…).
- Conflict, story type, genre, tone, themes: the labelled descriptions (labels.py) closest to the book's
  passages by embedding similarity (mean of each label's nearest passages), those passages as evidence.
- Setting: the most named places and the period its objects tell (carriages, railways, telephones).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from core.artefacts import Citation, CitedPlotOverview, PlotOverview
from core.embeddings import get_embedder
from core.engines.citations import cite, nearest
from core.engines.offline import labels
from core.engines.reading import BookText, ChunkText

LABEL = "offline draft"
TITLES = set("mr mrs miss ms dr sir lady lord colonel captain major general professor aunt uncle madame "
             "monsieur st saint king queen prince princess father mother".split())
NOT_NAMES = set("""chapter letter book part volume god heaven yes no oh ah well now then there here what why how
when where who which that this these those the a an and but or if so not my your his her our their its it he she
they we you i me him them us mamma papa mama ma pa madam sir lady lord colonel captain mister mrs miss mr dr
english french german italian swiss american african european christian indeed perhaps alas hush come go let
don won can't mother father marmee aunt uncle sunday monday tuesday wednesday thursday friday saturday
january february march april may june july august september october november december christmas easter
street road house hall park lane square""".split())
PLACE_PREPOSITIONS = set("in at to from near towards through into across reached left visited".split())
MONSTERS = ("creature", "monster", "fiend", "daemon", "demon", "wretch", "beast")
_TOKEN = re.compile(r"[A-Za-z][a-z]+(?:[-'][A-Za-z][a-z]+)?|[A-Z]\.?")
_WORDS = re.compile(r"[a-z]+")
_FIRST_PERSON = re.compile(r"\bI\b")
_QUOTED = re.compile(r"[\"“][^\"”]{0,2000}[\"”]", re.S)
_DEAR = re.compile(r"\b(?:[Dd]ear|[Dd]earest|[Pp]oor|[Mm]y\s+dear)\s+([A-Z][a-z]+)")


@dataclass
class Names:
    people: list[tuple[str, int]]  # most named first
    places: list[tuple[str, int]]
    full_names: dict[str, str]  # first name -> "First Surname" when the book writes it so
    narrator: str | None


def read_names(text: str) -> Names:
    """People and places of a book, by counting capitalised words and the words around them."""
    lower = Counter(_WORDS.findall(text))
    counts, after_preposition, followers = Counter(), Counter(), Counter()
    tokens = list(_TOKEN.finditer(text))
    for index, match in enumerate(tokens):
        word = match.group()
        if not word[0].isupper() or len(word) < 2 or word.lower() in NOT_NAMES:
            continue
        previous = tokens[index - 1].group() if index else ""
        gap = text[tokens[index - 1].end():match.start()] if index else "."
        after_title = previous.lower().rstrip(".") in TITLES
        opens_sentence = bool(re.search(r"[.!?:;]|\n\s*\n", gap)) or gap.strip() in ("\"", "“", "‘", "'")
        starts_full_name = index + 1 < len(tokens) and tokens[index + 1].group()[0].isupper() \
            and text[match.end():tokens[index + 1].start()] == " "
        if opens_sentence and not after_title and not starts_full_name:
            continue
        counts[word] += 1
        if previous.lower() in PLACE_PREPOSITIONS:
            after_preposition[word] += 1
        if index + 1 < len(tokens) and text[match.end():tokens[index + 1].start()] == " " \
                and tokens[index + 1].group()[0].isupper():
            followers[(word, tokens[index + 1].group())] += 1
    names = {w: n for w, n in counts.items() if n >= 3 and lower[w.lower()] <= 0.1 * n}
    places = {w: n for w, n in names.items() if after_preposition[w] >= max(2, 0.3 * n)}
    people = sorted(((w, n) for w, n in names.items() if w not in places), key=lambda item: -item[1])
    full = {}
    for (first, second), n in followers.items():
        if first in names and second in names and second not in places and n >= 3 and first not in full:
            if n >= max(count for (f, _), count in followers.items() if f == first):
                full[first] = f"{first} {second}"
    return Names(people, sorted(places.items(), key=lambda item: -item[1]), full, _narrator(text, names, places))


def _narrator(text: str, names: dict[str, int], places: dict[str, int]) -> str | None:
    """The narrator of a first-person book: the person most often called dear/poor by others; else None."""
    narration = _QUOTED.sub(" ", text)
    if len(_FIRST_PERSON.findall(narration)) < 0.01 * max(1, len(narration.split())):
        return None
    called = Counter(m.group(1) for m in _DEAR.finditer(text) if m.group(1) in names and m.group(1) not in places)
    return called.most_common(1)[0][0] if called else None


def protagonist_and_opponent(book: BookText) -> tuple[str, str, Names]:
    names = read_names(book.text)
    if not names.people:
        return "the narrator", "the world around them", names
    protagonist = names.narrator or names.people[0][0]
    if protagonist not in names.full_names:  # a surname ranked first: the full name it ends
        protagonist = next((full.split()[0] for full in names.full_names.values()
                            if full.split()[-1] == protagonist), protagonist)
    others = [(w, n) for w, n in names.people if w != protagonist
              and w not in names.full_names.get(protagonist, protagonist).split()]
    lower = Counter(_WORDS.findall(book.text.lower()))
    monsters = sorted(((lower[m], m) for m in MONSTERS), reverse=True)
    monster_mentions = sum(n for n, _ in monsters)
    if others and monster_mentions < 0.5 * others[0][1]:
        opponent = names.full_names.get(others[0][0], others[0][0])
    elif monster_mentions:
        opponent = f"the {monsters[0][1]}"
    else:
        opponent = "the world around them"
    return names.full_names.get(protagonist, protagonist), opponent, names


def _rank(book: BookText, described: dict[str, str], vectors: np.ndarray, k: int = 8) \
        -> list[tuple[str, float, list[ChunkText]]]:
    """Labels by how close the book's nearest passages come to each description (mean of the top k)."""
    ranked = []
    for (label, _), vector in zip(described.items(), vectors):
        hits = nearest(book.chunks, vector, k)
        ranked.append((label, float(np.mean([s for _, s in hits])) if hits else 0.0, [c for c, _ in hits]))
    return sorted(ranked, key=lambda item: -item[1])


def _period(text: str) -> str:
    lower = Counter(_WORDS.findall(text.lower()))
    years = Counter(m.group(1)[:3] for m in re.finditer(r"\b(1[5-9]\d\d)\b", text))
    if years and years.most_common(1)[0][1] >= 3:
        return f"the {years.most_common(1)[0][0]}0s"
    for period, cues in labels.PERIOD_CUES:
        if sum(lower[c] for c in cues) >= 5:
            return period
    return "an unnamed time"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def plot_overview(book: BookText, instructions: str | None = None) -> tuple[CitedPlotOverview, list[int]]:
    """A plot overview of the book, with citations, and the chunk ids it rests on."""
    protagonist, opponent, names = protagonist_and_opponent(book)
    embedder = get_embedder()
    groups = {"conflict": {k: v[0] for k, v in labels.CONFLICTS.items()}, "story_type": labels.STORY_TYPES,
              "genre": labels.GENRES, "tone": labels.TONES, "themes": labels.THEMES}
    descriptions = [d for group in groups.values() for d in group.values()]
    vectors = np.asarray(embedder.embed_documents(descriptions), dtype=np.float32)
    ranked, start = {}, 0
    for field, group in groups.items():
        ranked[field] = _rank(book, group, vectors[start:start + len(group)])
        start += len(group)
    conflict = ranked["conflict"][0][0]
    first_name = protagonist.split()[0]
    logline = labels.CONFLICTS[conflict][1].format(p=protagonist, o=opponent)
    logline = logline.replace(f" {protagonist} loves", f" {first_name} loves")  # the full name once is enough
    places = [place for place, _ in names.places[:3]]
    period = _period(book.text)
    setting = f"{_join(places)}, in {period}." if places else f"An unnamed place, in {period}."
    if places:
        logline = f"In {_join(places[:2])}, {logline}"
    themes = [label for label, _, _ in ranked["themes"][:4]]
    genre = ranked["genre"][0][0]
    overview = PlotOverview(logline=logline, themes=themes, story_type=ranked["story_type"][0][0], genre=genre,
                            tone=ranked["tone"][0][0], audience=labels.AUDIENCE_BY_GENRE.get(genre, "Adults"),
                            setting=setting)
    citations = {
        "logline": _cite_names(book, [first_name, opponent.split()[-1]], logline)
        or cite(ranked["conflict"][0][2], logline),
        "themes": [c for label, _, chunks in ranked["themes"][:2] for c in cite(chunks, labels.THEMES[label], limit=1)],
        "story_type": cite(ranked["story_type"][0][2], labels.STORY_TYPES[overview.story_type]),
        "genre": cite(ranked["genre"][0][2], labels.GENRES[genre]),
        "tone": cite(ranked["tone"][0][2], labels.TONES[overview.tone]),
        "audience": cite(ranked["genre"][0][2], labels.GENRES[genre], limit=1),
        # each place on its own: two places seldom share a passage
        "setting": [c for place in places[:2] for c in _cite_names(book, [place], setting, limit=1)]
        or cite(ranked["conflict"][0][2], setting, limit=1),
    }
    cited = CitedPlotOverview(overview=overview, citations=citations, label=LABEL)
    return cited, sorted({c.chunk_id for field in citations.values() for c in field})


def _cite_names(book: BookText, words: list[str], about: str, limit: int = 2) -> list[Citation]:
    """Citations of the chunks that name all the words most often (e.g. protagonist with opponent)."""
    patterns = [re.compile(rf"\b{re.escape(w)}\b", re.I) for w in words if w]
    scored = [(min(len(p.findall(c.text)) for p in patterns), c) for c in book.chunks] if patterns else []
    best = [c for n, c in sorted(scored, key=lambda item: -item[0]) if n > 0][:limit]
    out = []
    for chunk in best:
        quote = next((s for s in _sentences_naming(chunk.text, patterns)), None)
        out += cite([chunk], about) if quote is None else [
            Citation(chunk_id=chunk.id, chapter_number=chunk.chapter_number, quote=quote)]
    return out


def _sentences_naming(text: str, patterns: list[re.Pattern]) -> list[str]:
    from core.engines.reading import sentences
    found = [s for s in sentences(text) if all(p.search(s) for p in patterns) and len(s) <= 400]
    return found or [s for s in sentences(text) if patterns[0].search(s) and len(s) <= 400]
