"""The offline prose -> screenplay engine: rules over the chapter's parse, no model.

Scene breaks where the place or the time changes, `INT./EXT. PLACE - DAY/NIGHT` headings from place entities
and time words, quoted speech as dialogue under the speaker's cue (`said Elinor`, `Elinor said`, then turns
alternating), narration condensed to action lines, transitions between scenes. Names come from the character
board when the book has one (aliases resolved to the board's name), else from the parse. The result is
Fountain, labelled "offline draft"; its structure is read back from the text by core.screenplay.fountain.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from core.nlp import load_pipeline
from core.screenplay import fountain as ftn

LABEL = "offline draft"
STYLES = {
    "cinematic": "Cinematic feature: FADE IN, INT./EXT. scenes, cuts, FADE OUT",
    "tv": "TV episode: a teaser, then acts with act breaks",
    "stage": "Stage play: numbered scenes, stage directions, lights and curtain",
    "audio": "Audio drama: narrator, sound effects and music cues instead of pictures",
}
SAY_VERBS = {
    "say", "cry", "reply", "answer", "ask", "exclaim", "return", "continue", "add", "observe", "remark", "repeat",
    "whisper", "shout", "call", "murmur", "mutter", "grumble", "sigh", "laugh", "sob", "scream", "declare", "retort",
    "rejoin", "begin", "interrupt", "urge", "inquire", "enquire", "demand", "insist", "protest", "explain",
    "respond", "groan", "gasp", "stammer", "resume", "persist", "pursue", "plead", "beg", "exclaim", "snap",
    "drawl", "suggest", "admit", "confess", "announce", "wail", "moan", "hiss", "growl", "roar", "yell", "chime",
}
MANNER = {"whisper": "whispering", "shout": "shouting", "laugh": "laughing", "sob": "sobbing", "sigh": "sighing",
          "scream": "screaming", "murmur": "murmuring", "mutter": "muttering", "groan": "groaning", "wail": "wailing",
          "stammer": "stammering", "yell": "yelling", "gasp": "gasping", "hiss": "hissing", "growl": "growling"}
TITLES = {"mr", "mrs", "miss", "ms", "lady", "lord", "sir", "dr", "colonel", "captain", "aunt", "uncle", "professor",
          "madame", "monsieur", "m", "mme", "mademoiselle", "inspector", "master", "mistress", "madam", "cousin"}
PRONOUNS = {"he", "she", "i", "we", "they", "him", "her", "you", "it"}
EXTERIOR = re.compile(r"\b(garden|gardens|park|road|lane|street|field|fields|meadow|wood|woods|forest|lake|river|"
                      r"shore|beach|sea|mountain|mountains|glacier|valley|hill|hills|village|town|square|bridge|"
                      r"churchyard|yard|terrace|avenue|path|heath|moor|deck|harbour|harbor|quay|camp|veldt|plain|"
                      r"desert|island|coast|cliff|orchard|shrubbery|paddock|common|grounds|gate|porch|stream|ocean|bay|ice|"
                      r"arctic|pier|wharf|dock|highway|lake|alps|glen)\b", re.I)
INTERIOR = re.compile(r"\b(room|drawing-room|drawing room|parlour|parlor|library|hall|house|cottage|chamber|study|"
                      r"office|church|inn|hotel|cabin|kitchen|ballroom|theatre|theater|apartment|shop|carriage|"
                      r"coach|train|compartment|saloon|staircase|bedroom|dining-room|breakfast-room|attic|garret|"
                      r"laboratory|prison|cell|court|courtroom|hut|hovel|school|schoolroom|lodge|manor|castle|"
                      r"parsonage|vicarage|rectory|tent|lodgings|nursery|museum|studio|restaurant|club|bank)\b", re.I)
PLACE_NOUN = re.compile(r"\b(?:the|her|his|their|our|my)\s+((?:[a-z]+[- ])?(?:" + "|".join(
    sorted({p for p in (EXTERIOR.pattern + "|" + INTERIOR.pattern).replace(r"\b(", "").replace(r")\b", "").split("|")},
           key=len, reverse=True)) + r"))\b", re.I)
GOING_TO = re.compile(r"\b(?:went|walked|came|returned|entered|arrived|hurried|ran|rode|drove|repaired|reached|"
                      r"hastened|stepped|set off|set out|proceeded|crossed)\b[^.;:!?]{0,40}?\b(?:into|to|at|towards|"
                      r"toward|in|through|across)\s+" + PLACE_NOUN.pattern[2:], re.I)
NIGHT = re.compile(r"\b(night|nights|evening|midnight|dark|darkness|moon|moonlight|moonlit|candle|candles|"
                   r"supper|dusk|twilight|sunset|nightfall|ball|stars|lamp|lamplight|bedtime)\b", re.I)
DAY = re.compile(r"\b(morning|noon|afternoon|breakfast|sunshine|sunlight|daylight|dawn|sunrise|luncheon|"
                 r"dinner-time|day|today|to-day)\b", re.I)
TIME_SHIFT = re.compile(
    r"^(?:(?:the|on the)\s+(?:next|following|same|ensuing)\s+(?:day|morning|evening|night|afternoon|week|"
    r"month)|next\s+(?:day|morning|evening|week)|(?:that|this|one|in the)\s+(?:evening|night|morning|afternoon)|"
    r"early\s+(?:the\s+)?(?:next\s+)?(?:morning|in)|late\s+(?:that|in the)|(?:some|a few|several|many|two|three|"
    r"four|five|six)\s+(?:days|weeks|months|years|hours)|(?:a|one)\s+(?:day|week|month|year|fortnight)\s+"
    r"(?:later|after|passed)|(?:days|weeks|months|years)\s+(?:passed|went)|at\s+(?:length|last|dawn|daybreak|"
    r"sunset|nightfall|noon|midnight)|when\s+(?:they|she|he|we|i)\s+(?:arrived|reached|returned|came)|"
    r"after\s+(?:breakfast|dinner|supper|tea)|(?:before|by)\s+(?:breakfast|dinner|supper|nightfall)|"
    r"(?:on|the)\s+(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)|within\s+a)\b", re.I)
ARRIVAL = {"arrive", "enter", "reach", "return", "go", "walk", "ride", "drive", "come", "set", "travel", "proceed",
           "repair", "hasten", "hurry", "run", "sail", "land", "climb", "descend", "cross", "leave", "quit"}
SCENE_BREAK_LINE = re.compile(r"^[\s*·•#~=_-]{3,}$")
MIN_SCENE_WORDS = 120
MIN_STRONG_SCENE_WORDS = 30
MAX_ACTION_WORDS = 40
SPELLED = ["ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX"]


@dataclass
class CharacterRef:
    """A character of the board: the name cues use, and the other names the prose calls them by."""

    name: str
    aliases: list[str] = field(default_factory=list)
    want: str = ""
    need: str = ""
    arc: str = ""


@dataclass
class PlotContext:
    logline: str = ""
    themes: list[str] = field(default_factory=list)


@dataclass
class OfflineScript:
    fountain: str
    label: str
    plot_enhanced: bool
    character_enhanced: bool
    enhancements: list[str]


# --- the parse -------------------------------------------------------------------------------------


def _pipeline():
    """The spaCy pipeline the character board uses, loaded once per process (it has no lemmatizer)."""
    return load_pipeline()


IRREGULAR = {"said": "say", "says": "say", "began": "begin", "begun": "begin", "went": "go", "gone": "go",
             "came": "come", "rode": "ride", "drove": "drive", "ran": "run", "left": "leave", "set": "set",
             "quit": "quit", "sped": "speed", "flew": "fly", "swore": "swear", "spoke": "speak", "told": "tell"}


def _lemma(token) -> str:
    """The verb's base form from its spelling (the shared pipeline skips the lemmatizer)."""
    word = token.lower_
    if word in IRREGULAR:
        return IRREGULAR[word]
    for suffix, replacement in (("ied", "y"), ("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""),
                                ("d", "")):
        if word.endswith(suffix):
            base = word[: -len(suffix)] + replacement
            for candidate in (base, base + "e", base[:-1] if len(base) > 2 and base[-1] == base[-2] else None):
                if candidate and (candidate in SAY_VERBS or candidate in ARRIVAL):
                    return candidate
    return word


@dataclass
class Quote:
    start: int
    end: int
    text: str


def find_quotes(paragraph: str) -> list[Quote]:
    """Spans of quoted speech: curly “…” (an unclosed one runs to the paragraph's end) or straight "…" pairs."""
    quotes = []
    for match in re.finditer(r"“([^”]*)(?:”|$)", paragraph):
        if match.group(1).strip():
            quotes.append(Quote(match.start(), match.end(), match.group(1)))
    if not quotes and paragraph.count('"') >= 1:
        for match in re.finditer(r'"([^"]*)(?:"|$)', paragraph):
            if match.group(1).strip():
                quotes.append(Quote(match.start(), match.end(), match.group(1)))
    return quotes


class Names:
    """Resolves how the prose names someone to the cue name (the board's, aliases included)."""

    def __init__(self, characters: list[CharacterRef] | None):
        self.board = bool(characters)
        self.characters = characters or []
        self._exact: dict[str, str] = {}
        for character in self.characters:
            for alias in [character.name, *character.aliases]:
                key = _key(alias)
                if key and key not in self._exact:
                    self._exact[key] = character.name
        pattern = sorted(self._exact, key=len, reverse=True)
        self._mention = re.compile(r"(?<![\w])(" + "|".join(re.escape(k) for k in pattern) + r")(?![\w])",
                                   re.I) if pattern else None

    def resolve(self, name: str) -> str | None:
        key = _key(name)
        if not key or key in PRONOUNS:
            return None
        if key in self._exact:
            return self._exact[key]
        stripped = " ".join(w for w in key.split() if w.rstrip(".") not in TITLES)
        if stripped in self._exact and stripped != key and len(stripped) > 2:
            return self._exact[stripped]
        if self.board:
            return None  # with a board, only its characters speak under a cue
        return " ".join(w.capitalize() if w.islower() else w for w in name.split())

    def mentions(self, text: str) -> list[str]:
        if not self._mention:
            return []
        return [self._exact[_key(m.group(1))] for m in self._mention.finditer(text)]


def _key(name: str) -> str:
    return " ".join(re.sub(r"[’']s$", "", name.strip(" ,.;:!?—-").lower()).replace("’", "'").split())


def _speaker_span(verb, inside: list[bool]) -> str | None:
    """The name that is the subject of a speech verb: `Elinor said`, `said Mr. Bennet`, `grumbled Jo`."""
    subject = next((c for c in verb.children if c.dep_ in ("nsubj", "nsubjpass") and not inside[c.idx]), None)
    tokens = []
    if subject is not None:
        if subject.lower_ in PRONOUNS:
            return subject.lower_
        tokens = [t for t in subject.subtree if t.dep_ in ("compound", "flat", "nsubj", "nsubjpass", "amod")
                  and t.i <= subject.i and (t.pos_ == "PROPN" or t.lower_.rstrip(".") in TITLES or t is subject)]
        if subject.pos_ not in ("PROPN",) and not any(t.pos_ == "PROPN" for t in tokens):
            phrase = [t for t in subject.subtree if t.i <= subject.i]  # "my father": a board may list it
            return " ".join(t.text for t in phrase[-3:])
    else:  # inverted: `said Jo`, `cried Mrs. Bennet`
        doc, i = verb.doc, verb.i + 1
        while i < len(doc) and (doc[i].pos_ == "PROPN" or doc[i].lower_.rstrip(".") in TITLES):
            tokens.append(doc[i])
            i += 1
        if not tokens and i < len(doc) and doc[i].lower_ in PRONOUNS:
            return doc[i].lower_
    return " ".join(t.text for t in tokens) or None


@dataclass
class Paragraph:
    index: int
    text: str
    quotes: list[Quote]
    speaker: str | None = None
    pronoun: str | None = None
    parenthetical: str = ""
    narration: list[str] = field(default_factory=list)  # sentences outside the quotes and their tags
    places: list[tuple[str, str]] = field(default_factory=list)  # (name, kind: FAC/GPE/LOC/NOUN)
    time_shift: bool = False
    strong_shift: bool = False
    moves: bool = False
    night: bool = False
    day: bool = False
    words: int = 0
    scene_break: bool = False


def analyse(text: str, names: Names) -> list[Paragraph]:
    """Per paragraph: quotes and their speaker, narration sentences, places, time words."""
    raw = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    paragraphs = [" ".join(p.split()) for p in raw]
    out: list[Paragraph] = []
    for index, (paragraph, doc) in enumerate(zip(paragraphs, _pipeline().pipe(paragraphs, batch_size=64))):
        item = Paragraph(index=index + 1, text=paragraph, quotes=find_quotes(paragraph),
                         words=len(paragraph.split()))
        if SCENE_BREAK_LINE.match(paragraph):
            item.scene_break = True
            out.append(item)
            continue
        inside = [False] * (len(paragraph) + 1)
        for quote in item.quotes:
            for k in range(quote.start, min(quote.end, len(paragraph))):
                inside[k] = True
        _attribute(item, doc, inside, names)
        _narration_and_places(item, doc, inside)
        item.places = [(n, k) for n, k in item.places if not _names_a_person(n, names)]
        first = paragraph[:200]
        item.strong_shift = bool(TIME_SHIFT.match(first))
        item.time_shift = item.strong_shift or any(
            e.label_ in ("DATE", "TIME") and e.start_char < 12 and not inside[e.start_char] for e in doc.ents)
        frame = "".join(ch for k, ch in enumerate(paragraph) if not inside[k])
        item.night = bool(NIGHT.search(frame))
        item.day = bool(DAY.search(frame))
        out.append(item)
    return out


def _attribute(item: Paragraph, doc, inside: list[bool], names: Names) -> None:
    if not item.quotes:
        return
    for token in doc:
        if inside[token.idx] or _lemma(token) not in SAY_VERBS or token.pos_ not in ("VERB", "AUX"):
            continue
        span = _speaker_span(token, inside)
        if not span:
            continue
        if span in PRONOUNS:
            item.pronoun = item.pronoun or span
            continue
        resolved = names.resolve(span)
        if resolved:
            item.speaker = resolved
            manner = next((c.text for c in token.children if c.dep_ == "advmod" and c.text.endswith("ly")), "")
            item.parenthetical = manner or MANNER.get(_lemma(token), "")
            return
    if names.board:  # `“…,” said his sister Elizabeth` and other shapes the parse misses: the board's names
        frame = "".join(ch if not inside[k] else " " for k, ch in enumerate(item.text))
        tag = re.search(r"(?:^|[,.!?;—-])\s*(?:\w+\s+){0,2}?(" + "|".join(sorted(SAY_VERBS_PAST, key=len, reverse=True))
                        + r")\s+([A-Z][\w.’' -]{1,40})", frame)
        for candidate in ([tag.group(2)] if tag else []):
            words = candidate.split()
            for size in range(min(4, len(words)), 0, -1):
                resolved = names.resolve(" ".join(words[:size]))
                if resolved:
                    item.speaker = resolved
                    return
        before = re.search(r"([A-Z][\w.’' -]{1,40}?)\s+(?:" + "|".join(SAY_VERBS_PAST) + r")\b", frame)
        if before:
            words = before.group(1).split()
            for size in range(min(4, len(words)), 0, -1):
                resolved = names.resolve(" ".join(words[-size:]))
                if resolved:
                    item.speaker = resolved
                    return


SAY_VERBS_PAST = ["said", "cried", "replied", "answered", "asked", "exclaimed", "returned", "continued", "added",
                  "observed", "remarked", "repeated", "whispered", "shouted", "called", "murmured", "muttered",
                  "grumbled", "sighed", "laughed", "sobbed", "declared", "retorted", "rejoined", "began",
                  "interrupted", "inquired", "enquired", "demanded", "insisted", "protested", "explained",
                  "responded", "groaned", "gasped", "stammered", "resumed", "says", "asks", "cries", "replies"]


def _names_a_person(place: str, names: Names) -> bool:
    """The parse sometimes takes a person for a place (“at Charlotte's”, “to M. Krempe”)."""
    words = place.replace("’", "'").split()
    if not words or words[0].lower().rstrip(".") in TITLES:
        return True
    return names.board and names.resolve(re.sub(r"'s$", "", place.replace("’", "'"))) is not None


def _narration_and_places(item: Paragraph, doc, inside: list[bool]) -> None:
    for sent in doc.sents:
        if any(inside[t.idx] for t in sent) or len(sent) < 3:
            continue
        if item.quotes and any(_lemma(t) in SAY_VERBS for t in sent):
            continue
        item.narration.append(sent.text.strip())
    for ent in doc.ents:
        if ent.label_ in ("GPE", "LOC", "FAC") and not inside[ent.start_char]:
            preposition = ent.root.head
            if preposition.dep_ == "prep" and preposition.lower_ in ("at", "in", "into", "to", "near", "inside",
                                                                      "towards", "toward", "reached", "within"):
                item.places.append((ent.text, ent.label_))
                verb = preposition.head
                if _lemma(verb) in ARRIVAL:
                    item.moves = True
            elif ent.root.dep_ == "dobj" and _lemma(ent.root.head) in ARRIVAL:
                item.places.append((ent.text, ent.label_))
                item.moves = True
    frame = "".join(ch for k, ch in enumerate(item.text) if not inside[k])
    going = GOING_TO.search(frame[:300])
    if going:  # "they walked into the shrubbery": a move to a place named by a common noun
        item.places.insert(0, (going.group(1), "NOUN"))
        item.moves = True
    for match in PLACE_NOUN.finditer(frame[:400]):
        item.places.append((match.group(1), "NOUN"))


# --- scenes ----------------------------------------------------------------------------------------


@dataclass
class DraftScene:
    paragraphs: list[Paragraph]
    place: str = ""
    exterior: bool = False
    night: bool = False
    time_jump: bool = False
    new_place: bool = True


def split_scenes(paragraphs: list[Paragraph]) -> list[DraftScene]:
    """Break where the time changes or someone goes somewhere new (never into crumbs)."""
    scenes: list[DraftScene] = [DraftScene([])]
    words = 0
    for item in paragraphs:
        if item.scene_break:
            if scenes[-1].paragraphs:
                scenes.append(DraftScene([], time_jump=True))
                words = 0
            continue
        new_place = item.moves and item.places and _place_name(item.places[0][0]) != _current_place(scenes[-1])
        # "The next morning…" opening a paragraph is a new scene even after a short one; a date or a move
        # somewhere else only after a scene of some length (prose mentions both in passing).
        enough = words >= (MIN_STRONG_SCENE_WORDS if item.strong_shift else MIN_SCENE_WORDS)
        if scenes[-1].paragraphs and enough and (item.time_shift or new_place) \
                and not (item.quotes and not item.narration):
            scenes.append(DraftScene([], time_jump=item.time_shift))
            words = 0
        scenes[-1].paragraphs.append(item)
        words += item.words
    scenes = [s for s in scenes if s.paragraphs]
    chapter_places = Counter(_place_name(name) for p in paragraphs for name, kind in p.places if kind != "NOUN")
    previous_place, previous_exterior, previous_night = "", False, False
    for scene in scenes:
        opening = scene.paragraphs[:3]
        candidates = [(n, k) for p in opening for n, k in p.places]
        named = [(n, k) for n, k in candidates if k != "NOUN"]
        chosen = (named or candidates or [])[:1]
        if chosen:
            name, kind = chosen[0]
            scene.place = _place_name(name)
            scene.exterior = bool(EXTERIOR.search(name)) or (kind in ("GPE", "LOC") and not INTERIOR.search(name))
        elif previous_place:
            scene.place, scene.exterior = previous_place, previous_exterior
        elif chapter_places:
            scene.place = chapter_places.most_common(1)[0][0]
            scene.exterior = bool(EXTERIOR.search(scene.place)) and not INTERIOR.search(scene.place)
        else:
            scene.place = "HOUSE"
        night = sum(p.night for p in opening) > sum(p.day for p in opening)
        day = sum(p.day for p in opening) > sum(p.night for p in opening)
        scene.night = night or (previous_night and not day and not scene.time_jump)
        scene.new_place = scene.place != previous_place
        previous_place, previous_exterior, previous_night = scene.place, scene.exterior, scene.night
    return scenes


def _place_name(name: str) -> str:
    name = re.sub(r"^((the|her|his|their|our|my)\s+)?(own\s+)?", "", name.strip(), flags=re.I)
    return " ".join(name.replace("’", "'").split()).upper()


def _current_place(scene: DraftScene) -> str:
    for item in scene.paragraphs:
        if item.places:
            return _place_name(item.places[0][0])
    return ""


# --- writing Fountain ------------------------------------------------------------------------------


def _condense(sentence: str) -> str:
    words = sentence.split()
    if len(words) <= MAX_ACTION_WORDS:
        return sentence
    cut = " ".join(words[:MAX_ACTION_WORDS])
    clause = max(cut.rfind(","), cut.rfind(";"))
    return (cut[:clause] if clause > len(cut) // 2 else cut).rstrip(",;: ") + "."


def _speech(item: Paragraph) -> str:
    pieces = [" ".join(q.text.split()).strip() for q in item.quotes]
    parts = []
    for k, text in enumerate(pieces):
        following = pieces[k + 1] if k + 1 < len(pieces) else ""
        if text.endswith(",") and not (following[:1].islower()):
            text = text[:-1] + "."  # `“I hope, my dear,” said he.` -> `I hope, my dear.`
        parts.append(text)
    return " ".join(parts)


def _narrator(paragraphs: list[Paragraph], names: Names) -> str | None:
    """In a first-person chapter, who “I” is: the character the others most often call by name."""
    narration = " ".join(" ".join(p.narration) for p in paragraphs)
    if len(re.findall(r"\b(?:I|me|my)\b", narration)) < max(5, len(narration.split()) // 60):
        return None
    called = Counter(n for p in paragraphs for q in p.quotes for n in names.mentions(
        " ".join(part for found in VOCATIVE.findall(q.text.strip()) for part in found if part)))
    named = Counter(names.mentions(narration))  # "I" is rarely named in the narration; the others are
    return next((name for name, count in called.most_common() if named[name] < count), None)


def _turns(paragraphs: list[Paragraph], names: Names, narrator: str | None = None) -> None:
    """Speech nobody is tagged with, inside a running exchange: the turns alternate.

    The exchange's people are those who spoke, those spoken to by name (“My dear Mr. Bennet…”) and those the
    narration named just before it began. An untagged line goes to the speaker before last (A, B, A, B), or,
    with one speaker so far, to the one other person of the exchange who is not being addressed.
    """
    recent: list[str] = []
    participants: list[str] = []
    gap = 0
    last_narration: list[str] = []
    spoken_to: set[str] = set()
    for item in paragraphs:
        if not item.quotes:
            gap += 1
            spoken_to = set()
            if gap > 1:
                recent, participants = [], []
            last_narration = names.mentions(item.text)
            reported = INDIRECT.match(item.text)  # "Mr. Bennet replied that he had not." is a turn too
            speaker = names.resolve(reported.group(1)) if reported else None
            if speaker:
                gap = 0
                recent.append(speaker)
                participants += [speaker] if speaker not in participants else []
            continue
        if gap and not recent:
            participants = list(dict.fromkeys(last_narration))
        gap = 0
        addressed = {n for q in item.quotes for n in names.mentions(" ".join(
            part for found in VOCATIVE.findall(q.text.strip()) for part in found if part))}
        if item.speaker is None and item.pronoun == "i" and narrator:
            item.speaker = narrator  # “…,” said I
        if item.speaker is None:
            fits = lambda name: _gender(name) in (None, PRONOUN_GENDER.get(item.pronoun))  # noqa: E731
            if len(spoken_to) == 1 and not addressed & spoken_to and fits(next(iter(spoken_to))):
                item.speaker = next(iter(spoken_to))  # whoever was just spoken to by name answers
            elif len(recent) >= 2 and recent[-1] != recent[-2] and recent[-2] not in addressed \
                    and fits(recent[-2]):
                item.speaker = recent[-2]
            else:
                others = [p for p in participants if p not in addressed and (not recent or p != recent[-1])
                          and fits(p)]
                if len(others) == 1:
                    item.speaker = others[0]
        for name in [*addressed, *([item.speaker] if item.speaker else [])]:
            if name not in participants:
                participants.append(name)
        if item.speaker and (not recent or recent[-1] != item.speaker):
            recent.append(item.speaker)
        spoken_to = addressed - ({item.speaker} if item.speaker else set())


VOCATIVE = re.compile(r"^(?:(?:oh|o|ah),?\s+)?(?:my\s+)?(?:dear(?:est)?\s+)?([A-Z][\w.’' ]{1,30}?)(?=[,!?])|"
                      r",\s*(?:my\s+)?(?:dear(?:est)?\s+)?([A-Z][\w.’' ]{1,30}?)(?:[!?.]?$|\s*[,!?])")
INDIRECT = re.compile(r"^([A-Z][\w.’' ]{1,30}?)\s+(?:replied|answered|said|cried|returned|observed)\b")
MALE_TITLES = {"mr", "sir", "lord", "colonel", "captain", "uncle", "monsieur", "m", "master", "professor",
               "inspector", "dr"}
FEMALE_TITLES = {"mrs", "miss", "ms", "lady", "aunt", "madame", "mme", "mademoiselle", "mistress", "madam"}
PRONOUN_GENDER = {"he": "male", "she": "female"}


def _gender(name: str) -> str | None:
    first = name.split()[0].lower().rstrip(".") if name.split() else ""
    return "male" if first in MALE_TITLES else "female" if first in FEMALE_TITLES else None


def _introduce(text: str, names: Names, introduced: set[str]) -> str:
    """Screenplay habit: a character's first appearance in action is in capitals."""
    if not names.board:
        return text
    for match in list(names._mention.finditer(text)) if names._mention else []:
        name = names._exact[_key(match.group(1))]
        if name not in introduced:
            introduced.add(name)
            return text[:match.start()] + match.group(1).upper() + text[match.end():]
    return text


def _scene_blocks(scene: DraftScene, number: int, style: str, names: Names, introduced: set[str],
                  characters: dict[str, CharacterRef]) -> list[str]:
    time = "NIGHT" if scene.night else "DAY"
    where = ("EXT. " if scene.exterior else "INT. ") + scene.place
    if style == "stage":
        blocks = [ftn.heading(f"SCENE {number}. {scene.place}, {'NIGHT' if scene.night else 'DAY'}", forced=True)]
    elif style == "audio":
        blocks = [ftn.heading(f"SCENE {number}. {scene.place} ({time})", forced=True)]
    else:
        blocks = [ftn.heading(f"{where} - {time}")]
    first, last = scene.paragraphs[0].index, scene.paragraphs[-1].index
    notes = [f"[[source: paragraphs {first}-{last}]]" if first != last else f"[[source: paragraph {first}]]"]
    speakers = []
    for item in scene.paragraphs:
        if item.speaker and item.quotes and item.speaker not in speakers:
            speakers.append(item.speaker)
    for name in speakers:
        ref = characters.get(name)
        if ref and (ref.want or ref.arc):
            note = f"wants {ref.want}" if ref.want else ref.arc
            notes.append(f"[[arc {ftn.cue(name)}: {_condense(' '.join(note.split()))}]]")
    if style in ("cinematic", "tv") and scene.new_place:
        notes.append(f"[[camera: establishing wide shot of {scene.place}]]")
    blocks.append(" ".join(notes))
    if style == "audio":
        blocks.append(ftn.action("SFX: " + _ambience(scene)))
    if style == "stage" and speakers:
        present = ", ".join(ftn.cue(s) for s in speakers)
        blocks.append(ftn.action(f"*At rise: {present}.*"))
    for item in scene.paragraphs:
        narration = item.narration[:1] if item.quotes else item.narration[:1]
        for sentence in narration:
            line = _condense(sentence)
            if style == "audio":
                blocks.append(ftn.dialogue("NARRATOR", line))
            elif style == "stage":
                blocks.append(ftn.action("*" + _introduce(line.replace("*", ""), names, introduced).replace("_", "")
                                         + "*"))
            else:
                blocks.append(ftn.action(_introduce(line, names, introduced)))
        if item.quotes:
            speech = _speech(item)
            if item.speaker:
                blocks.append(ftn.dialogue(item.speaker, speech, item.parenthetical))
            elif style == "audio":
                blocks.append(ftn.dialogue("NARRATOR", f"A voice: “{speech}”"))
            else:
                blocks.append(ftn.action(f"A voice: “{speech}”"))
    return blocks


def _ambience(scene: DraftScene) -> str:
    if scene.exterior:
        return "Wind, distant birds." if not scene.night else "Night wind; an owl far off."
    return "A clock ticks; a fire crackles." if scene.night else "A quiet room; a clock ticks."


def chapter_script(text: str, *, book_title: str, chapter_number: int, chapter_title: str,
                   style: str = "cinematic", characters: list[CharacterRef] | None = None,
                   plot: PlotContext | None = None, author: str | None = None) -> OfflineScript:
    """Turn one chapter's prose into a Fountain screenplay in the given style."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}")
    names = Names(characters)
    paragraphs = analyse(text, names)
    _turns(paragraphs, names, _narrator(paragraphs, names))
    scenes = split_scenes(paragraphs)
    by_name = {c.name: c for c in characters or []}
    introduced: set[str] = set()
    chapter_line = f"Chapter {chapter_number}" + (
        "" if chapter_title.strip().lower() in ("", f"chapter {chapter_number}") else f": {chapter_title}")
    title = {"Title": [book_title, chapter_line],
             "Credit": "Adapted from the novel by", "Author": author or "the author",
             "Source": f"{STYLES[style].split(':')[0]} · {LABEL}", "Draft date": LABEL}
    blocks = [ftn.title_page(title)]
    enhancements = []
    if plot and plot.logline:
        blocks.append(f"[[logline: {' '.join(plot.logline.split())}]]")
        enhancements.append("logline noted for the chapter")
    if style == "cinematic":
        blocks.append("FADE IN:")
    acts = _acts(len(scenes), teaser=style == "tv") if style in ("tv", "stage") else {}
    for number, scene in enumerate(scenes, start=1):
        if number in acts:
            name = acts[number]
            if style == "tv" and number > 1:
                previous = acts[max(k for k in acts if k < number)]
                blocks.append(f"> **END OF {previous.upper()}** <")
            blocks += [f"# {name}", f"> **{name.upper()}** <"]
        blocks += _scene_blocks(scene, number, style, names, introduced, by_name)
        last = number == len(scenes)
        if style == "cinematic":
            blocks.append("> FADE OUT." if last else ("DISSOLVE TO:" if scenes[number].time_jump else "CUT TO:"))
        elif style == "tv":
            blocks.append("> FADE OUT." if last or (number + 1) in acts else "CUT TO:")
        elif style == "stage":
            blocks.append("> CURTAIN." if last else "> LIGHTS FADE.")
        elif style == "audio":
            blocks.append(ftn.action("MUSIC: Closing theme.") if last else ftn.action("MUSIC: A short bridge."))
            blocks.append("> FADE OUT." if last else "CROSSFADE TO:")
    if style == "tv":
        blocks.append(f"> **END OF {acts[max(acts)].upper()}** <")
    if characters:
        enhancements.append("cues from the character board (aliases resolved)")
        if any(c.want or c.arc for c in characters):
            enhancements.append("arc notes per scene for the characters who speak")
    return OfflineScript(fountain=ftn.join(blocks), label=LABEL, plot_enhanced=bool(plot and plot.logline),
                         character_enhanced=bool(characters), enhancements=enhancements)


def _acts(scene_count: int, *, teaser: bool) -> dict[int, str]:
    """First scene number of each act -> its name: a teaser then up to four acts (TV), or two acts (stage)."""
    if scene_count <= 1:
        return {1: "Act One"}
    acts, first = ({1: "Teaser"}, 2) if teaser else ({}, 1)
    rest = scene_count - first + 1
    count = min(4 if teaser else 2, rest)
    size = math.ceil(rest / count)
    for k in range(count):
        start = first + k * size
        if start <= scene_count:
            acts[start] = f"Act {SPELLED[k].capitalize()}"
    return acts


# --- the engine interface (core.engines.Engine) --------------------------------------------------------


def _board(characters: list) -> list[CharacterRef]:
    return [CharacterRef(c.name, list(c.aliases or []), want=c.want or "", need=c.need or "",
                         arc=c.character_arc or "") for c in characters]


def chapter_script_result(request):
    """`Engine.chapter_script` offline: the rules above, no model, nothing charged."""
    from core.artefacts import ChapterScriptDraft
    from core.engines import EngineResult
    from core.generation import Usage

    plot = request.plot
    draft = chapter_script(request.chapter_text, book_title=request.book_title, author=request.author,
                           chapter_number=request.chapter_number, chapter_title=request.chapter_title,
                           style=request.style, characters=_board(request.characters),
                           plot=PlotContext(plot.logline or "", list(plot.themes or [])) if plot else None)
    return EngineResult(ChapterScriptDraft(fountain=draft.fountain, enhancements=draft.enhancements),
                        Usage(tier=request.tier.value), [], "offline_script_rules", "1")


def enhance_result(request):
    """`Engine.enhance_script` offline: the logline up front, each speaking character's want after each heading."""
    from core.artefacts import ChapterScriptDraft
    from core.engines import EngineResult
    from core.generation import Usage

    fountain, applied = enhance(request.fountain or "", request.plot, _board(request.characters))
    return EngineResult(ChapterScriptDraft(fountain=fountain, enhancements=applied), Usage(tier=request.tier.value),
                        [], "offline_enhance_rules", "1")


def enhance(fountain: str, plot, board: list[CharacterRef]) -> tuple[str, list[str]]:
    script = ftn.parse(fountain)
    by_cue: dict[str, CharacterRef] = {}
    for character in board:
        for name in [character.name, *character.aliases]:
            by_cue.setdefault(ftn.cue(name), character)
    notes_for = {}
    for scene in script.scenes:
        notes = []
        for name in scene.characters:
            character = by_cue.get(name)
            if character and (character.want or character.arc) and name not in scene.arc_progression:
                text = f"wants {character.want}" if character.want else character.arc
                notes.append(f"[[arc {name}: {' '.join(text.split())[:200]}]]")
        if notes:
            notes_for[scene.heading] = " ".join(notes)
    out, applied, done = [], [], set()
    for line in fountain.split("\n"):
        out.append(line)
        key = line.strip().lstrip(".").strip().upper()
        if key in notes_for and key not in done:
            out += ["", notes_for[key]]
            done.add(key)
    if done:
        applied.append(f"character arc notes in {len(done)} scenes")
    text = "\n".join(out)
    if plot is not None and plot.logline and "[[logline:" not in text:
        body = ftn.body_of(text)
        head = text[: len(text) - len(body)] if text.endswith(body) else ""
        text = head + f"[[logline: {' '.join(plot.logline.split())}]]\n\n" + body
        applied.append("plot context integration (logline)")
    return text, applied or ["no change: the script's characters are not on the board"]

