"""Pydantic schemas of every generated artefact, with the design's validators.

Both engines (llm, offline) return these; pages edit them; a model answer that fails them is rejected like
any invalid answer (empty or placeholder values included). Helpers add their artefacts' schemas below.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

# What small models answer when they have nothing: refused wherever a real value is due.
PLACEHOLDERS = {
    "", "n/a", "na", "none", "null", "nil", "string", "str", "text", "unknown", "tbd", "todo", "...", "…",
    "-", "--", "?", "placeholder", "lorem ipsum", "example", "value", "insert here", "not specified",
    "not available", "not applicable", "no data",
}
_ANGLE_PLACEHOLDER = re.compile(r"^[<\[{].*[>\]}]$")  # "<logline>", "[theme]", "{genre}"


def real_text(value: str) -> str:
    """The value stripped; a placeholder or empty value is an error."""
    stripped = value.strip()
    if stripped.lower().strip(".!") in PLACEHOLDERS or _ANGLE_PLACEHOLDER.match(stripped):
        raise ValueError(f"“{stripped}” is a placeholder, not a value")
    return stripped


RealText = Annotated[str, AfterValidator(real_text)]
ShortLabel = Annotated[str, AfterValidator(real_text), Field(max_length=50)]


class Citation(BaseModel):
    """A passage a field rests on: the chunk, its chapter, and the sentence quoted from it."""

    chunk_id: int
    chapter_number: int
    quote: str = Field(min_length=1)


# --- plot overview ----------------------------------------------------------------------------------

PLOT_FIELDS = ("logline", "themes", "story_type", "genre", "tone", "audience", "setting")


class PlotOverview(BaseModel):
    """The plot overview a writer edits and saves (the design's PlotOverviewValidator)."""

    model_config = ConfigDict(str_strip_whitespace=False)

    logline: RealText = Field(description="One sentence: the protagonist, the opposing force, the central conflict.")
    themes: list[RealText] = Field(description="3 to 6 short noun phrases.")
    story_type: ShortLabel = Field(description="The classic plot type, e.g. Overcoming the Monster, Comedy, Tragedy.")
    genre: ShortLabel
    tone: ShortLabel
    audience: ShortLabel
    setting: RealText = Field(description="Places and period.")

    @field_validator("logline")
    @classmethod
    def _logline_length(cls, value: str) -> str:
        if len(value) < 10:
            raise ValueError("Logline must be at least 10 characters")
        if len(value) > 500:
            raise ValueError("Logline must be less than 500 characters")
        return value

    @field_validator("themes", mode="before")
    @classmethod
    def _themes_count(cls, value: list) -> list:
        themes = [theme.strip() for theme in value if isinstance(theme, str) and theme.strip()] \
            if isinstance(value, list) else value
        if isinstance(themes, list) and len(themes) < 1:
            raise ValueError("At least one theme is required")
        if isinstance(themes, list) and len(themes) > 10:
            raise ValueError("Maximum 10 themes allowed")
        return themes


_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|[\"“(]\s*)$")


def names_someone(text: str) -> bool:
    """Whether a capitalised word appears other than to open a sentence (a name, a place, a title)."""
    for match in re.finditer(r"\b[A-Z][a-z]+(?:['’]s)?\b", text):
        if match.group() not in ("I", "The", "A", "An", "When", "After", "In") \
                and not _SENTENCE_START.search(text[:match.start()]):
            return True
    return False


class PlotOverviewDraft(PlotOverview):
    """A generated overview: also its logline must name someone (a logline naming nobody is a placeholder)."""

    @field_validator("logline")
    @classmethod
    def _names_someone(cls, value: str) -> str:
        if not names_someone(value):
            raise ValueError("Logline must name the protagonist")
        return value


class CitedPlotOverview(BaseModel):
    """What an engine returns: the overview and, per field, the passages it rests on."""

    overview: PlotOverview
    citations: dict[str, list[Citation]]
    label: str = Field(description="how it was made, shown wherever it appears (e.g. 'offline draft')")


class ChapterDigest(BaseModel):
    """The map step's answer for one chapter (or one piece of a long chapter)."""

    summary: RealText = Field(min_length=20, description="At most 120 words: who acts, where, what they want, what changes.")


# --- character profile (the design's CharacterValidator) ---------------------------------------------


def character_name(value: str) -> str:
    stripped = real_text(value)
    if len(stripped) < 2:
        raise ValueError("Character name must be at least 2 characters")
    if len(value) > 255:
        raise ValueError("Character name must be less than 255 characters")
    return stripped


def archetype_list(value: list[str]) -> list[str]:
    if len(value) < 1:
        raise ValueError("At least one archetype is required")
    if len(value) > 5:
        raise ValueError("Maximum 5 archetypes allowed")
    return value


CharacterName = Annotated[str, AfterValidator(character_name)]
Archetypes = Annotated[list[RealText], AfterValidator(archetype_list)]


# --- chapter script (issue 11) -----------------------------------------------------------------------


def fountain_with_scenes(value: str) -> str:
    """Fountain text that parses and has at least one scene heading (what every script view needs)."""
    from core.screenplay.fountain import parse

    text = real_text(value)
    if not parse(text).scenes:
        raise ValueError("The screenplay has no scene heading (INT./EXT. PLACE - DAY, or a forced .HEADING)")
    return text


class ChapterScriptDraft(BaseModel):
    """What a model returns for a chapter script or an enhancement: Fountain, and what it changed."""

    fountain: Annotated[str, AfterValidator(fountain_with_scenes)] = Field(
        description="The whole screenplay of the chapter as Fountain text.")
    enhancements: list[RealText] = Field(
        default_factory=list, description="What the plot context changed, one short phrase each (may be empty).")


# --- character board (issue 10) ---------------------------------------------------------------------------

CHARACTER_ROLES = ("protagonist", "antagonist", "supporting", "minor")
CHARACTER_TEXT_FIELDS = ("character_arc", "physical_description", "personality", "want", "need", "lie", "ghost")


def character_role(value: str) -> str:
    role = value.strip().lower()
    if role not in CHARACTER_ROLES:
        raise ValueError(f"Role must be one of: {', '.join(CHARACTER_ROLES)}")
    return role


class CharacterProfile(BaseModel):
    """The profile a writer edits on the board (the design's Character and CharacterValidator)."""

    name: CharacterName
    aliases: list[RealText] = Field(default_factory=list, description="Other names the book uses for them.")
    role: Annotated[str, AfterValidator(character_role)] = Field(
        description="protagonist, antagonist, supporting or minor.")
    archetypes: Archetypes = Field(description="1 to 5 archetype names, the primary first.")
    want: RealText = Field(description="The external goal they pursue.")
    need: RealText = Field(description="The inner need they must meet.")
    lie: str = Field(default="", description="The false belief they hold.")
    ghost: str = Field(default="", description="The backstory wound behind the lie.")
    character_arc: str = Field(default="", description="How they change from first to last appearance.")
    physical_description: str = Field(default="", description="Age, build, face, hair, eyes, dress.")
    personality: str = Field(default="", description="Temperament and traits.")

    @field_validator("aliases")
    @classmethod
    def _distinct_aliases(cls, value: list[str]) -> list[str]:
        seen: list[str] = []
        for alias in value:
            if alias.lower() not in (s.lower() for s in seen):
                seen.append(alias)
        return seen


class ArchetypeFit(BaseModel):
    """One archetype and why it fits, with the passages that show it."""

    name: RealText
    reason: RealText
    evidence: list[Citation] = Field(default_factory=list)


class ArchetypeAnalysis(BaseModel):
    """The design's archetype analysis: primary, 1-4 secondary, traits, strengths, shadows, story roles."""

    primary: ArchetypeFit
    secondary: list[ArchetypeFit] = Field(default_factory=list, max_length=4)
    traits: list[str] = Field(default_factory=list)
    strengths: list[str] = Field(default_factory=list)
    shadows: list[str] = Field(default_factory=list)
    story_roles: list[str] = Field(default_factory=list)
    method: str = Field(default="rules", description="'rules' (offline) or the model that analysed it")

    @property
    def names(self) -> list[str]:
        return [self.primary.name, *(fit.name for fit in self.secondary)]


class CharacterStats(BaseModel):
    rank: int | None = None  # 1 = the most important character of the book
    mentions: int = 0
    dialogue_lines: int = 0
    chapters_present: int = 0
    first_chapter: int | None = None
    last_chapter: int | None = None


class CitedCharacter(BaseModel):
    """What a characters engine returns per character: profile, analysis, per-field citations, counts."""

    profile: CharacterProfile
    analysis: ArchetypeAnalysis
    citations: dict[str, list[Citation]] = Field(default_factory=dict)
    stats: CharacterStats = Field(default_factory=CharacterStats)
    label: str = Field(description="how it was made, shown wherever it appears (e.g. 'offline draft')")
