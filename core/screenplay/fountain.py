"""Fountain text <-> screenplay structure: the one place where the two meet.

Parsing is screenplain's (title page, scene headings incl. forced `.HEADING`, dual dialogue, centred text,
page breaks, transitions); this module walks its paragraphs once to derive the stored structure (scenes,
acts, beats, characters), keeping Fountain notes `[[key: value]]` that screenplain would drop, since the
generator writes each scene's source passages and arc notes there.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from functools import lru_cache

from screenplain.parsers import fountain as sp
from screenplain.types import Action, Dialog, DualDialog, PageBreak, Screenplay, Section, Slug, Transition

from core.errors import PlotStudioError

LINES_PER_PAGE = 55  # the industry's page: 12pt Courier, 55 lines (screenplain's PDF uses the same)
ACTION_WIDTH, DIALOGUE_WIDTH, PARENTHETICAL_WIDTH = 61, 35, 25
CAMERA_WORDS = re.compile(r"\b(CLOSE ON|CLOSE-UP|CLOSE UP|ANGLE ON|POV|PAN|TRACKING|WIDE|INSERT|AERIAL|"
                          r"ZOOM|DOLLY|CRANE|OVERHEAD|MONTAGE|INTERCUT|SLOW MOTION|FREEZE FRAME)\b")
AUDIO_PREFIX = re.compile(r"^\s*(SFX|SOUND|MUSIC|AMBIENCE|FX)\s*:", re.IGNORECASE)
NOTE = re.compile(r"\[\[\s*(.*?)\s*\]\]", re.DOTALL)
CUE_EXTENSION = re.compile(r"\s*\((?:V\.?O\.?|O\.?S\.?|O\.?C\.?|CONT'?D|CONT’D|CONTINUING|PRE-LAP|FILTERED)\)\s*",
                           re.IGNORECASE)


class FountainError(PlotStudioError):
    """The text is not a screenplay Plot Studio can read."""


@dataclass
class DialogueLine:
    character: str
    text: str
    parenthetical: str = ""


@dataclass
class Scene:
    number: int
    heading: str
    forced: bool = False
    description: str = ""
    characters: list[str] = field(default_factory=list)
    dialogue: list[DialogueLine] = field(default_factory=list)
    action: list[str] = field(default_factory=list)
    transition: str = ""
    camera_notes: list[str] = field(default_factory=list)
    audio_notes: list[str] = field(default_factory=list)
    arc_progression: dict[str, str] = field(default_factory=dict)
    source_passages: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    act: str = ""
    lines: int = 0  # printed lines, for the page estimate
    text: str = ""  # the scene's own Fountain, for comparing versions

    def as_dict(self) -> dict:
        return {"scene_number": self.number, "heading": self.heading, "forced": self.forced,
                "description": self.description, "characters": self.characters,
                "dialogue_lines": len(self.dialogue), "arc_progression": self.arc_progression,
                "camera_notes": "; ".join(self.camera_notes) or None,
                "audio_notes": "; ".join(self.audio_notes) or None,
                "source_passages": self.source_passages, "act": self.act or None,
                "transition": self.transition or None, "pages": round(self.lines / LINES_PER_PAGE, 2)}


@dataclass
class Script:
    """A parsed screenplay: title page, scenes in order, acts, beats, who speaks how often."""

    title_page: dict[str, list[str]]
    scenes: list[Scene]
    acts: list[dict]
    beats: list[dict]
    lines: int
    preamble_lines: int = 0  # what comes before the first heading (FADE IN:, a teaser title)

    @property
    def pages(self) -> float:
        return round(max(self.lines, 1) / LINES_PER_PAGE, 1)

    @property
    def page_estimate(self) -> int:
        return max(1, -(-self.lines // LINES_PER_PAGE)) + (1 if self.title_page else 0)

    def dialogue_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for scene in self.scenes:
            for line in scene.dialogue:
                counts[line.character] = counts.get(line.character, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def speaking_characters(self) -> list[str]:
        return list(self.dialogue_counts())

    def structure(self) -> dict:
        """What the chapter_scripts row stores beside the text (derived here, never written by hand)."""
        characters = self.dialogue_counts()
        return {"scenes": [scene.as_dict() for scene in self.scenes], "acts": self.acts, "beats": self.beats,
                "character_details": {name: {"dialogue_lines": n,
                                             "scenes": [s.number for s in self.scenes if name in s.characters]}
                                      for name, n in characters.items()},
                "character_arcs": _arcs(self.scenes), "pages": self.pages}


def _arcs(scenes: list[Scene]) -> dict[str, list[dict]]:
    arcs: dict[str, list[dict]] = {}
    for scene in scenes:
        for name, note in scene.arc_progression.items():
            arcs.setdefault(name, []).append({"scene": scene.number, "note": note})
    return arcs


def cue_name(cue: str) -> str:
    """The character a cue names, without extensions: `ELINOR (V.O.)` -> `ELINOR`."""
    name = CUE_EXTENSION.sub(" ", cue).strip()
    name = re.sub(r"\s*\^$", "", name)
    return re.sub(r"\s*\([^)]*\)\s*$", "", name).strip().upper()


def _wrapped(text: str, width: int) -> int:
    return max(1, -(-len(text) // width))


def _dialogue_lines(dialog: Dialog) -> tuple[list[DialogueLine], int]:
    name = cue_name(str(dialog.character))
    lines, printed, pending = [], 2, ""
    for is_parenthetical, rich in dialog.blocks:
        text = str(rich).strip()
        if is_parenthetical:
            pending = text
            printed += _wrapped(text, PARENTHETICAL_WIDTH)
            continue
        printed += _wrapped(text, DIALOGUE_WIDTH)
        if text:
            if lines and not pending and lines[-1].character == name:
                lines[-1].text += " " + text  # one speech over several lines is one line of dialogue
            else:
                lines.append(DialogueLine(name, text, pending))
            pending = ""
    return lines, printed


@lru_cache(maxsize=64)
def _parse_cached(text: str) -> Script:
    return _parse(text)


def parse(text: str) -> Script:
    """Parse Fountain into a Script (cached: pages re-render the same text on every rerun)."""
    if not isinstance(text, str):
        raise FountainError("A screenplay must be text.")
    if "\x00" in text:
        raise FountainError("That file is not Fountain text (it contains binary data).")
    return _parse_cached(text)


def _parse(text: str) -> Script:
    text = sp.boneyard_re.sub("", text.lstrip("\ufeff"))
    raw = [sp._preprocess_line(line) for line in sp.linebreak_re.split(text)]
    head = list(itertools.takewhile(lambda line: line != "", raw))
    title_page = sp.parse_title_page(head) if head else None
    body = raw[len(head):] if title_page else raw

    scenes: list[Scene] = []
    acts: list[dict] = []
    beats: list[dict] = []
    paragraphs: list = []
    preamble = 0
    current: Scene | None = None
    act_name = ""
    total = 0
    for blank, group in itertools.groupby(body, sp._is_blank):
        if blank:
            continue
        raw_lines = list(group)
        joined = "\n".join(raw_lines)
        notes = NOTE.findall(joined)
        stripped = sp.note_re.sub("", joined)
        if sp._is_blank(stripped.strip()):
            if current is not None:
                _take_notes(current, notes)
            continue
        before = len(paragraphs)
        sp.InputParagraph(stripped.split("\n")).update_list(paragraphs)
        element = paragraphs[-1] if paragraphs else None
        if element is None or (len(paragraphs) == before and not isinstance(element, DualDialog)):
            continue  # a synopsis attached to the previous element
        printed = 0
        if isinstance(element, Slug):
            heading = str(element.line).strip()
            current = Scene(number=len(scenes) + 1, heading=heading, forced=raw_lines[0].lstrip().startswith("."),
                            act=act_name)
            scenes.append(current)
            printed = 2
        elif isinstance(element, Section):
            title = str(element.text).strip()
            if element.level == 1:
                act_name = title
                acts.append({"name": title, "first_scene": len(scenes) + 1, "scenes": []})
            else:
                beats.append({"name": title, "scene": len(scenes) + 1 if current is None else current.number,
                              "level": element.level})
        elif isinstance(element, DualDialog):
            printed = 0
            for side in (element.left, element.right):
                lines, side_printed = _dialogue_lines(side)
                printed = max(printed, side_printed)
                if current is not None:
                    _add_dialogue(current, lines)
        elif isinstance(element, Dialog):
            lines, printed = _dialogue_lines(element)
            if current is not None:
                _add_dialogue(current, lines)
        elif isinstance(element, Action):
            action = " ".join(str(line).strip() for line in element.lines).strip()
            printed = 1 + sum(_wrapped(str(line), ACTION_WIDTH) for line in element.lines)
            if current is not None:
                current.action.append(action)
                if not current.description and not element.centered and not AUDIO_PREFIX.match(action):
                    current.description = _first_sentences(action)
                if CAMERA_WORDS.search(action):
                    current.camera_notes.append(action)
                if AUDIO_PREFIX.match(action):
                    current.audio_notes.append(action)
        elif isinstance(element, Transition):
            printed = 2
            if current is not None:
                current.transition = str(element.line).strip()
        elif isinstance(element, PageBreak):
            printed = LINES_PER_PAGE - (total % LINES_PER_PAGE) if total % LINES_PER_PAGE else 0
        if current is not None:
            _take_notes(current, notes)
            current.lines += printed
            current.text += stripped.strip() + "\n\n"
        else:
            preamble += printed
        total += printed

    for scene in scenes:
        if CAMERA_WORDS.search(scene.heading):
            scene.camera_notes.insert(0, scene.heading)
    for act in acts:
        act["scenes"] = [s.number for s in scenes if s.act == act["name"]]
    return Script(title_page=title_page or {}, scenes=scenes, acts=acts, beats=beats, lines=total,
                  preamble_lines=preamble)


def _add_dialogue(scene: Scene, lines: list[DialogueLine]) -> None:
    for line in lines:
        scene.dialogue.append(line)
        if line.character not in scene.characters:
            scene.characters.append(line.character)


def _take_notes(scene: Scene, notes: list[str]) -> None:
    """`[[source: ...]]`, `[[arc NAME: ...]]`, `[[camera: ...]]`, `[[audio: ...]]`; anything else kept as a note."""
    for note in notes:
        key, _, value = note.partition(":")
        key, value = key.strip(), value.strip()
        lowered = key.lower()
        if lowered == "source" and value:
            scene.source_passages.append(value)
        elif lowered.startswith("arc ") and value:
            scene.arc_progression[key[4:].strip()] = value
        elif lowered == "camera" and value:
            scene.camera_notes.append(value)
        elif lowered == "audio" and value:
            scene.audio_notes.append(value)
        else:
            scene.notes.append(note.strip())


def _first_sentences(text: str, limit: int = 200) -> str:
    sentence = re.split(r"(?<=[.!?])\s+", text, maxsplit=2)
    out = " ".join(sentence[:2])
    return out if len(out) <= limit else out[:limit].rsplit(" ", 1)[0] + "…"


def to_screenplay(text: str) -> Screenplay:
    """screenplain's object for its exporters (FDX, PDF, HTML)."""
    return sp.parse(_Reader(text.lstrip("\ufeff")))


