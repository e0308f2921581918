"""The model path of the character board: each main character profiled from passages where they appear, spread
over the whole book (not the first chapters only), with the passages cited per field."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field

from core.artefacts import (CHARACTER_ROLES, ArchetypeAnalysis, ArchetypeFit, CharacterProfile, Citation,
                            CitedCharacter, RealText)
from core.archetypes import active_archetypes
from core.engines.offline.characters import ChapterReading
from core.errors import CharacterGenerationError
from core.generation.model import generate_structured
from core.generation.usage import Resource, Usage, check_limits
from core.prompts import load_prompt

PROFILED = 10  # the main characters get a model profile; the rest keep their offline draft
PASSAGES = 8


class ArchetypeChoice(BaseModel):
    name: RealText
    reason: RealText
    passages: list[int] = Field(default_factory=list, description="numbers of the passages that show it")


class ModelProfile(BaseModel):
    """What the model answers for one character."""

    role: Literal["protagonist", "antagonist", "supporting", "minor"]
    want: RealText
    need: RealText
    lie: RealText
    ghost: RealText
    character_arc: RealText
    physical_description: RealText
    personality: RealText
    primary_archetype: ArchetypeChoice
    secondary_archetypes: list[ArchetypeChoice] = Field(default_factory=list, max_length=4)
    traits: list[RealText] = Field(default_factory=list)
    strengths: list[RealText] = Field(default_factory=list)
    shadows: list[RealText] = Field(default_factory=list)
    story_roles: list[RealText] = Field(default_factory=list)
    citations: dict[str, list[int]] = Field(default_factory=dict,
                                            description="field name -> numbers of the passages it rests on")


def passages_for(cited: CitedCharacter, chapters: list[ChapterReading]) -> list[tuple[Citation, str]]:
    """Up to PASSAGES chunks (or sentences, for a book without chunks) naming the character, evenly spread."""
    names = [cited.profile.name, *cited.profile.aliases]
    found: list[tuple[Citation, str]] = []
    for chapter in chapters:
        spans = chapter.chunks or [(0, s, e) for s, e in chapter.annotations.sentences]
        for chunk_id, start, end in spans:
            text = chapter.text[start:end]
            if any(name in text for name in names):
                found.append((Citation(chunk_id=chunk_id, chapter_number=chapter.number,
                                       quote=" ".join(text.split())[:240]), text))
    if len(found) <= PASSAGES:
        return found
    step = len(found) / PASSAGES
    return [found[int(i * step)] for i in range(PASSAGES)]


def profile_with_model(user_id: uuid.UUID, book_title: str, chapters: list[ChapterReading],
                       board: list[CitedCharacter], progress) -> tuple[list[CitedCharacter], dict, Usage]:
    """The board with its main characters profiled by the model; the provenance and the usage to charge."""
    tier = check_limits(user_id, Resource.CHARACTER)
    prompt = load_prompt("character_profile")
    allowed = [a.name for a in active_archetypes(user_id)]
    usage = Usage()
    profiled = []
    chunk_ids: set[int] = set()
    for n, cited in enumerate(board):
        if n >= PROFILED:
            profiled.append(cited)
            continue
        progress(n, min(PROFILED, len(board)), f"Profiling {cited.profile.name} with the model…")
        passages = passages_for(cited, chapters)
        numbered = "\n\n".join(f"[{i}] (chapter {c.chapter_number}) {' '.join(text.split())[:1500]}"
                               for i, (c, text) in enumerate(passages, start=1))
        generated = generate_structured(prompt, {
            "book_title": book_title, "name": cited.profile.name,
            "aliases": ", ".join(cited.profile.aliases) or "none", "role": cited.profile.role,
            "archetypes": ", ".join(allowed), "passages": numbered or "(none found)"},
            ModelProfile, tier=tier, user_id=user_id, error=CharacterGenerationError)
        usage.add(generated.usage)
        answer = generated.value
        cite = lambda numbers: [passages[i - 1][0] for i in numbers if 1 <= i <= len(passages)]  # noqa: E731
        fits = [ArchetypeFit(name=choice.name, reason=choice.reason, evidence=cite(choice.passages))
                for choice in [answer.primary_archetype, *answer.secondary_archetypes]]
        fits = [f for f in fits if f.name in allowed]
        if not fits:  # the model named none of the table's archetypes: keep the rules' primary
            fits = [cited.analysis.primary.model_copy(update={
                "reason": f"Kept from the offline analysis (the model chose none of the table's archetypes): "
                          f"{cited.analysis.primary.reason}"})]
        analysis = ArchetypeAnalysis(primary=fits[0], secondary=fits[1:5], traits=answer.traits,
                                     strengths=answer.strengths, shadows=answer.shadows,
                                     story_roles=answer.story_roles, method=generated.usage.model or "model")
        profile = CharacterProfile(
            name=cited.profile.name, aliases=cited.profile.aliases,
            role=answer.role if answer.role in CHARACTER_ROLES else cited.profile.role,
            archetypes=analysis.names, want=answer.want, need=answer.need, lie=answer.lie, ghost=answer.ghost,
            character_arc=answer.character_arc, physical_description=answer.physical_description,
            personality=answer.personality)
        citations = {field: cite(numbers) for field, numbers in answer.citations.items() if cite(numbers)}
        chunk_ids |= {c.chunk_id for c, _ in passages if c.chunk_id}
        profiled.append(CitedCharacter(profile=profile, analysis=analysis, citations=citations,
                                       stats=cited.stats, label=f"generated by {usage.model or 'a model'}"))
    provenance = {"generation_method": "llm", "model_used": usage.model, "prompt_name": prompt.name,
                  "prompt_version": prompt.version, "tokens_in": usage.tokens_in, "tokens_out": usage.tokens_out,
                  "generation_cost": usage.cost_usd, "source_chunk_ids": sorted(chunk_ids),
                  "duration_ms": usage.duration_ms}
    return profiled, provenance, usage
