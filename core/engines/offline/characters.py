"""Offline character extraction: the book's people from its NLP annotations, by rules that hold for any novel.

Candidates are spaCy PERSON mentions, titled names (`Mr. Collins`) and speakers of attributed speech, counted
over the whole book. Words the book mostly writes in lower case, names read mostly as places or dates, and
capitalised words seen only at the start of sentences are dropped. Names are merged when one is contained in
another with compatible titles (`Elizabeth` → `Miss Elizabeth Bennet` → `Elizabeth Bennet`), while different
titles of one surname stay apart (`Mr. Bennet`, `Mrs. Bennet`). Characters are ranked by mentions, dialogue and
chapters present. Profiles are drafted by extraction from the sentences that name the character, each field
with the sentences it rests on, and labelled "offline draft".
"""

from __future__ import annotations

import calendar
import math
import re
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from core.artefacts import (ArchetypeAnalysis, ArchetypeFit, CharacterProfile, CharacterStats, Citation,
                            CitedCharacter)
from core.nlp import ChapterAnnotations

LABEL = "offline draft"
MALE_TITLES = frozenset("mr sir lord colonel captain major general sergeant lieutenant admiral monsieur m father "
                        "brother master count baron duke prince king uncle inspector reverend rev judge".split())
FEMALE_TITLES = frozenset("mrs miss ms mme mlle madame lady dame mother sister mistress countess baroness duchess "
                          "princess queen aunt".split())
NEUTRAL_TITLES = frozenset("dr doctor professor".split())
TITLES = MALE_TITLES | FEMALE_TITLES | NEUTRAL_TITLES
# Titles used with a first name ("Miss Anne", "Lady Catherine", "Sir William"), not only with a surname.
FIRST_NAME_TITLES = frozenset("miss lady sir lord dame master aunt uncle madame mademoiselle".split())
NAME_PARTICLES = frozenset("de da di van von la le du del della der".split())
CALENDAR_WORDS = frozenset(w.lower() for w in [*calendar.day_name, *calendar.month_name, "Christmas", "Easter"] if w)
# Words for a relative, a title or a deity alone ("Mamma", "Aunt", "God") address or invoke, they do not name.
KINSHIP_WORDS = frozenset("god lord heaven providence mamma mama mamma papa pa ma mother father grandma grandpa granny grandmother grandfather "
                          "aunt aunty auntie uncle sister brother cousin nurse baby sir madam ma'am".split())
# Grammatical roles of a person's name: doing, owning, being addressed ("Lizzy, come"). A place's are not these.
ACTING_DEPS = frozenset("nsubj nsubjpass poss npadvmod intj appos dep ROOT attr".split())
MIN_MENTIONS = 3
EPITHET_MIN_SPEECHES = 2
EPITHET_MIN_MENTIONS = 8


@dataclass
class ChapterReading:
    """One chapter as extraction sees it: its number, text, annotations and chunk spans (for citations)."""

    number: int
    text: str
    annotations: ChapterAnnotations
    chunks: list[tuple[int, int, int]] = field(default_factory=list)  # (chunk id, char start, char end)

    def chunk_at(self, offset: int) -> int:
        return next((cid for cid, start, end in self.chunks if start <= offset < end), 0)


@dataclass
class Name:
    """One surface form of a name and what the book does with it."""

    text: str
    title: str | None
    words: tuple[str, ...]
    person: int = 0  # mentions the model read as a person
    occurrences: int = 0  # every occurrence in the text
    in_quotes: int = 0  # occurrences inside quoted speech (others talking to or about them)
    elsewhere: int = 0  # read as a place or a date
    after_place_word: int = 0
    acting: int = 0  # mentions as a subject, a possessor or someone addressed
    dialogue: int = 0
    chapters: set[int] = field(default_factory=set)
    places: list[tuple[int, int]] = field(default_factory=list)  # (chapter index, sentence index)

    @property
    def gender(self) -> str | None:
        if not self.title:
            return None
        key = self.title.lower()
        return "m" if key in MALE_TITLES else "f" if key in FEMALE_TITLES else None


