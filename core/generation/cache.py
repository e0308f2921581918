"""The LangChain LLM cache, in Postgres: each writer's answers in their own `cache_entries` rows (RLS), with a TTL.

Installed once with `set_llm_cache` by `install_llm_cache()`; it caches only while `cache_owner(user_id)` says
whose prompt is being sent (prompts carry the writer's book, so answers are never shared between writers).
A cache hit carries zero token usage, so nothing is charged for it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.globals import get_llm_cache, set_llm_cache
from langchain_core.load import dumpd, load
from langchain_core.outputs import ChatGeneration
from langchain_core.messages import AIMessage
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from core.config import get_settings
from db.engine import unit_of_work
from db.models import CacheEntry

CACHE_HIT = "plotstudio_cache_hit"
_owner: ContextVar[uuid.UUID | None] = ContextVar("llm_cache_owner", default=None)


@contextmanager
def cache_owner(user_id: uuid.UUID | None) -> Iterator[None]:
    """Model calls inside this block are cached as `user_id`'s (None: not cached)."""
    token = _owner.set(user_id)
    try:
        yield
    finally:
        _owner.reset(token)


def _key(prompt: str, llm_string: str) -> str:
    return "llm:" + hashlib.sha256(f"{llm_string}\x00{prompt}".encode()).hexdigest()


def _as_hit(generation: Any) -> Any:
    """A cached generation marked as a hit, its usage zeroed (the tokens were paid for when it was stored)."""
    message = getattr(generation, "message", None)
    if isinstance(message, AIMessage):
        generation.message = message.model_copy(update={
            "usage_metadata": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0},
            "response_metadata": {**message.response_metadata, CACHE_HIT: True}})
    return generation


class PostgresLLMCache(BaseCache):
    """`BaseCache` over the writer-owned cache_entries table, entries expiring after LLM_CACHE_TTL seconds."""

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        user_id = _owner.get()
        if user_id is None or get_settings().llm_cache_ttl <= 0:
            return None
        with unit_of_work(user_id) as session:
            value = session.scalar(select(CacheEntry.value).where(
                CacheEntry.user_id == user_id, CacheEntry.key == _key(prompt, llm_string),
                CacheEntry.expires_at > datetime.now(timezone.utc)))
        if value is None:
            return None
        return [_as_hit(generation) for generation in load(value["generations"], allowed_objects=[ChatGeneration, AIMessage])]

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        user_id, ttl = _owner.get(), get_settings().llm_cache_ttl
        if user_id is None or ttl <= 0:
            return
        value = {"generations": [dumpd(generation) for generation in return_val]}
        expires = datetime.now(timezone.utc) + timedelta(seconds=ttl)
        with unit_of_work(user_id) as session:
            session.execute(insert(CacheEntry).values(
                user_id=user_id, key=_key(prompt, llm_string), value=value, expires_at=expires,
            ).on_conflict_do_update(index_elements=["user_id", "key"], set_={"value": value, "expires_at": expires}))

    def clear(self, **kwargs: Any) -> None:
        """Forget the current owner's model answers."""
        user_id = _owner.get()
        if user_id is not None:
            with unit_of_work(user_id) as session:
                session.execute(delete(CacheEntry).where(CacheEntry.user_id == user_id,
                                                         CacheEntry.key.startswith("llm:")))


def install_llm_cache() -> None:
    """Make the Postgres cache LangChain's global LLM cache (once per process)."""
    if not isinstance(get_llm_cache(), PostgresLLMCache):
        set_llm_cache(PostgresLLMCache())
