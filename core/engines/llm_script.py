"""The model path of chapter scripts: the chapter (or a script to enhance) with the plot, the board and set-ups
and pay-offs from other chapters in the prompt; the answer is Fountain that must parse with a scene heading."""

from __future__ import annotations

from core.artefacts import ChapterScriptDraft
from core.engines import EngineResult, ScriptRequest
from core.engines.offline.script import STYLES
from core.errors import GenerationError
from core.generation.model import generate_structured
from core.prompts import load_prompt


def plot_text(plot) -> str:
    if plot is None:
        return "(no plot overview yet)"
    return "\n".join(filter(None, [f"Logline: {plot.logline}", f"Themes: {', '.join(plot.themes or [])}",
                                   f"Story type: {plot.story_type}", f"Genre: {plot.genre}; tone: {plot.tone}",
                                   f"Setting: {plot.setting}"]))


def characters_text(characters: list) -> str:
    if not characters:
        return "(no character board yet: name speakers as the chapter does)"
    lines = []
    for c in characters:
        also = f" (also called {', '.join(c.aliases)})" if c.aliases else ""
        facts = "; ".join(f"{k}: {v}" for k, v in (("role", c.role), ("archetypes", ", ".join(c.archetypes or [])),
                                                   ("want", c.want), ("need", c.need),
                                                   ("arc", c.character_arc)) if v)
        lines.append(f"- {c.name}{also}: {facts}")
    return "\n".join(lines)


def _ask(prompt_name: str, request: ScriptRequest, **extra) -> EngineResult:
    prompt = load_prompt(prompt_name)
    variables = {"style_rules": STYLES[request.style], "book_title": request.book_title,
                 "chapter_heading": f"{request.chapter_number}. {request.chapter_title}",
                 "plot_context": plot_text(request.plot), "characters": characters_text(request.characters),
                 "custom_instructions": (request.instructions or "").strip() or "(none)",
                 "related_passages": "\n".join(f"- Chapter {h.chapter_number}: {' '.join(h.text.split())[:500]}"
                                               for h in request.related) or "(none)", **extra}
    result = generate_structured(prompt, variables, ChapterScriptDraft, tier=request.tier, user_id=request.user_id,
                                 error=GenerationError)
    return EngineResult(result.value, result.usage, [h.chunk_id for h in request.related], prompt.name,
                        prompt.version)


def chapter_script(request: ScriptRequest) -> EngineResult:
    return _ask("chapter_script", request, chapter_text=request.chapter_text)


def enhance_script(request: ScriptRequest) -> EngineResult:
    return _ask("enhance_script", request, fountain=request.fountain or "")
