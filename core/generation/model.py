"""Models per tier through `ChatOpenAI` (any OpenAI-compatible endpoint), and structured output that survives real servers.

    from core.generation import generate_structured
    result = generate_structured(load_prompt("plot_overview"), {...variables...}, PlotOverviewDraft,
                                 tier=tier, user_id=user_id, error=PlotGenerationError)
    result.value   # a validated instance of the schema
    result.usage   # Usage: model, tier, structured-output method, tokens, cost, calls, cache hits, duration

Asking for structured output tries `json_schema`, then `function_calling`, then `json_mode`, then a plain prompt
with a parser, starting from the method that last worked for this endpoint and model (remembered in Postgres).
An answer that fails the schema (placeholders included) gets one repair attempt, then `error` is raised.
429/5xx are retried with backoff by the OpenAI client (LLM_MAX_RETRIES); PLOT_GENERATION_TIMEOUT bounds each call.
Never call this inside a database transaction.
"""

from __future__ import annotations

import json
import re
import time
import uuid
import warnings
from dataclasses import dataclass
from typing import Generic, TypeVar

import openai
from langchain_core.messages import AIMessage, BaseMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from core.config import Settings, Tier, get_settings
from core.errors import ConfigurationError, GenerationError
from core.generation.cache import CACHE_HIT, cache_owner, install_llm_cache
from core.generation.usage import Usage
from core.prompts import PromptFile, load_prompt
from db.engine import unit_of_work
from db.models import LlmEndpointMethod

METHODS = ("json_schema", "function_calling", "json_mode", "prompt")
DEFAULT_ENDPOINT = "https://api.openai.com/v1"
Schema = TypeVar("Schema", bound=BaseModel)


@dataclass
class Generated(Generic[Schema]):
    value: Schema
    usage: Usage


def endpoint(settings: Settings | None = None) -> str:
    return (settings or get_settings()).llm_base_url or DEFAULT_ENDPOINT


def chat_model(tier: Tier, *, settings: Settings | None = None) -> ChatOpenAI:
    """The chat model a tier generates with, at the configured endpoint (the design's tier -> model mapping)."""
    settings = settings or get_settings()
    if not settings.llm_configured:
        raise ConfigurationError("No model is configured (LLM_BASE_URL / LLM_API_KEY): use the offline engine.")
    install_llm_cache()
    return ChatOpenAI(model=settings.model_for(tier), base_url=endpoint(settings),
                      api_key=settings.llm_api_key or "not-needed", timeout=settings.plot_generation_timeout,
                      max_retries=settings.llm_max_retries)


# --- which structured-output method an endpoint accepts ----------------------------------------------

_known_methods: dict[tuple[str, str], str] = {}


def remembered_method(url: str, model: str) -> str | None:
    if (url, model) not in _known_methods:
        with unit_of_work(None) as session:
            method = session.scalar(select(LlmEndpointMethod.method).where(
                LlmEndpointMethod.endpoint == url, LlmEndpointMethod.model == model))
        if method is None:
            return None
        _known_methods[(url, model)] = method
    return _known_methods[(url, model)]


def remember_method(url: str, model: str, method: str) -> None:
    if _known_methods.get((url, model)) == method:
        return
    with unit_of_work(None) as session:
        session.execute(insert(LlmEndpointMethod).values(endpoint=url, model=model, method=method)
                        .on_conflict_do_update(index_elements=["endpoint", "model"], set_={"method": method}))
    _known_methods[(url, model)] = method


def forget_methods() -> None:
    """Drop the in-process memory (the database keeps its copy)."""
    _known_methods.clear()


# --- one structured call ------------------------------------------------------------------------------


class _Unsupported(Exception):
    """The server refused this way of asking for structured output."""


class _Invalid(Exception):
    """The answer did not fit the schema."""

    def __init__(self, reason: str, answer: str):
        super().__init__(reason)
        self.reason, self.answer = reason, answer


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def parse_json_answer(text: str, schema: type[Schema]) -> Schema:
    """The schema instance in a free-text answer: the JSON object in it, fenced or not."""
    fenced = _FENCE.search(text)
    candidate = fenced.group(1) if fenced else text
    start, end = candidate.find("{"), candidate.rfind("}")
    if start < 0 or end < start:
        raise ValueError("the answer holds no JSON object")
    return schema.model_validate_json(candidate[start:end + 1])


def _usage_of(message: AIMessage, usage: Usage, method: str) -> None:
    usage.calls += 1
    if message.response_metadata.get(CACHE_HIT):
        usage.cache_hits += 1
    metadata = message.usage_metadata or {}
    usage.tokens_in += metadata.get("input_tokens", 0)
    usage.tokens_out += metadata.get("output_tokens", 0)
    if method not in usage.methods:
        usage.methods.append(method)