@dataclass
class Cluster:
    """A character: the names merged into it and its counts over the book."""

    names: list[Name]

    @property
    def mentions(self) -> int:
        return sum(n.occurrences for n in self.names)

    @property
    def in_quotes(self) -> int:
        return sum(n.in_quotes for n in self.names)

    @property
    def weight(self) -> int:
        """Evidence while merging, before the text is counted: what the model read as this person."""
        return sum(n.person + n.dialogue for n in self.names)

    @property
    def dialogue(self) -> int:
        return sum(n.dialogue for n in self.names)

    @property
    def chapters(self) -> set[int]:
        return set().union(*(n.chapters for n in self.names))

    @property
    def display_name(self) -> str:
        """The fullest name the book uses for a fifth as often as its commonest name, else the commonest."""
        top = max(n.occurrences for n in self.names)
        frequent = [n for n in self.names if n.occurrences >= max(2, top / 5)] or self.names
        return max(frequent, key=lambda n: (len(n.words) + (n.title is not None) * 0.5, n.occurrences)).text

    @property
    def importance(self) -> float:
        return self.mentions + 2 * self.dialogue + 3 * len(self.chapters)


def split_name(text: str) -> tuple[str | None, tuple[str, ...]]:
    """`Mrs. Bennet` -> ("Mrs", ("Bennet",)); particles stay with the name; a bare title has no words."""
    parts = text.replace(".", ". ").split()
    title = None
    if len(parts) > 1 and parts[0].rstrip(".").lower() in TITLES:
        title, parts = parts[0].rstrip("."), parts[1:]
    return title, tuple(p.rstrip(".") for p in parts if p.rstrip("."))


def _canonical(text: str) -> str:
    title, words = split_name(text)
    dotted = title and (title.lower() in {"mr", "mrs", "ms", "dr", "st", "rev"} or len(title) == 1)
    return " ".join(([f"{title}." if dotted else title] if title else []) + list(words))


def _looks_like_a_name(words: tuple[str, ...]) -> bool:
    if not words:
        return False
    return all((w[:1].isupper() and re.fullmatch(r"[A-Za-zÀ-ÿ'’\-]+", w)) or w.lower() in NAME_PARTICLES
               for w in words) and words[0][:1].isupper()


def collect_names(chapters: list[ChapterReading], lower: Counter, inner_capital: Counter
                  ) -> tuple[dict[str, Name], Counter]:
    """Every PERSON surface form and attributed speaker with its counts, and the epithet speakers ("the stranger")."""
    names: dict[str, Name] = {}
    epithets: Counter = Counter()

    def name_for(text: str) -> Name | None:
        key = _without_leading_common_words(_canonical(text), lower, inner_capital)
        title, words = split_name(key)
        if not _looks_like_a_name(words):
            return None
        if key not in names:
            names[key] = Name(key, title, words)
        return names[key]

    for index, chapter in enumerate(chapters):
        for mention in chapter.annotations.mentions:
            name = name_for(mention.text)
            if name is None:
                continue
            if mention.label == "PERSON":
                name.person += 1
                name.after_place_word += mention.after_place_word or _after_article(chapter.text, mention.start)
                name.acting += mention.dep in ACTING_DEPS
            else:
                name.elsewhere += 1
        for speech in chapter.annotations.speeches:
            if speech.speaker.startswith("the "):
                epithets[speech.speaker] += 1
                continue
            name = name_for(speech.speaker)
            if name is not None:
                name.dialogue += 1
    return names, epithets


def _without_leading_common_words(name: str, lower: Counter, inner_capital: Counter) -> str:
    """ "Poor Jo" -> "Jo", "Dearest Clerval" -> "Clerval": a first word the book mostly writes in lower case."""
    title, words = split_name(name)
    if title is None:
        while len(words) > 1 and lower[words[0].lower()] > inner_capital[words[0].lower()]:
            words = words[1:]
        return " ".join(words)
    return name


def _after_article(text: str, start: int) -> bool:
    """A name after "the" is a ship, a house or an inn more often than a person."""
    return re.search(r"\bthe[\s_*“\"‘']{1,3}$", text[max(0, start - 8):start], re.I) is not None


def _word_case_counts(chapters: list[ChapterReading]) -> tuple[Counter, Counter]:
    """How often each word appears in lower case, and capitalised other than to open a sentence."""
    lower, inner_capital = Counter(), Counter()
    for chapter in chapters:
        for match in re.finditer(r"(?<![\w’'])([A-Za-zÀ-ÿ][a-zà-ÿ’']+)", chapter.text):
            word = match.group(1)
            if word[0].islower():
                lower[word] += 1
            elif match.start() > 0 and not re.search(r"(^|[.!?:;\"“‘(\n—_]\s*)$",
                                                      chapter.text[max(0, match.start() - 3):match.start()]):
                inner_capital[word.lower()] += 1
    return lower, inner_capital