class _Reader:
    def __init__(self, text: str):
        self._text = text

    def read(self) -> str:
        return self._text


# --- rendering: structure -> Fountain --------------------------------------------------------------

_RISKY_ACTION_START = re.compile(r"^(INT|EXT|EST|I/E|INT\./EXT)[ .]|^[.!@#=~>\[/]", re.IGNORECASE)


def action(text: str) -> str:
    """Prose as a Fountain action paragraph that cannot be misread as another element."""
    text = " ".join(text.split()).replace("[[", "[ [").replace("/*", "/ *")
    if not text:
        return ""
    letters = [c for c in text if c.isalpha()]
    looks_like_other = _RISKY_ACTION_START.match(text) or (letters and text.upper() == text) or text.endswith("TO:")
    return f"!{text}" if looks_like_other else text


def cue(name: str) -> str:
    """A character cue: upper case, nothing Fountain would read as something else."""
    name = re.sub(r"[\[\]#^*_~@!>]", "", " ".join(name.split())).strip().upper()
    return name or "VOICE"


def dialogue(name: str, text: str, parenthetical: str = "") -> str:
    speech = " ".join(text.split()).replace("[[", "[ [")
    if speech.startswith("("):
        speech = "\u2060" + speech  # a line that starts with "(" would be read as a parenthetical (U+2060 is no space)
    lines = [cue(name)]
    if parenthetical:
        lines.append(f"({parenthetical.strip('() ')})")
    lines.append(speech or "...")
    return "\n".join(lines)


def heading(text: str, *, forced: bool = False) -> str:
    clean = re.sub(r"[#\[\]]", "", " ".join(text.split())).upper().strip()
    return f".{clean}" if forced else clean


def title_page(fields: dict[str, str | list[str]]) -> str:
    out = []
    for key, value in fields.items():
        values = [value] if isinstance(value, str) else list(value)
        values = [" ".join(v.split()) for v in values if v and v.strip()]
        if not values:
            continue
        if len(values) == 1:
            out.append(f"{key}: {values[0]}")
        else:
            out.append(f"{key}:")
            out.extend(f"    {v}" for v in values)
    return "\n".join(out)


def join(blocks: list[str]) -> str:
    """Fountain paragraphs separated by one blank line, ending with a newline."""
    return "\n\n".join(block.strip("\n") for block in blocks if block and block.strip()) + "\n"


def body_of(text: str) -> str:
    """The text after the title page (what a whole-book script strings together)."""
    lines = text.lstrip("\ufeff").split("\n")
    head = list(itertools.takewhile(lambda line: line.strip() != "", lines))
    if head and sp.parse_title_page([sp._preprocess_line(line) for line in head]):
        return "\n".join(lines[len(head):]).strip("\n") + "\n"
    return text
