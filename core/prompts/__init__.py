"""Prompts are files: `<name>.md` with YAML front matter (name, version, variables) and `## system` / `## user` parts.

    prompt = load_prompt("plot_overview")          # a strict, validated PromptFile
    prompt.template()                              # a LangChain ChatPromptTemplate
    prompt.render(book_title=..., ...)             # messages; a missing or unknown variable is a PromptError

Templates use `{variable}`; literal braces are written `{{` and `}}` (LangChain f-string templates).
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from pathlib import Path

import yaml
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import PromptError

PROMPTS_DIR = Path(__file__).resolve().parent
_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n(.*)\Z", re.S)
_PART = re.compile(r"^## (system|user)\s*$", re.M)


def _placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


class PromptFile(BaseModel):
    """One prompt as its file declares it; every declared variable is used and every used one declared."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: str = Field(min_length=1, max_length=20)
    description: str = Field(min_length=1)
    variables: tuple[str, ...] = ()
    system: str = Field(min_length=1)
    user: str = Field(min_length=1)

    @model_validator(mode="after")
    def _variables_match(self) -> "PromptFile":
        used = _placeholders(self.system) | _placeholders(self.user)
        if used != set(self.variables):
            raise ValueError(f"declared variables {sorted(self.variables)} but the text uses {sorted(used)}")
        return self

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def template(self) -> ChatPromptTemplate:
        return ChatPromptTemplate.from_messages([("system", self.system), ("human", self.user)])

    def check(self, variables: dict) -> dict:
        """The variables this prompt takes, or a PromptError naming what is missing or unexpected."""
        missing = set(self.variables) - set(variables)
        extra = set(variables) - set(self.variables)
        if missing or extra:
            raise PromptError(f"Prompt {self.label}: missing {sorted(missing)}, unexpected {sorted(extra)}.")
        return {key: variables[key] for key in self.variables}

    def render(self, **variables: object) -> list[BaseMessage]:
        return self.template().format_messages(**self.check(variables))


def parse_prompt(text: str, *, source: str = "prompt") -> PromptFile:
    """A prompt file's text as a PromptFile, or a PromptError saying what is wrong with it."""
    match = _FRONT_MATTER.match(text)
    if not match:
        raise PromptError(f"{source}: no YAML front matter between --- lines.")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise PromptError(f"{source}: front matter is not YAML ({exc}).") from exc
    pieces = _PART.split(match.group(2))
    parts = {pieces[i]: pieces[i + 1].strip() for i in range(1, len(pieces) - 1, 2)}
    try:
        return PromptFile(**meta, **parts)
    except (ValidationError, TypeError) as exc:
        raise PromptError(f"{source}: {exc}") from exc


@lru_cache(maxsize=None)
def load_prompt(name: str) -> PromptFile:
    """The prompt stored in core/prompts/<name>.md."""
    path = PROMPTS_DIR / f"{name}.md"
    if not path.is_file():
        raise PromptError(f"There is no prompt file {path.name}.")
    prompt = parse_prompt(path.read_text(encoding="utf-8"), source=path.name)
    if prompt.name != name:
        raise PromptError(f"{path.name} declares the name {prompt.name!r}.")
    return prompt


def all_prompt_names() -> list[str]:
    return sorted(path.stem for path in PROMPTS_DIR.glob("*.md"))