def keep_name(name: Name, lower: Counter, inner_capital: Counter) -> bool:
    """General rules that separate people from the other capitalised words."""
    if name.person + name.dialogue == 0:
        return False
    if name.elsewhere > name.person:  # read as a place or a date more often than as a person
        return False
    if name.person and name.after_place_word / name.person > 0.5:  # "to Pemberley", "the Kilmorden Castle"
        return False
    if any(w.lower() in CALENDAR_WORDS for w in name.words):
        return False
    if name.title is None and not name.dialogue and name.person >= 2 and name.acting < 0.15 * name.person:
        return False  # never acts, owns or is spoken to: gone to, left, passed (a place the model took for a person)
    if name.title is None and len(name.words) == 1:
        word = name.words[0].lower()
        if word in KINSHIP_WORDS or word in TITLES:
            return False
        # A common word capitalised by position ("Pray", "Nay", "Hope"): the book writes it in lower case more.
        if lower[word] > inner_capital[word]:
            return False
        if inner_capital[word] == 0:  # only ever at the start of a sentence
            return False
    return True


def merge_names(names: list[Name]) -> list[Cluster]:
    """Join every name to the cluster of fuller names that contains it, when that is unambiguous.

    Longer names are placed first; a shorter one joins a cluster holding a name that contains all its words,
    with titles that agree (never Mrs with Miss, never a man's title with a woman's). A titled surname
    (`Mr. Clerval`) joins an untitled full name (`Henry Clerval`) only when that is the one full name with that
    surname. A bare surname that several clusters share joins the `Mr.` of that surname if there is one
    (narration calls men by their surname), else the cluster with three times the mentions of the next, else
    stays apart.
    """
    full_names = [n for n in names if n.title is None and len(n.words) > 1]
    full_names_by_surname = Counter([n.words[-1] for n in full_names] + [f"first:{n.words[0]}" for n in full_names])
    ordered = sorted(names, key=lambda n: (-len(n.words), n.title is None, -n.person - n.dialogue))
    clusters: list[Cluster] = []
    for name in ordered:
        matches = [c for c in clusters if _joins(c, name, full_names_by_surname)]
        target = _choose(name, matches)
        if target is None:
            clusters.append(Cluster([name]))
        else:
            target.names.append(name)
    return clusters


def _compatible_titles(a: Name, b: Name) -> bool:
    if a.title is None or b.title is None or a.title.lower() == b.title.lower():
        return True
    if {a.title.lower(), b.title.lower()} & {"mrs", "miss", "ms", "mme", "mlle"}:
        return False  # a married and an unmarried title are different women
    return a.gender is not None and a.gender == b.gender


def _joins(cluster: Cluster, name: Name, full_names_by_surname: Counter) -> bool:
    if name.title and not all(_compatible_titles(name, other) for other in cluster.names if other.title):
        return False
    return any(_contains(other, name, full_names_by_surname) for other in cluster.names)


def _contains(longer: Name, shorter: Name, full_names_by_surname: Counter) -> bool:
    if not _compatible_titles(longer, shorter) or len(shorter.words) > len(longer.words):
        return False
    if longer.title and longer.title.lower() == "mrs" and len(longer.words) > 1 and shorter.title is None:
        return False  # "Mrs. John Brooke" is John Brooke's wife, not John Brooke
    if shorter.words == longer.words:
        return longer.title is not None and shorter.title is None
    if shorter.title and not longer.title and len(shorter.words) == 1:
        # "Mr. Bennet" is not "Elizabeth Bennet"; "M. Clerval" is "Henry Clerval" when he is the only Clerval,
        # "Miss Anne" is "Anne Beddingfeld" when she is the only Anne.
        word = shorter.words[0]
        if word == longer.words[-1] and full_names_by_surname[word] == 1:
            return True
        return (word == longer.words[0] and shorter.title.lower() in FIRST_NAME_TITLES
                and full_names_by_surname[f"first:{word}"] == 1)
    if shorter.title and longer.title and shorter.title.lower() != longer.title.lower():
        return False
    if len(shorter.words) == 1 and len(longer.words) > 1:
        # "Elizabeth" is the first name of "Elizabeth Bennet", "Bennet" its surname; a middle word does not count.
        return shorter.words[0] in (longer.words[0], longer.words[-1])
    return all(w in longer.words for w in shorter.words)


