"""`doctor` tries what it reports on: the LLM endpoint answers /v1/models, a portrait card renders."""

from __future__ import annotations

import pytest

from core.config import get_settings
from core.doctor import _engines
from openai_stub import OpenAIStub


@pytest.fixture
def settings_env(monkeypatch):
    def apply(**values):
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
    yield apply
    get_settings.cache_clear()


def checks() -> dict:
    return {check.name: check for check in _engines()}


def test_a_configured_llm_endpoint_is_asked_for_its_models(settings_env):
    with OpenAIStub() as stub:
        settings_env(LLM_BASE_URL=stub.url, LLM_API_KEY="sk-test-key")
        llm = checks()["llm"]
        assert llm.ok, llm.detail
        assert "2 models listed" in llm.detail
        assert [r for r in stub.requests if r["path"] == "/v1/models"] == [
            {"path": "/v1/models", "method": "GET", "authorization": "Bearer sk-test-key"}]


def test_an_endpoint_that_fails_or_lacks_a_tier_model_is_reported(settings_env):
    with OpenAIStub() as stub:
        settings_env(LLM_BASE_URL=stub.url)
        stub.failures.append(401)
        failed = checks()["llm"]
        assert not failed.ok and "answered 401" in failed.detail
        stub.models = ["llama3"]
        missing = checks()["llm"]
        assert not missing.ok and "does not serve gpt-4o, gpt-4o-mini" in missing.detail
    settings_env(LLM_BASE_URL="http://127.0.0.1:9/v1")  # nothing listens on the discard port
    unreachable = checks()["llm"]
    assert not unreachable.ok and "did not answer" in unreachable.detail


def test_without_a_model_the_offline_engine_needs_no_probe(settings_env):
    llm = checks()["llm"]
    assert llm.ok and "offline engine" in llm.detail


def test_a_portrait_card_is_rendered(settings_env):
    portraits = checks()["portraits"]
    assert portraits.ok and "rendered a 256×320 PNG card" in portraits.detail
    settings_env(ENABLE_CHARACTER_IMAGES="false")
    assert checks()["portraits"].detail == "disabled"
