"""Engines: one interface, two implementations, and services never branch on which one runs.

    engine = get_engine(name)            # "llm", "offline", or None: llm when a model is configured, else offline
    result = engine.plot_overview(request)
    result.value   # the artefact (core.artefacts), with citations and its label ("offline draft" / the model)
    result.usage   # core.generation.Usage (zero tokens offline)

Each method takes one request dataclass and returns EngineResult. Helpers add `characters` and `chapter_script`
the same way: a method on Engine (the interface below), implemented in llm.py and offline/.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from core.config import Tier
from core.engines.reading import BookText
from core.generation import Usage

T = TypeVar("T")
OFFLINE, LLM = "offline", "llm"


def no_progress(done: int, total: int, message: str = "") -> None:
    """A progress callback that reports nowhere."""


@dataclass
class EngineResult(Generic[T]):
    value: T
    usage: Usage
    source_chunk_ids: list[int]
    prompt_name: str | None = None
    prompt_version: str | None = None


@dataclass
class PlotRequest:
    user_id: uuid.UUID
    book: BookText
    tier: Tier = Tier.FREE
    instructions: str | None = None
    progress: Callable[[int, int, str], None] = field(default=no_progress)


@dataclass
class ScriptRequest:
    """One chapter to write as a screenplay (or, with `fountain`, a screenplay to enhance with the plot)."""

    user_id: uuid.UUID
    book_title: str
    author: str | None
    chapter_number: int
    chapter_title: str
    chapter_text: str
    style: str
    plot: object | None = None  # db.models.PlotOverview, newest version, when the book has one
    characters: list = field(default_factory=list)  # db.models.Character, the board's newest versions
    related: list = field(default_factory=list)  # core.retrieval.Hit: set-ups and pay-offs in other chapters
    tier: Tier = Tier.FREE
    instructions: str | None = None
    fountain: str | None = None


class Engine(Protocol):
    name: str

    def plot_overview(self, request: PlotRequest) -> EngineResult: ...

    def chapter_script(self, request: ScriptRequest) -> EngineResult: ...  # value: core.artefacts.ChapterScriptDraft

    def enhance_script(self, request: ScriptRequest) -> EngineResult: ...


def engine_names() -> list[str]:
    return [OFFLINE, LLM]


def default_engine_name() -> str:
    from core.generation import llm_available
    return LLM if llm_available() else OFFLINE


def get_engine(name: str | None = None) -> Engine:
    """The named engine, or the default one (the model when configured, otherwise offline)."""
    name = name or default_engine_name()
    if name == OFFLINE:
        from core.engines.offline import OfflineEngine
        return OfflineEngine()
    if name == LLM:
        from core.engines.llm import LlmEngine
        return LlmEngine()
    from core.errors import PlotStudioError
    raise PlotStudioError(f"There is no engine called “{name}”: choose offline or llm.")