def _choose(name: Name, matches: list[Cluster]) -> Cluster | None:
    if not matches:
        return None
    if len(matches) == 1:
        return matches[0]
    if name.title:
        same_title = [c for c in matches if any(n.title and n.title.lower() == name.title.lower() for n in c.names)]
        if len(same_title) == 1:
            return same_title[0]
    if name.title is None and len(name.words) == 1:
        misters = [c for c in matches if any(n.title and n.title.lower() in ("mr", "m", "monsieur")
                                             and n.words[-1] == name.words[0] for n in c.names)]
        if len(misters) == 1:
            return misters[0]
    ranked = sorted(matches, key=lambda c: -c.weight)
    if ranked[0].weight >= 3 * max(1, ranked[1].weight):
        return ranked[0]
    return None


CAPITALISED_RUN = re.compile(r"[A-ZÀ-Þ][\w’'-]*\.?(?:\s+(?:[A-ZÀ-Þ][\w’'-]*\.?|de|da|di|van|von|la|le|du|del))*")


def count_mentions(chapters: list[ChapterReading], clusters: list[Cluster]) -> None:
    """Count every occurrence of every name in the text (NER misses some), longest name first so that
    `Mrs. Bennet` is never also counted as `Bennet`; record the chapters and sentences where each occurs."""
    owners = {_canonical(name.text): name for cluster in clusters for name in cluster.names}
    longest = max((len(n.words) + 1 for n in owners.values()), default=0)
    for index, chapter in enumerate(chapters):
        starts = [start for start, _ in chapter.annotations.sentences]
        quotes = chapter.annotations.quotes
        quote_starts = [start for start, _ in quotes]
        for run in CAPITALISED_RUN.finditer(chapter.text):
            tokens = [(m.start(), re.sub(r"[’']s$", "", m.group())) for m in re.finditer(r"\S+", run.group())]
            i = 0
            while i < len(tokens):
                for j in range(min(len(tokens), i + longest), i, -1):
                    name = owners.get(_canonical(" ".join(t for _, t in tokens[i:j])))
                    if name is not None:
                        name.occurrences += 1
                        name.chapters.add(index)
                        offset = run.start() + tokens[i][0]
                        name.places.append((index, max(0, bisect_right(starts, offset) - 1)))
                        q = bisect_right(quote_starts, offset) - 1
                        name.in_quotes += q >= 0 and offset < quotes[q][1]
                        i = j
                        break
                else:
                    i += 1


def epithet_characters(chapters: list[ChapterReading], epithets: Counter) -> list[Cluster]:
    """Characters the book names only by a definite description ("the dæmon"): an epithet that speaks at least
    twice, occurs often, and mostly (70%) with "the" (the stranger of one chapter is "a stranger" elsewhere)."""
    found = []
    for epithet, speeches in epithets.items():
        if speeches < EPITHET_MIN_SPEECHES:
            continue
        noun = epithet.split()[-1]
        definite = sum(len(re.findall(rf"\bthe {re.escape(noun)}\b", c.text, re.I)) for c in chapters)
        anywhere = sum(len(re.findall(rf"\b{re.escape(noun)}\b", c.text, re.I)) for c in chapters)
        if definite >= EPITHET_MIN_MENTIONS and definite >= 0.7 * anywhere:
            name = Name(epithet[:1].upper() + epithet[1:], None, ("The", noun), dialogue=speeches)
            found.append((Cluster([name]), noun))
    for cluster, noun in found:
        name = cluster.names[0]
        for index, chapter in enumerate(chapters):
            starts = [start for start, _ in chapter.annotations.sentences]
            for match in re.finditer(rf"\bthe {re.escape(noun)}\b", chapter.text, re.I):
                name.occurrences += 1
                name.chapters.add(index)
                name.places.append((index, max(0, bisect_right(starts, match.start()) - 1)))
    return [c for c, _ in found]


def find_characters(chapters: list[ChapterReading], *, limit: int = 40) -> list[Cluster]:
    """The book's characters, most important first."""
    lower, inner_capital = _word_case_counts(chapters)
    names, epithets = collect_names(chapters, lower, inner_capital)
    kept = [n for n in names.values() if keep_name(n, lower, inner_capital)]
    clusters = merge_names(kept)
    count_mentions(chapters, clusters)
    clusters += epithet_characters(chapters, epithets)
    clusters = [c for c in clusters if c.mentions + c.dialogue >= MIN_MENTIONS]
    clusters.sort(key=lambda c: -c.importance)
    return clusters[:limit]


