"""Scripts with a model: plot-aware vs standard prompts, enhancement, usage and limits, against the loopback stub."""

from __future__ import annotations

import json

import pytest

from core.config import get_settings
from core.errors import GenerationError, SubscriptionLimitError
from core.generation.model import forget_methods
from core.screenplay import fountain as ftn
from db.engine import unit_of_work
from sqlalchemy import select

from db.models import Chapter, Character, Chunk, PlotOverview, UsageLog
from openai_stub import ChatAnswer, OpenAIStub
from test_scripts import PROSE, small_book

LOGLINE = "Elinor Dashwood keeps her family afloat in Barton while hiding her own heartbreak."
SETUP = "In London Elinor learns at last that the piano was sold to pay the family's debts."
ANSWER = {"fountain": "INT. BARTON COTTAGE - NIGHT\n\n[[arc ELINOR DASHWOOD: holds firm]]\n\n"
                      "Candles gutter.\n\nELINOR DASHWOOD\nWe must be careful with money.\n\n"
                      "MARIANNE DASHWOOD\nBut the piano!\n",
          "enhancements": ["character arc awareness"]}


@pytest.fixture
def llm(monkeypatch, database):
    with OpenAIStub() as stub:
        for key, value in {"LLM_BASE_URL": stub.url, "LLM_API_KEY": "test-key", "LLM_MAX_RETRIES": "1",
                           "LLM_MODEL_FREE": "small-model",
                           "LLM_PRICES": json.dumps({"small-model": [1.0, 2.0]}),
                           "TIER_MONTHLY_LIMITS": json.dumps({"FREE": {"script": 3}})}.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        forget_methods()
        yield stub
    get_settings.cache_clear()
    forget_methods()


def user_message(request: dict) -> str:
    return "\n".join(m["content"] for m in request["messages"] if m["role"] == "user")


def test_standard_then_plot_aware_then_enhanced(llm, writer_a):
    from core.services import scripts
    book_id, chapter_id = small_book(writer_a, PROSE)
    llm.chat_script.append(ChatAnswer(content=json.dumps({**ANSWER, "enhancements": []})))
    standard = scripts.generate_chapter_script(writer_a.id, chapter_id, style="stage")
    prompt = user_message(llm.chat_requests()[-1])
    assert "(no plot overview yet)" in prompt and "“We must be careful with money,” said Elinor." in prompt
    assert "Stage play" in json.dumps(llm.chat_requests()[-1]["messages"])
    assert standard.generation_method == "llm" and standard.model_used == "small-model"
    assert not standard.plot_enhanced and not standard.character_enhanced
    assert standard.tokens_in > 100 and standard.generation_cost > 0 and standard.prompt_name == "chapter_script"
    assert [s["heading"] for s in standard.scenes] == ["INT. BARTON COTTAGE - NIGHT"]
    assert standard.scenes[0]["arc_progression"] == {"ELINOR DASHWOOD": "holds firm"}

    with unit_of_work(writer_a.id) as session:
        later = Chapter(book_id=book_id, user_id=writer_a.id, number=2, title="London", text=SETUP,
                        word_count=len(SETUP.split()), content_sha256="2" * 64)
        session.add(later)
        session.flush()
        session.add(Chunk(book_id=book_id, chapter_id=later.id, user_id=writer_a.id, ordinal=0, char_start=0,
                          char_end=len(SETUP), token_count=20, text=SETUP))
        session.flush()
        setup_chunk = session.scalar(select(Chunk.id).where(Chunk.chapter_id == later.id))
        session.add(PlotOverview(book_id=book_id, user_id=writer_a.id, logline=LOGLINE, themes=["sense", "sensibility"]))
        session.add(Character(book_id=book_id, user_id=writer_a.id, name="Elinor Dashwood", aliases=["Elinor"],
                              archetypes=["Caregiver"], want="to keep the family safe", need="to let herself feel"))
    llm.chat_script.append(ChatAnswer(content=json.dumps(ANSWER)))
    aware = scripts.generate_chapter_script(writer_a.id, chapter_id)
    prompt = user_message(llm.chat_requests()[-1])
    assert LOGLINE in prompt and "sense, sensibility" in prompt
    assert "Elinor Dashwood (also called Elinor)" in prompt and "want: to keep the family safe" in prompt
    assert "archetypes: Caregiver" in prompt
    assert f"Chapter 2: {SETUP}" in prompt and aware.source_chunk_ids == [setup_chunk]  # a pay-off to come
    assert aware.plot_enhanced and aware.character_enhanced and aware.plot_overview_id is not None
    assert aware.enhancements == ["character arc awareness"] and aware.version == 2

    llm.chat_script.append(ChatAnswer(content=json.dumps(
        {**ANSWER, "enhancements": ["plot context integration", "thematic consistency"]})))
    enhanced = scripts.enhance_with_plot(writer_a.id, standard.id)
    prompt = user_message(llm.chat_requests()[-1])
    assert standard.fountain.strip() in prompt and LOGLINE in prompt
    assert enhanced.source == "enhanced" and enhanced.based_on_version == 1 and enhanced.version == 3
    assert enhanced.enhancements == ["plot context integration", "thematic consistency"]
    with unit_of_work(writer_a.id) as session:
        charged = session.query(UsageLog).filter(UsageLog.action == "script", UsageLog.user_id == writer_a.id).all()
    assert len(charged) == 3 and all(row.model_used == "small-model" for row in charged)

    with pytest.raises(SubscriptionLimitError, match="3 script generations a month"):
        scripts.generate_chapter_script(writer_a.id, chapter_id)
    offline = scripts.generate_chapter_script(writer_a.id, chapter_id, engine="offline")  # the limit is for models
    assert offline.generation_method == "offline" and ftn.parse(offline.fountain).scenes


def test_an_answer_without_a_scene_is_refused_and_nothing_is_saved(llm, writer_a):
    from core.services import scripts
    _, chapter_id = small_book(writer_a, PROSE)
    bad = json.dumps({"fountain": "Just some prose, no heading at all.", "enhancements": []})
    llm.chat_script += [ChatAnswer(content=bad), ChatAnswer(content=bad)]
    with pytest.raises(GenerationError, match="unusable"):
        scripts.generate_chapter_script(writer_a.id, chapter_id, engine="llm")
    assert scripts.list_versions(writer_a.id, chapter_id) == []
    assert "scene heading" in json.dumps(llm.chat_requests()[-1]["messages"])  # the repair said what was wrong
