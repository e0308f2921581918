"""Plot overview: the offline engine on corpus novels, the model engine's map-reduce against a loopback server,
versions (edit, conflict, restore, compare), status, stale marking, usage charged once, RLS, the CLI."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import func, select, text

from core import jobs
from core.artefacts import PLOT_FIELDS, PlotOverviewDraft
from core.config import get_settings
from core.errors import (ArtefactValidationError, NotFoundError, PlotNotFoundError, SubscriptionLimitError,
                         VersionConflictError)
from core.generation.model import forget_methods
from core.services import library, plot
from db.engine import owner_engine, unit_of_work
from db.models import ChapterSummary, Chunk, GenerationAnalytics, UsageLog
from openai_stub import OpenAIStub
from support import CORPUS, make_writer, run_cli

PEOPLE = ["Anna Petrovna", "Count Orlov"]
SMALL_BOOK = "\n\n".join(
    f"CHAPTER {numeral}\n\n" + "\n\n".join(
        f"Anna Petrovna walked through Moscow in the snow on day {seed}{p}, thinking of Count Orlov, who had "
        f"stolen her father's letters. In Moscow the carriage waited; Anna Petrovna swore she would have them back, "
        f"though Count Orlov laughed at her from his window and the city watched them both." for p in range(4))
    for seed, numeral in enumerate(["I", "II", "III"], start=1))


def _ingest(writer, filename: str, data: bytes) -> uuid.UUID:
    job_id = library.start_ingest(writer.id, filename, data, queue=False)
    jobs.run_job(str(job_id), str(writer.id), library.ingest_book, jobs.get_job(writer.id, job_id).params)
    job = jobs.get_job(writer.id, job_id)
    assert job.status == "succeeded", job.error
    return uuid.UUID(job.result["book_id"])


def _generate(writer, book_id, **options) -> dict:
    """Run a plot job here as a worker would; its result."""
    job_id = plot.start_generation(writer.id, book_id, queue=False, **options)
    params = jobs.get_job(writer.id, job_id).params
    jobs.run_job(str(job_id), str(writer.id), plot.generate_plot_overview, params)
    job = jobs.get_job(writer.id, job_id)
    assert job.status == "succeeded", job.error
    job.result["params"] = params
    return job.result


@pytest.fixture(scope="module")
def novels(database):
    """Pride and Prejudice and Frankenstein, ingested once for this module (committed, a writer of their own)."""
    writer = make_writer("novels")
    return writer, {name: _ingest(writer, name, (CORPUS / name).read_bytes())
                    for name in ("pride_and_prejudice.txt", "frankenstein.txt")}


def _assert_cites_real_passages(writer, book_id, cited):
    with unit_of_work(writer.id) as session:
        for field in PLOT_FIELDS:
            assert cited[field], f"{field} cites nothing"
            for citation in cited[field]:
                chunk = session.get(Chunk, citation["chunk_id"])
                assert chunk is not None and chunk.book_id == book_id
                assert citation["quote"] in chunk.text


@pytest.mark.parametrize("name, protagonist", [("pride_and_prejudice.txt", "Elizabeth"),
                                               ("frankenstein.txt", "Victor")])
def test_offline_overview_of_a_novel_validates_cites_and_names_its_protagonist(novels, name, protagonist):
    writer, books = novels
    result = _generate(writer, books[name], engine="offline")
    version = plot.get_version(writer.id, books[name], result["version"])
    assert version.label == "offline draft" and version.generation_method == "offline"
    PlotOverviewDraft(**version.fields())  # the same validators a model's answer must pass (names someone)
    assert protagonist in version.overview.logline
    _assert_cites_real_passages(writer, books[name], version.as_dict()["citations"])


def test_cli_prints_the_overview_with_citations_and_usage(novels):
    writer, books = novels
    book_id = books["frankenstein.txt"]
    output = run_cli("plot", str(book_id), "--user", writer.email, "--engine", "offline",
                     "--instructions", "keep the Arctic frame").stdout
    data = json.loads(output.strip().splitlines()[-1])
    assert data["overview"]["logline"] and "Victor" in data["overview"]["logline"]
    assert data["citations"]["setting"][0]["quote"] and data["usage"]["engine"] == "offline"
    assert data["custom_instructions"] == "keep the Arctic frame" and data["label"] == "offline draft"
    plot.delete(writer.id, book_id)
    plot.empty_bin(writer.id)


@pytest.fixture
def small_book(writer_a):
    return _ingest(writer_a, "orlov.txt", SMALL_BOOK.encode())


def test_generation_is_charged_once_even_when_the_job_runs_again(writer_a, small_book):
    result = _generate(writer_a, small_book, engine="offline")
    assert result["version"] == 1
    again = plot.generate_plot_overview(writer_a.id, lambda *a: None, **result["params"])
    assert again["version"] == 1 and len(plot.history(writer_a.id, small_book)) == 1
    with unit_of_work(writer_a.id) as session:
        assert session.scalar(select(func.count()).select_from(UsageLog)) == 1
        analytics = session.scalars(select(GenerationAnalytics)).all()
    assert [(a.artefact, a.engine, a.success) for a in analytics] == [("plot", "offline", True)]
    assert "Anna Petrovna" in plot.current_version(writer_a.id, small_book).overview.logline


def test_edit_saves_a_new_version_and_a_stale_tab_gets_a_conflict_with_both_values(writer_a, small_book):
    _generate(writer_a, small_book, engine="offline")
    v1 = plot.current_version(writer_a.id, small_book)
    first_tab = {**v1.fields(), "logline": "Anna Petrovna must win back her father's letters from Count Orlov."}
    second_tab = {**v1.fields(), "tone": "Bleak"}
    v2 = plot.save_edit(writer_a.id, small_book, based_on_version=1, values=first_tab)
    assert (v2.version, v2.origin, v2.based_on_version) == (2, "edited", 1)
    assert "logline" not in v2.citations and v2.citations["setting"] == v1.citations["setting"]
    with pytest.raises(VersionConflictError) as conflict:
        plot.save_edit(writer_a.id, small_book, based_on_version=1, values=second_tab)
    assert conflict.value.theirs["logline"] == first_tab["logline"] and conflict.value.yours["tone"] == "Bleak"
    assert conflict.value.current_version == 2 and len(plot.history(writer_a.id, small_book)) == 2
    changes = {c.field: c for c in plot.compare(writer_a.id, small_book, 1, 2)}
    assert changes["logline"].changed and not changes["genre"].changed

    v3 = plot.restore(writer_a.id, small_book, 1, based_on_version=2)
    assert (v3.version, v3.origin, v3.fields()) == (3, "restored", v1.fields())
    assert [v.version for v in plot.history(writer_a.id, small_book)] == [3, 2, 1]


def test_an_invalid_edit_names_each_bad_field_and_saves_nothing(writer_a, small_book):
    _generate(writer_a, small_book, engine="offline")
    values = {**plot.current_version(writer_a.id, small_book).fields(), "logline": "short", "themes": []}
    with pytest.raises(ArtefactValidationError) as invalid:
        plot.save_edit(writer_a.id, small_book, based_on_version=1, values=values)
    assert set(invalid.value.field_errors) == {"logline", "themes"}
    assert "at least 10 characters" in invalid.value.field_errors["logline"]
    assert len(plot.history(writer_a.id, small_book)) == 1


def test_archive_delete_undo_and_empty_the_bin(writer_a, small_book):
    _generate(writer_a, small_book, engine="offline")
    plot.archive(writer_a.id, small_book)
    assert plot.current_version(writer_a.id, small_book).status == "archived"
    plot.delete(writer_a.id, small_book)
    with pytest.raises(PlotNotFoundError):
        plot.current_version(writer_a.id, small_book)
    plot.undelete(writer_a.id, small_book)
    assert plot.current_version(writer_a.id, small_book).status == "active"
    plot.delete(writer_a.id, small_book)
    assert plot.empty_bin(writer_a.id) == 1
    assert plot.history(writer_a.id, small_book) == []


def test_a_changed_chapter_marks_the_overview_stale(writer_a, small_book):
    _generate(writer_a, small_book, engine="offline")
    assert not plot.staleness(writer_a.id, small_book).stale
    first, second, _ = library.list_chapters(writer_a.id, small_book)
    library.merge_with_next(writer_a.id, first.id)
    stale = plot.staleness(writer_a.id, small_book)
    assert (stale.edited, stale.removed, stale.stale) == ([1], 1, True)
    assert stale.sentence() == "chapter 1 changed; 1 chapter removed"
    _generate(writer_a, small_book, engine="offline", origin="refreshed")
    assert not plot.staleness(writer_a.id, small_book).stale


def test_another_writer_sees_no_overview_and_no_summaries(writer_a, writer_b, small_book):
    _generate(writer_a, small_book, engine="offline")
    with pytest.raises(NotFoundError):
        plot.current_version(writer_b.id, small_book)
    with pytest.raises(NotFoundError):
        plot.start_generation(writer_b.id, small_book, engine="offline", queue=False)
    with unit_of_work(writer_a.id) as session:
        session.add(ChapterSummary(book_id=small_book, user_id=writer_a.id, content_sha256="0" * 64, model="m",
                                   prompt_version="v", summary="Anna Petrovna walks through Moscow."))
    with unit_of_work(writer_b.id) as session:
        assert session.scalar(select(func.count()).select_from(ChapterSummary)) == 0
    with owner_engine().connect() as conn:
        assert conn.execute(text("SELECT relrowsecurity AND relforcerowsecurity FROM pg_class "
                                 "WHERE relname = 'chapter_summaries'")).scalar()


# --- the model engine, against the loopback server ------------------------------------------------------


@pytest.fixture
def llm(monkeypatch, database):
    with OpenAIStub() as stub:
        monkeypatch.setenv("LLM_BASE_URL", stub.url)
        monkeypatch.setenv("LLM_API_KEY", "test-key")
        monkeypatch.setenv("LLM_MAX_RETRIES", "0")
        get_settings.cache_clear()
        forget_methods()
        yield stub
    get_settings.cache_clear()
    forget_methods()


def _summary_requests(stub) -> list[dict]:
    return [r for r in stub.chat_requests() if "summarise one chapter" in r["messages"][0]["content"]]


def test_model_engine_reads_each_chapter_once_and_an_edit_rereads_only_that_chapter(llm, writer_a, small_book):
    result = _generate(writer_a, small_book, engine="llm", instructions="Make it a thriller.")
    assert len(_summary_requests(llm)) == 3 and len(llm.chat_requests()) == 4
    overview_request = json.dumps(llm.chat_requests()[-1]["messages"])
    assert "Make it a thriller." in overview_request and "(chapter 2)" in overview_request
    version = plot.get_version(writer_a.id, small_book, result["version"])
    assert (version.tokens_in, version.tokens_out) == (llm.prompt_tokens, llm.completion_tokens)
    assert version.model_used == "gpt-4o-mini" and version.provenance["structured_output"] == "json_schema"
    assert version.cost_usd > 0 and version.custom_instructions == "Make it a thriller."
    _assert_cites_real_passages(writer_a, small_book, version.as_dict()["citations"])
    with unit_of_work(writer_a.id) as session:
        log = session.scalars(select(UsageLog)).one()
    assert (log.tokens_in, log.model_used, float(log.cost_usd)) == (version.tokens_in, "gpt-4o-mini", version.cost_usd)
    assert plot.monthly_allowance(writer_a.id) == (1, 3)  # FREE: 3 model plot generations a month

    first = library.list_chapters(writer_a.id, small_book)[0]
    library.merge_with_next(writer_a.id, first.id)
    assert plot.staleness(writer_a.id, small_book).stale
    before = len(llm.chat_requests())
    job_id = plot.start_refresh(writer_a.id, small_book, queue=False)
    jobs.run_job(str(job_id), str(writer_a.id), plot.generate_plot_overview, jobs.get_job(writer_a.id, job_id).params)
    assert len(_summary_requests(llm)) == 4 and len(llm.chat_requests()) == before + 2  # one chapter + the overview
    refreshed = plot.current_version(writer_a.id, small_book)
    assert refreshed.origin == "refreshed" and refreshed.custom_instructions == "Make it a thriller."


def test_a_long_chapter_is_summarised_in_pieces_never_truncated(llm, writer_a, small_book, monkeypatch):
    monkeypatch.setenv("SUMMARY_PIECE_TOKENS", "120")
    get_settings.cache_clear()
    _generate(writer_a, small_book, engine="llm")
    summaries = _summary_requests(llm)
    assert len(summaries) > 3 and any("(part 2 of" in json.dumps(r["messages"]) for r in summaries)
    sent = " ".join(r["messages"][1]["content"] for r in summaries)
    for chapter in library.list_chapters(writer_a.id, small_book):
        text_ = library.get_chapter(writer_a.id, chapter.id).text
        for paragraph in text_.split("\n\n"):
            assert paragraph.split(". ")[0] in sent


def test_the_tier_limit_refuses_before_any_model_call_and_a_failure_saves_nothing(llm, writer_a, small_book,
                                                                                   monkeypatch):
    from openai_stub import ChatAnswer
    llm.chat_script += [ChatAnswer(status=500)]
    job_id = plot.start_generation(writer_a.id, small_book, engine="llm", queue=False)
    jobs.run_job(str(job_id), str(writer_a.id), plot.generate_plot_overview, jobs.get_job(writer_a.id, job_id).params)
    job = jobs.get_job(writer_a.id, job_id)
    assert job.status == "failed" and "failed (500)" in job.error
    assert plot.history(writer_a.id, small_book) == []
    with unit_of_work(writer_a.id) as session:
        assert session.scalar(select(func.count()).select_from(UsageLog)) == 0
        assert [a.success for a in session.scalars(select(GenerationAnalytics))] == [False]

    monkeypatch.setenv("TIER_MONTHLY_LIMITS", json.dumps({"FREE": {"plot": 0}}))
    get_settings.cache_clear()
    asked = len(llm.chat_requests())
    with pytest.raises(SubscriptionLimitError, match="FREE plan allows 0 plot generations a month"):
        plot.start_generation(writer_a.id, small_book, engine="llm", queue=False)
    assert len(llm.chat_requests()) == asked
    _generate(writer_a, small_book, engine="offline")  # the offline engine is never limited


def test_a_plot_request_with_character_images_draws_the_missing_first_portraits(writer_a, small_book):
    from core.services import characters

    board_job = characters.start_board(writer_a.id, small_book, engine="offline", queue=False)
    jobs.run_job(board_job, writer_a.id)
    assert characters.current_portraits(writer_a.id, small_book) == {}
    assert "portraits" not in _generate(writer_a, small_book, engine="offline")  # not asked: none drawn
    assert characters.current_portraits(writer_a.id, small_book) == {}
    result = _generate(writer_a, small_book, engine="offline", include_character_images=True)
    drawn = characters.current_portraits(writer_a.id, small_book)
    assert result["portraits"] == {"made": len(drawn)} and len(drawn) >= 2  # Anna Petrovna and Count Orlov