# --- profiles drafted by extraction --------------------------------------------------------------------------

PHYSICAL_WORDS = frozenset("""eyes eye hair face complexion figure tall short stout thin slender handsome pretty beautiful
plain ugly pale dark fair blond blonde curly grey gray features height skin cheeks lips nose forehead brow beard
moustache whiskers dressed dress gown coat bonnet hat cap cloak uniform spectacles years aged elderly""".split())
STATE_WORDS = frozenset("""sure glad sorry able unable afraid aware certain ready willing dear much more own other same
such first last next few many whole own very least best better worse obliged""".split())
NEGATIVE_TRAITS = frozenset("""proud vain jealous foolish silly selfish cruel wicked angry haughty arrogant idle rude cold
conceited insolent sullen bitter spiteful resentful deceitful stubborn reckless impatient timid weak cowardly
miserable wretched violent vindictive malicious disagreeable impertinent ignorant careless lazy greedy""".split())
WANT_CUES = re.compile(r"\b(wish(?:ed|es)?|want(?:ed|s)?|long(?:ed|s)? (?:for|to)|hop(?:ed|es) (?:to|for|that)|"
                       r"desir(?:ed|es)|(?:was|is) determined|resolved|meant to|dream(?:ed|s)? of|ambition)\b", re.I)
LIE_CUES = re.compile(r"\b(believ(?:ed|es)|fancied|imagined|(?:was|is|felt) (?:convinced|persuaded|sure)|"
                      r"persuaded (?:herself|himself))\b", re.I)
GHOST_CUES = re.compile(r"\b(died|death|dead|lost|orphan(?:ed)?|grave|mourning|misfortune|ruin(?:ed)?|disgrace|"
                        r"childhood|infancy|abandon(?:ed)?|never forg(?:ot|ive|iven))\b", re.I)
ADVICE_CUES = re.compile(r"\b(advi[sc]e[ds]?|counsel(?:l?ed)?|warn(?:ed|ing)?|taught|teach(?:es)?|lessons?|"
                         r"guid(?:e|ed|ance)|instruct(?:ed|ion)s?)\b", re.I)
LOVE_CUES = re.compile(r"\b(lov(?:e|ed|er|ing)|marr(?:y|ied|iage)|heart|affection|admir(?:e|ed|ation)|kiss(?:ed)?|"
                       r"propos(?:al|ed)|engaged|engagement)\b", re.I)
CONFLICT_CUES = re.compile(r"\b(enem(?:y|ies)|hat(?:e|ed|red)|reveng(?:e|ed)|villain\w*|wicked\w*|cruel\w*|murder\w*|"
                           r"deceiv\w*|deceit\w*|destroy\w*|threat\w*|insult\w*|fiend\w*|malic\w*|plot(?:ted|ting))\b",
                           re.I)
ELDER_CUES = re.compile(r"\b(old|elder(?:ly)?|aged|grey|gray|father|mother|aunt|uncle|professor|doctor|master)\b", re.I)
ROLE_ARCHETYPES = {"protagonist": "The Hero", "antagonist": "The Shadow"}


@dataclass
class Evidence:
    chapter: int  # index in the book's chapter list
    sentence: int
    text: str


def sentences_of(cluster: Cluster, chapters: list[ChapterReading]) -> list[Evidence]:
    """The sentences that name the character, in book order, without repeats."""
    seen = sorted({place for name in cluster.names for place in name.places})
    return [Evidence(c, s, chapters[c].annotations.sentence_text(chapters[c].text, s)) for c, s in seen
            if s < len(chapters[c].annotations.sentences)]