def _ask(model: ChatOpenAI, method: str, messages: list[BaseMessage], schema: type[Schema], usage: Usage) -> Schema:
    """One call with one method: the parsed answer, or _Unsupported / _Invalid."""
    if method in ("json_mode", "prompt"):
        instructions = load_prompt("structured_format").render(
            schema=json.dumps(schema.model_json_schema(), indent=None))
        messages = [*messages, *instructions]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if method in ("json_schema", "function_calling"):
                # The schema goes as JSON schema (not the class) so a bad answer comes back with its raw message
                # and token usage instead of failing inside the OpenAI SDK's own parser.
                out = model.with_structured_output(_json_schema(schema), method=method, include_raw=True) \
                    .invoke(messages)
                raw, parsed, error = out["raw"], out["parsed"], out["parsing_error"]
            else:
                bound = model.bind(response_format={"type": "json_object"}) if method == "json_mode" else model
                raw, parsed, error = bound.invoke(messages), None, None
    except (openai.BadRequestError, openai.UnprocessableEntityError, openai.NotFoundError) as exc:
        if isinstance(exc, openai.NotFoundError) and "model" in str(exc).lower():
            raise
        raise _Unsupported(str(exc)) from exc
    _usage_of(raw, usage, method)
    answer = raw.content if isinstance(raw.content, str) else json.dumps(raw.content)
    if isinstance(parsed, dict) and error is None:
        try:
            parsed = schema.model_validate(parsed)
        except ValidationError as exc:
            error = exc
    if parsed is None and error is None:
        text = answer or (json.dumps(raw.tool_calls[0]["args"]) if raw.tool_calls else "")
        try:
            parsed = parse_json_answer(text, schema)
        except (ValueError, ValidationError) as exc:
            error = exc
    if error is not None or not isinstance(parsed, schema):
        raise _Invalid(_short(error) if error else "the answer did not fit the schema",
                       answer or json.dumps([call["args"] for call in raw.tool_calls]))
    return parsed


def _json_schema(schema: type[BaseModel]) -> dict:
    return {"title": schema.__name__, "description": (schema.__doc__ or schema.__name__).strip().splitlines()[0],
            **schema.model_json_schema()}


def _short(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in error.errors()[:8])
    cause = getattr(error, "__cause__", None)
    return _short(cause) if isinstance(cause, ValidationError) else str(error)[:400]


def _failure(exc: Exception, settings: Settings) -> str:
    """A sentence for the writer about an endpoint failure."""
    if isinstance(exc, openai.APITimeoutError):
        return f"The model did not answer within {settings.plot_generation_timeout:g} seconds."
    if isinstance(exc, openai.RateLimitError):
        return "The model endpoint is busy (429, rate limited) even after retrying; try again in a minute."
    if isinstance(exc, openai.AuthenticationError):
        return "The model endpoint refused the API key (LLM_API_KEY)."
    if isinstance(exc, openai.APIStatusError):
        return f"The model endpoint failed ({exc.status_code}) even after retrying; try again later."
    if isinstance(exc, openai.APIConnectionError):
        return f"The model endpoint at {endpoint(settings)} cannot be reached."
    return f"The model call failed ({type(exc).__name__})."


def generate_structured(prompt: PromptFile, variables: dict, schema: type[Schema], *, tier: Tier,
                        user_id: uuid.UUID | None, error: type[GenerationError] = GenerationError,
                        settings: Settings | None = None) -> Generated[Schema]:
    """`prompt | model.with_structured_output(schema)` for the tier, with method fallback, one repair, usage counted."""
    settings = settings or get_settings()
    model = chat_model(tier, settings=settings)
    url, model_name = endpoint(settings), settings.model_for(tier)
    messages = prompt.render(**variables)
    usage = Usage(model=model_name, tier=Tier(tier).value)
    known = remembered_method(url, model_name)
    order = METHODS[METHODS.index(known):] if known in METHODS else METHODS
    started = time.perf_counter()
    refusals = []
    try:
        with cache_owner(user_id):
            for method in order:
                try:
                    value = _ask_with_repair(model, method, messages, schema, usage)
                except _Unsupported as exc:
                    refusals.append(f"{method}: {exc}")
                    continue
                remember_method(url, model_name, method)
                usage.method = method
                return Generated(value, usage)
    except _Invalid as exc:
        raise _with_usage(error(f"The model's answer was unusable even after one repair ({exc.reason}); "
                                "nothing was saved."), usage) from exc
    except openai.OpenAIError as exc:
        raise _with_usage(error(_failure(exc, settings)), usage) from exc
    finally:
        usage.duration_ms += int((time.perf_counter() - started) * 1000)
    raise _with_usage(error("The model endpoint refused every way of asking for structured output "
                            f"({refusals[-1][:200]})."), usage)


def _with_usage(exc: GenerationError, usage: Usage) -> GenerationError:
    """The error, carrying what the failed attempt consumed (for analytics)."""
    exc.usage = usage
    return exc


def _ask_with_repair(model: ChatOpenAI, method: str, messages: list[BaseMessage], schema: type[Schema],
                     usage: Usage) -> Schema:
    try:
        return _ask(model, method, messages, schema, usage)
    except _Invalid as first:
        repair = load_prompt("repair").render(
            error=f"{first.reason}. Your answer was: {first.answer[:1500]}")
        return _ask(model, method, [*messages, *repair], schema, usage)
