"""The generation layer through the real ChatOpenAI against a loopback OpenAI-protocol server: tiers, methods,
repairs, retries, timeouts, the Postgres LLM cache, limits before the call, usage charged once; prompts; validators."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from core.artefacts import PlotOverview, PlotOverviewDraft, archetype_list, character_name
from core.config import Tier, get_settings
from core.errors import PlotGenerationError, PromptError, SubscriptionLimitError
from core.generation import (AlreadyCharged, Resource, Usage, check_limits, generate_structured, record_usage)
from core.generation.model import forget_methods
from core.prompts import all_prompt_names, load_prompt, parse_prompt
from db.engine import unit_of_work
from db.models import CacheEntry, GenerationAnalytics, LlmEndpointMethod, UsageLog
from openai_stub import ChatAnswer, OpenAIStub
from core.services.accounts import create_account_as_operator

GOOD = {"logline": "Elizabeth Bennet must see past her pride to love Mr Darcy.", "themes": ["pride", "class"],
        "story_type": "Comedy", "genre": "Romance", "tone": "Witty", "audience": "Adults",
        "setting": "Rural England, early nineteenth century."}
VARIABLES = {"book_title": "Pride and Prejudice", "chapter_summaries": "1. A ball.", "passages": "none",
             "custom_instructions": "none"}


@pytest.fixture
def llm(monkeypatch, database):
    """LLM_BASE_URL at a real OpenAI-protocol server on loopback, one retry, tier models named apart."""
    with OpenAIStub() as stub:
        for key, value in {"LLM_BASE_URL": stub.url, "LLM_API_KEY": "test-key", "LLM_MAX_RETRIES": "1",
                           "LLM_MODEL_FREE": "small-model", "LLM_MODEL_PREMIUM": "big-model",
                           "LLM_PRICES": json.dumps({"small-model": [1.0, 2.0], "big-model": [10.0, 20.0]})}.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        forget_methods()
        yield stub
    get_settings.cache_clear()
    forget_methods()


def _generate(user_id, tier=Tier.FREE):
    return generate_structured(load_prompt("plot_overview"), VARIABLES, PlotOverviewDraft, tier=tier,
                               user_id=user_id, error=PlotGenerationError)


def test_each_tier_asks_its_own_model(llm, writer_a):
    premium = create_account_as_operator(f"premium-{uuid.uuid4().hex[:6]}@example.com", "correct horse battery",
                                         tier=Tier.PREMIUM)
    _generate(writer_a.id, Tier.FREE)
    _generate(premium.id, Tier.PREMIUM)
    assert [r["model"] for r in llm.chat_requests()] == ["small-model", "big-model"]


def test_a_valid_answer_counts_tokens_and_remembers_the_method(llm, writer_a):
    llm.chat_script.append(ChatAnswer(content=json.dumps(GOOD)))
    result = _generate(writer_a.id)
    assert result.value.logline == GOOD["logline"]
    assert (result.usage.tokens_in, result.usage.tokens_out) == (llm.prompt_tokens, llm.completion_tokens)
    assert result.usage.tokens_in > 50 and result.usage.calls == 1 and result.usage.method == "json_schema"
    assert result.usage.cost_usd == Decimal(llm.prompt_tokens * 1 + llm.completion_tokens * 2) / 1_000_000
    assert llm.chat_requests()[0]["response_format"]["type"] == "json_schema"
    with unit_of_work(None) as session:
        assert session.scalar(select(LlmEndpointMethod.method).where(LlmEndpointMethod.model == "small-model")) \
            == "json_schema"


def test_invalid_json_then_valid_is_repaired_once(llm, writer_a):
    llm.chat_script += [ChatAnswer(content='{"logline": "Elizabeth'), ChatAnswer(content=json.dumps(GOOD))]
    result = _generate(writer_a.id)
    assert result.value.genre == "Romance" and result.usage.calls == 2
    repair = llm.chat_requests()[1]["messages"]
    assert "rejected" in json.dumps(repair)


def test_placeholders_fail_validation_and_raise_after_one_repair(llm, writer_a):
    placeholder = {**GOOD, "logline": "N/A", "genre": "string"}
    llm.chat_script += [ChatAnswer(content=json.dumps(placeholder))] * 2
    with pytest.raises(PlotGenerationError, match="unusable even after one repair") as raised:
        _generate(writer_a.id)
    assert len(llm.chat_requests()) == 2 and raised.value.usage.calls == 2


def test_a_logline_naming_nobody_is_a_placeholder(llm, writer_a):
    nobody = {**GOOD, "logline": "A young woman learns that first impressions can be wrong."}
    llm.chat_script += [ChatAnswer(content=json.dumps(nobody)), ChatAnswer(content=json.dumps(GOOD))]
    assert _generate(writer_a.id).value.logline == GOOD["logline"]
    assert "name the protagonist" in json.dumps(llm.chat_requests()[1]["messages"])


def test_429_is_retried_then_succeeds(llm, writer_a):
    llm.chat_script += [ChatAnswer(status=429), ChatAnswer(content=json.dumps(GOOD))]
    assert _generate(writer_a.id).value.tone == "Witty"
    assert len(llm.chat_requests()) == 2


def test_a_server_error_after_retries_is_one_clear_sentence(llm, writer_a):
    llm.chat_script += [ChatAnswer(status=500)] * 2
    with pytest.raises(PlotGenerationError, match=r"failed \(500\) even after retrying"):
        _generate(writer_a.id)


def test_a_slow_answer_past_the_timeout(llm, writer_a, monkeypatch):
    monkeypatch.setenv("PLOT_GENERATION_TIMEOUT", "0.5")
    monkeypatch.setenv("LLM_MAX_RETRIES", "0")
    get_settings.cache_clear()
    llm.chat_script.append(ChatAnswer(content=json.dumps(GOOD), delay=2))
    with pytest.raises(PlotGenerationError, match="did not answer within 0.5 seconds"):
        _generate(writer_a.id)


def test_a_server_without_json_schema_or_tools_falls_back_to_json_mode_and_remembers(llm, writer_a, writer_b):
    llm.refuse = {"json_schema", "tools"}
    assert _generate(writer_a.id).usage.method == "json_mode"
    assert [_feature(r) for r in llm.chat_requests()] == ["json_schema", "tools", "json_object"]
    forget_methods()  # another process: the memory comes from Postgres
    _generate(writer_b.id)  # (another writer: not answered from writer a's cache)
    assert _feature(llm.chat_requests()[-1]) == "json_object" and len(llm.chat_requests()) == 4


def test_a_server_without_json_schema_answers_through_function_calling(llm, writer_a):
    llm.refuse = {"json_schema"}
    llm.chat_script.append(ChatAnswer(content=json.dumps(GOOD)))
    result = _generate(writer_a.id)
    assert result.usage.method == "function_calling" and result.value.setting == GOOD["setting"]
    assert llm.chat_requests()[-1]["tools"][0]["function"]["name"] == "PlotOverviewDraft"


def test_plain_prompt_with_a_parser_is_the_last_resort(llm, writer_a):
    llm.refuse = {"json_schema", "tools", "json_object"}
    result = _generate(writer_a.id)
    assert result.usage.method == "prompt" and result.value.themes
    assert "JSON schema" in json.dumps(llm.chat_requests()[-1]["messages"])


def test_fenced_prose_answers_are_parsed_in_plain_prompt_mode(llm, writer_a):
    llm.refuse = {"json_schema", "tools", "json_object"}
    llm.chat_script.append(ChatAnswer(content="Here it is:\n```json\n" + json.dumps(GOOD) + "\n```"))
    assert _generate(writer_a.id).value.audience == "Adults"


def test_the_postgres_cache_answers_the_same_prompt_for_free_and_only_for_its_writer(llm, writer_a, writer_b):
    first = _generate(writer_a.id)
    again = _generate(writer_a.id)
    assert len(llm.chat_requests()) == 1
    assert again.value == first.value and again.usage.cache_hits == 1 and again.usage.tokens_in == 0
    with unit_of_work(writer_a.id) as session:
        assert session.scalar(select(func.count()).select_from(CacheEntry).where(CacheEntry.key.startswith("llm:"))) == 1
    _generate(writer_b.id)
    assert len(llm.chat_requests()) == 2  # writer b's prompt is never answered from writer a's cache


def test_limits_are_checked_before_any_call(llm, writer_a, monkeypatch):
    monkeypatch.setenv("TIER_MONTHLY_LIMITS", json.dumps({"FREE": {"plot": 1}}))
    get_settings.cache_clear()
    assert check_limits(writer_a.id, Resource.PLOT) is Tier.FREE
    with unit_of_work(writer_a.id) as session:
        record_usage(session, user_id=writer_a.id, resource=Resource.PLOT, usage=Usage(model="small-model"),
                     engine="llm", book_id=None, resource_id=None, idempotency_key=f"plot:{uuid.uuid4()}")
    with pytest.raises(SubscriptionLimitError, match=r"FREE plan allows 1 plot generation a month and you have "
                                                     r"made 1; it resets on 01 "):
        check_limits(writer_a.id, Resource.PLOT)
    assert check_limits(writer_a.id, Resource.CHARACTER) is Tier.FREE  # no limit named: unlimited
    assert llm.chat_requests() == []


def test_the_free_hourly_rate_limit(writer_a, monkeypatch):
    monkeypatch.setenv("PLOT_GENERATION_RATE_LIMIT", "2")
    get_settings.cache_clear()
    for resource in (Resource.PLOT, Resource.SCRIPT):
        with unit_of_work(writer_a.id) as session:
            record_usage(session, user_id=writer_a.id, resource=resource, usage=Usage(model="m"), engine="llm",
                         book_id=None, resource_id=None, idempotency_key=str(uuid.uuid4()))
    with pytest.raises(SubscriptionLimitError, match="allows 2 model generations an hour and you have made 2"):
        check_limits(writer_a.id, Resource.CHARACTER)
    get_settings.cache_clear()


def test_offline_generations_never_count_against_limits(writer_a, monkeypatch):
    monkeypatch.setenv("TIER_MONTHLY_LIMITS", json.dumps({"FREE": {"plot": 1}}))
    get_settings.cache_clear()
    with unit_of_work(writer_a.id) as session:
        record_usage(session, user_id=writer_a.id, resource=Resource.PLOT, usage=Usage(), engine="offline",
                     book_id=None, resource_id=None, idempotency_key=str(uuid.uuid4()))
    assert check_limits(writer_a.id, Resource.PLOT) is Tier.FREE
    get_settings.cache_clear()


def test_usage_is_charged_once_per_idempotency_key_with_its_analytics(writer_a):
    usage = Usage(model="gpt-4o-mini", tier="FREE", tokens_in=1_000_000, tokens_out=1_000_000, calls=1)
    key = f"plot:{uuid.uuid4()}"
    with unit_of_work(writer_a.id) as session:
        record_usage(session, user_id=writer_a.id, resource=Resource.PLOT, usage=usage, engine="llm",
                     book_id=None, resource_id=None, idempotency_key=key)
    with pytest.raises(AlreadyCharged):
        with unit_of_work(writer_a.id) as session:
            record_usage(session, user_id=writer_a.id, resource=Resource.PLOT, usage=usage, engine="llm",
                         book_id=None, resource_id=None, idempotency_key=key)
    with unit_of_work(writer_a.id) as session:
        logs = session.scalars(select(UsageLog).where(UsageLog.idempotency_key == key)).all()
        analytics = session.scalars(select(GenerationAnalytics)).all()
    assert len(logs) == 1 and len(analytics) == 1
    assert logs[0].cost_usd == Decimal("0.750000") == analytics[0].cost_usd  # 0.15 + 0.60 per million
    assert analytics[0].success and analytics[0].tokens_in == 1_000_000


def _feature(request: dict) -> str | None:
    if request.get("tools"):
        return "tools"
    return (request.get("response_format") or {}).get("type")


# --- prompts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", all_prompt_names())
def test_every_prompt_file_loads(name):
    prompt = load_prompt(name)
    assert prompt.name == name and prompt.version
    prompt.render(**{variable: "x" for variable in prompt.variables})


def test_a_missing_or_unknown_variable_is_an_error():
    prompt = load_prompt("chapter_summary")
    with pytest.raises(PromptError, match=r"missing \['text'\]"):
        prompt.render(book_title="t", chapter_label="Chapter 1")
    with pytest.raises(PromptError, match=r"unexpected \['colour'\]"):
        prompt.render(book_title="t", chapter_label="c", text="x", colour="red")


def test_a_prompt_file_using_an_undeclared_variable_is_refused():
    with pytest.raises(PromptError, match="declared variables"):
        parse_prompt("---\nname: x\nversion: '1'\ndescription: d\nvariables: [a]\n---\n## system\n{a} {b}\n## user\nhi\n")
    with pytest.raises(PromptError, match="front matter"):
        parse_prompt("## system\nhello\n")


# --- validators (the design's) --------------------------------------------------------------------------


def test_logline_is_stripped_and_10_to_500_characters():
    assert PlotOverview(**{**GOOD, "logline": "   Emma meets Knightley.  "}).logline == "Emma meets Knightley."
    for bad in ("  too short ", "x" * 501):
        with pytest.raises(ValidationError, match="Logline must"):
            PlotOverview(**{**GOOD, "logline": bad})


def test_themes_one_to_ten_non_empty():
    assert PlotOverview(**{**GOOD, "themes": [" love ", "  ", "class"]}).themes == ["love", "class"]
    with pytest.raises(ValidationError, match="At least one theme"):
        PlotOverview(**{**GOOD, "themes": ["  "]})
    with pytest.raises(ValidationError, match="Maximum 10 themes"):
        PlotOverview(**{**GOOD, "themes": [f"theme {i}" for i in range(11)]})


def test_character_name_and_archetypes():
    assert character_name("  Jo March ") == "Jo March"
    for bad in ("J", "x" * 256, "N/A"):
        with pytest.raises(ValueError):
            character_name(bad)
    assert archetype_list(["Hero"]) == ["Hero"]
    for bad in ([], ["a", "b", "c", "d", "e", "f"]):
        with pytest.raises(ValueError):
            archetype_list(bad)