def _quote(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def _cite(chapters: list[ChapterReading], evidence: Evidence) -> Citation:
    chapter = chapters[evidence.chapter]
    start = chapter.annotations.sentences[evidence.sentence][0]
    return Citation(chunk_id=chapter.chunk_at(start), chapter_number=chapter.number, quote=_quote(evidence.text))


def _adjectives(cluster: Cluster, chapters: list[ChapterReading]) -> list[tuple[str, Evidence]]:
    names = {n.text for n in cluster.names} | {" ".join(n.words) for n in cluster.names}
    found = []
    for index, chapter in enumerate(chapters):
        for d in chapter.annotations.descriptors:
            if _canonical(d.name) in names or d.name in names:
                if d.word.isalpha() and d.word not in STATE_WORDS and len(d.word) > 2:
                    found.append((d.word, Evidence(index, d.sentence,
                                                   chapter.annotations.sentence_text(chapter.text, d.sentence))))
    return found


def _first_matching(evidence: list[Evidence], cue: re.Pattern, cluster: Cluster) -> Evidence | None:
    """The first sentence where the cue follows one of the character's names closely (they are its subject)."""
    names = "|".join(re.escape(n.text) for n in sorted(cluster.names, key=lambda n: -len(n.text)))
    subject = re.compile(rf"\b(?:{names})\b[^.;:!?“”\"]{{0,50}}?{cue.pattern}", re.I)
    return next((e for e in evidence if subject.search(e.text)), None)


def _quoted(evidence: list[Evidence]) -> str:
    return " ".join(_quote(e.text) if e.text[:1] in "“\"‘'" else f"“{_quote(e.text)}”" for e in evidence)


def draft_profile(cluster: Cluster, role: str, chapters: list[ChapterReading],
                  archetype_names: list[str]) -> tuple[CharacterProfile, dict[str, list[Citation]], CharacterStats]:
    """Every profile field filled by extraction, each with the sentences it rests on (an "offline draft")."""
    name = cluster.display_name
    evidence = sentences_of(cluster, chapters)
    citations: dict[str, list[Citation]] = {}

    physical = [e for e in evidence if set(re.findall(r"[a-z]+", e.text.lower())) & PHYSICAL_WORDS][:3]
    physical_text = _quoted(physical) or \
        f"The book gives no description near {name}'s name; the writer describes them."
    citations["physical_description"] = [_cite(chapters, e) for e in physical]

    adjectives = _adjectives(cluster, chapters)
    counts = Counter(word for word, _ in adjectives if word not in PHYSICAL_WORDS)
    traits = [w for w, _ in counts.most_common(6)]
    personality = (f"Described as {', '.join(traits)} (the adjectives the book applies to {name})." if traits
                   else f"The book applies no adjectives to {name} directly; read the quoted passages.")
    citations["personality"] = [_cite(chapters, e) for w, e in adjectives if w in traits[:3]][:3]

    first, last = (evidence[0], evidence[-1]) if evidence else (None, None)
    arc = "Not traced: the name is rarely in the text."
    if first and last:
        arc = (f"First seen in chapter {chapters[first.chapter].number}: {_quoted([first])} "
               f"Last seen in chapter {chapters[last.chapter].number}: {_quoted([last])}")
        early = [w for w, e in adjectives if e.chapter <= first.chapter + (last.chapter - first.chapter) // 3]
        late = [w for w, e in adjectives if e.chapter >= last.chapter - (last.chapter - first.chapter) // 3]
        if early and late and set(early) != set(late):
            arc += (f" Early on: {', '.join(dict.fromkeys(early[:3]))}; "
                    f"by the end: {', '.join(dict.fromkeys(late[-3:]))}.")
        citations["character_arc"] = [_cite(chapters, first), _cite(chapters, last)]

    fields: dict[str, str] = {}
    for field_name, cue in (("want", WANT_CUES), ("lie", LIE_CUES), ("ghost", GHOST_CUES)):
        found = _first_matching(evidence, cue, cluster)
        if found:
            fields[field_name] = f"From the text: {_quoted([found])}"
            citations[field_name] = [_cite(chapters, found)]
    negative = [w for w in traits if w in NEGATIVE_TRAITS]
    if negative:
        need = f"To outgrow being {negative[0]} (the failing the text most often names in {name})."
        citations["need"] = [_cite(chapters, e) for w, e in adjectives if w == negative[0]][:2]
    elif "lie" in fields:
        need = f"To see past the belief quoted under Lie."
    else:
        need = f"Not stated in the text: the writer decides what {name} needs."
    profile = CharacterProfile(
        name=name, aliases=[n.text for n in cluster.names if n.text != name], role=role,
        archetypes=archetype_names or ["The Everyman"],
        want=fields.get("want", f"Not stated in the text: no sentence says what {name} wants."),
        need=need, lie=fields.get("lie", ""), ghost=fields.get("ghost", ""), character_arc=arc,
        physical_description=physical_text, personality=personality)
    chapter_numbers = sorted(chapters[i].number for i in cluster.chapters)
    stats = CharacterStats(mentions=cluster.mentions, dialogue_lines=cluster.dialogue,
                           chapters_present=len(chapter_numbers),
                           first_chapter=chapter_numbers[0] if chapter_numbers else None,
                           last_chapter=chapter_numbers[-1] if chapter_numbers else None)
    return profile, citations, stats


def assign_roles(clusters: list[Cluster], chapters: list[ChapterReading]) -> list[str]:
    """Protagonist: the most important character, or in a first-person book its narrator (moved to the front of
    `clusters`, which this reorders in place). Antagonist: of the main characters, one who is called names and
    whose sentences carry the most conflict words (none if no one stands out). Supporting: present in a sixth of
    the chapters or in the top eight. Minor: the rest."""
    if not clusters:
        return []
    roles = ["minor"] * len(clusters)
    roles[0] = "protagonist"
    narrator = first_person_narrator(clusters, chapters)
    if narrator:
        clusters.insert(0, clusters.pop(narrator))
    scores = []
    for i, cluster in enumerate(clusters[1:10], start=1):
        evidence = sentences_of(cluster, chapters)
        if cluster.mentions < 0.1 * clusters[0].mentions or len(evidence) < 10:
            continue
        if not {w for w, _ in _adjectives(cluster, chapters)} & NEGATIVE_TRAITS:
            continue  # a victim's sentences carry conflict words too; an antagonist is also called names
        conflict = sum(bool(CONFLICT_CUES.search(e.text)) for e in evidence) / len(evidence)
        scores.append((conflict, i))
    if scores:
        conflict, best = max(scores)
        others = sorted(s for s, i in scores if i != best)
        median = others[len(others) // 2] if others else 0
        if conflict >= 0.05 and conflict >= 1.5 * median:
            roles[best] = "antagonist"
    present_often = max(3, len(chapters) // 6)
    for i, cluster in enumerate(clusters):
        if roles[i] == "minor" and (i < 8 or len(cluster.chapters) >= present_often):
            roles[i] = "supporting"
    return roles


def first_person_narrator(clusters: list[Cluster], chapters: list[ChapterReading]) -> int | None:
    """In a first-person book the narrator is the protagonist, and narration never names them: their name comes
    mostly from other people's mouths. Returns the index of that character among the top five, if the book's
    narration says "I" often (more than 1 word in 100 outside quotations) and one of them is named mostly in quotes."""
    words = i_count = 0
    for chapter in chapters:
        narration, last = [], 0
        for start, end in chapter.annotations.quotes:
            narration.append(chapter.text[last:start])
            last = end
        narration.append(chapter.text[last:])
        text = " ".join(narration)
        words += len(text.split())
        i_count += len(re.findall(r"\bI\b", text))
    if not words or i_count / words < 0.01:
        return None
    ratios = [(c.in_quotes / max(1, c.mentions), i) for i, c in enumerate(clusters[:5]) if c.mentions >= 10]
    if not ratios:
        return None
    ratio, index = max(ratios)
    return index if ratio >= 0.5 else None


def analyse_archetypes(cluster: Cluster, role: str, chapters: list[ChapterReading], archetypes: list,
                       protagonist: Cluster, mentor: Cluster | None, lover: Cluster | None) -> ArchetypeAnalysis:
    """Rules over the extracted facts: role → Hero/Shadow, the elder advising the protagonist → Mentor, the one
    the protagonist's love sentences name → Lover; then every active archetype scored by how often its trait and
    role words occur in the character's sentences. Each fit keeps the passages that justify it."""
    by_name = {a.name: a for a in archetypes}
    evidence = sentences_of(cluster, chapters)
    described = _adjectives(cluster, chapters)
    adjectives = {w for w, _ in described}
    fits: list[ArchetypeFit] = []

    def add(name: str, reason: str, passages: list[Evidence]) -> None:
        if name in by_name and name not in [f.name for f in fits]:
            fits.append(ArchetypeFit(name=name, reason=reason, evidence=[_cite(chapters, e) for e in passages[:2]]))

    shared = [e for e in evidence if _names_in(protagonist, chapters, e)] if cluster is not protagonist else []
    if role in ROLE_ARCHETYPES:
        add(ROLE_ARCHETYPES[role], f"Rule: the {role} of the book (ranked by mentions, dialogue, chapters).",
            evidence[:1] + evidence[-1:])
    if cluster is mentor:
        add("The Mentor", "Rule: an elder whose sentences with the protagonist advise, warn or teach.",
            [e for e in shared if ADVICE_CUES.search(e.text)])
    if cluster is lover:
        add("The Lover", "Rule: the character the protagonist's sentences of love and marriage name most.",
            [e for e in shared if LOVE_CUES.search(e.text)])
    if role == "supporting" and len(shared) >= 5 and not (CONFLICT_CUES.search(" ".join(e.text for e in shared))
                                                         and cluster is not lover and len(fits) == 0):
        add("The Ally", "Rule: often in the protagonist's company without being set against them.", shared)
    scored = []
    for archetype in archetypes:
        cues = {w.lower() for phrase in archetype.traits for w in phrase.split() if len(w) > 3}
        hits = [e for e in evidence if cues & set(re.findall(r"[a-z]+", e.text.lower()))]
        # The adjectives applied to the character weigh most; trait words anywhere in their sentences a little.
        score = 3 * len(cues & adjectives) + 20 * len(hits) / max(20, len(evidence))
        if score > 0:
            scored.append((score, archetype.name, [e for w, e in described if w in cues] + hits))
    for score, name, hits in sorted(scored, key=lambda s: -s[0]):
        if len(fits) >= 5:
            break
        if score >= 1.0 or not fits:
            add(name, "Rule: its traits and roles are the words of this character's sentences"
                      f" ({len(hits)} passages).", hits)
    if not fits:
        add("The Everyman", "Default: too little text to tell.", evidence[:1])
    primary, secondary = fits[0], fits[1:5]
    traits = [w for w, _ in Counter(w for w, _ in _adjectives(cluster, chapters)).most_common(6)]
    primary_archetype = by_name.get(primary.name)
    strengths = [t for t in traits if t not in NEGATIVE_TRAITS][:4] or \
        list(primary_archetype.traits[:2] if primary_archetype else [])
    shadows = [t for t in traits if t in NEGATIVE_TRAITS][:4] or [f"{primary.name.removeprefix('The ')} taken too far"]
    story_roles = list(dict.fromkeys(r for fit in fits for r in (by_name[fit.name].typical_roles if fit.name in by_name
                                                                   else ())))[:5]
    return ArchetypeAnalysis(primary=primary, secondary=secondary, traits=traits, strengths=strengths,
                             shadows=shadows, story_roles=story_roles, method="rules")


def _names_in(cluster: Cluster, chapters: list[ChapterReading], evidence: Evidence) -> bool:
    return (evidence.chapter, evidence.sentence) in {p for n in cluster.names for p in n.places}


def find_mentor_and_lover(clusters: list[Cluster], roles: list[str], chapters: list[ChapterReading]
                          ) -> tuple[Cluster | None, Cluster | None]:
    """The elder most often advising the protagonist, and the one most often in their sentences of love."""
    if not clusters:
        return None, None
    protagonist = clusters[0]
    mentor_scores, love_scores = [], []
    for cluster, role in zip(clusters[1:], roles[1:]):
        if role in ("antagonist", "minor"):
            continue
        shared = [e for e in sentences_of(cluster, chapters) if _names_in(protagonist, chapters, e)]
        elder = any(n.title and ELDER_CUES.search(n.title) for n in cluster.names) or \
            bool({w for w, _ in _adjectives(cluster, chapters)} & {"old", "elder", "elderly", "aged", "wise"})
        advice = sum(bool(ADVICE_CUES.search(e.text)) for e in shared)
        if elder and advice:
            mentor_scores.append((advice, id(cluster), cluster))
        love = sum(bool(LOVE_CUES.search(e.text)) for e in shared)
        if love >= 3:
            love_scores.append((love, id(cluster), cluster))
    mentor = max(mentor_scores)[2] if mentor_scores else None
    lover = max(love_scores)[2] if love_scores else None
    return mentor, (lover if lover is not mentor else None)


def extract_characters(chapters: list[ChapterReading], archetypes: list, *, limit: int = 25) -> list[CitedCharacter]:
    """The offline engine's character board: found, ranked, roled, profiled and analysed, most important first."""
    clusters = find_characters(chapters, limit=limit)
    roles = assign_roles(clusters, chapters)
    mentor, lover = find_mentor_and_lover(clusters, roles, chapters)
    board = []
    for cluster, role in zip(clusters, roles):
        analysis = analyse_archetypes(cluster, role, chapters, archetypes, clusters[0], mentor, lover)
        profile, citations, stats = draft_profile(cluster, role, chapters, analysis.names)
        board.append(CitedCharacter(profile=profile, analysis=analysis, citations=citations, stats=stats,
                                    label=LABEL))
    return board
