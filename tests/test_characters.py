"""Character board: offline extraction against the corpus truth, the board service (versions, conflicts, merge,
split, validators), portraits (local card, images endpoint on loopback, history, restore) and RLS."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections import Counter

import pytest
from PIL import Image
from sqlalchemy import func, select, text

from core import jobs, nlp
from core.archetypes import active_archetypes
from core.config import get_settings
from core.engines.offline.characters import ChapterReading, extract_characters, find_characters
from core.errors import ArtefactValidationError, NotFoundError, PlotStudioError, VersionConflictError
from core.ingest.formats import parse_book
from core.services import characters as board
from db.engine import unit_of_work
from db.models import Book, Chapter, Character, Portrait, UsageLog
from openai_stub import OpenAIStub
from support import CORPUS

NOVELS = ["pride_and_prejudice.txt", "frankenstein.txt", "little_women.txt", "the_man_in_the_brown_suit.txt"]
TRUTH = json.loads((CORPUS / "truth.json").read_text())


# --- offline extraction on every corpus novel -----------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus_readings() -> dict[str, list[ChapterReading]]:
    """Each novel split as the app splits it and read by spaCy once for the whole module."""
    readings = {}
    for novel in NOVELS:
        book = parse_book(novel, (CORPUS / novel).read_bytes(), max_bytes=50_000_000, max_words=2_000_000)
        chapters = [c for c in book.chapters if getattr(c, "kind", "chapter") == "chapter"]
        readings[novel] = [ChapterReading(n, c.text, nlp.annotate_chapter(c.text))
                           for n, c in enumerate(chapters, start=1)]
    return readings


def _normalise(name: str) -> str:
    return re.sub(r"[.\s]+", " ", name.replace("æ", "ae")).strip().lower()


def truth_index(novel: str) -> dict[str, str]:
    """Every name and alias of the truth (and a full name's first word, when no other character shares it)."""
    characters = TRUTH[novel]["characters"]
    index = {_normalise(a): real for real, aliases in characters.items() for a in [real, *aliases]}
    firsts = Counter(_normalise(real).split()[0] for real in characters if len(real.split()) > 1)
    for real in characters:
        first = _normalise(real).split()[0]
        if len(real.split()) > 1 and firsts[first] == 1:
            index.setdefault(first, real)
    return index


@pytest.mark.parametrize("novel", NOVELS)
def test_offline_top_ten_are_real_characters_and_every_core_character_is_found(corpus_readings, novel):
    index = truth_index(novel)
    clusters = find_characters(corpus_readings[novel])
    matched = []
    for cluster in clusters:
        hits = [index[_normalise(n.text)] for n in cluster.names if _normalise(n.text) in index]
        matched.append(Counter(hits).most_common(1)[0][0] if hits else None)
    top = matched[:10]
    real, distinct = sum(m is not None for m in top), len({m for m in top if m})
    core = TRUTH[novel]["core_characters"]
    found = [c for c in core if c in matched]
    print(f"\n{novel}: precision@10 {real}/10 (distinct characters {distinct}), core recall {len(found)}/{len(core)}"
          f"; top 10: {[c.display_name for c in clusters[:10]]}")
    assert real >= 8, [(c.display_name, m) for c, m in zip(clusters[:10], top)]
    assert found == core, f"missing: {set(core) - set(found)}"


@pytest.mark.parametrize("novel", NOVELS)
def test_offline_board_has_a_protagonist_sourced_profiles_and_archetypes(corpus_readings, novel, writer_a):
    characters = extract_characters(corpus_readings[novel], list(active_archetypes(writer_a.id)))
    assert characters[0].profile.role == "protagonist"
    assert [c.profile.role for c in characters].count("protagonist") == 1
    for cited in characters[:10]:
        assert cited.label == "offline draft"
        assert 1 <= len(cited.profile.archetypes) <= 5
        assert cited.profile.archetypes == cited.analysis.names
        assert cited.analysis.primary.evidence or cited.analysis.primary.name == "The Everyman"
        chapter_texts = {r.number: r.text for r in corpus_readings[novel]}
        for citations in cited.citations.values():
            for citation in citations:  # every quoted sentence is really in the chapter it names
                words = citation.quote.rstrip("…").split()[:8]
                assert " ".join(words) in " ".join(chapter_texts[citation.chapter_number].split())
    protagonist = characters[0].analysis
    assert protagonist.primary.name == "The Hero"


def test_first_person_narrator_is_the_protagonist(corpus_readings, writer_a):
    """Frankenstein's narration says "I"; Victor is named mostly by others, in their speech."""
    characters = extract_characters(corpus_readings["frankenstein.txt"], list(active_archetypes(writer_a.id)))
    index = truth_index("frankenstein.txt")
    names = [characters[0].profile.name, *characters[0].profile.aliases]
    assert "Victor Frankenstein" in {index.get(_normalise(n)) for n in names}


# --- the board service on a small book ------------------------------------------------------------------------

STORY = [
    "Chapter text one. Mr. Thomas Ashcombe came home to Fernley on a Monday in June. \u201cYou are late,\u201d said "
    "Harriet Vale. Harriet was tall and proud, with dark hair and grey eyes. Mrs. Ashcombe replied, \u201cThe "
    "roads from London were dreadful.\u201d Harriet wished to leave Fernley for London. Mr. Ashcombe laughed. "
    "Old Dr. Pell advised Harriet to be patient. \u201cWait,\u201d said Dr. Pell.",
    "Harriet walked with Dr. Pell in the garden. \u201cYou must not trust Ashcombe,\u201d said Dr. Pell. Harriet "
    "believed that Ashcombe loved her. Mrs. Ashcombe watched them. \u201cHarriet is foolish,\u201d said Mrs. "
    "Ashcombe. Mr. Ashcombe wanted the house and the money. Harriet Vale was proud and clever.",
    "In the end Harriet left Fernley. Mr. Ashcombe was cruel and Harriet hated him. \u201cGoodbye,\u201d said "
    "Harriet. Dr. Pell smiled. Mrs. Ashcombe wept. Harriet was happy at last, and Dr. Pell was glad.",
]


def make_book(writer, chapters=STORY, title="Fernley") -> object:
    with unit_of_work(writer.id) as session:
        book = Book(user_id=writer.id, title=title)
        session.add(book)
        session.flush()
        for number, chapter_text in enumerate(chapters, start=1):
            session.add(Chapter(book_id=book.id, user_id=writer.id, number=number, title=str(number),
                                text=chapter_text, content_sha256=hashlib.sha256(chapter_text.encode()).hexdigest()))
        return book.id


def generate(writer, book_id, engine="offline") -> dict:
    job_id = board.start_board(writer.id, book_id, engine=engine, queue=False)
    return jobs.run_job(job_id, writer.id)


@pytest.fixture
def small_board(writer_a):
    book_id = make_book(writer_a)
    result = generate(writer_a, book_id)
    return book_id, result


def card(writer, book_id, name):
    return next(c for c in board.list_characters(writer.id, book_id) if c.name == name or name in c.aliases)


def test_board_job_finds_people_not_places_and_ranks_them(small_board, writer_a):
    book_id, result = small_board
    names = [c["name"] for c in result["characters"]]
    assert names[0] in ("Harriet Vale", "Harriet")
    assert {"Dr. Pell", "Mrs. Ashcombe"} <= set(names)
    assert not {"Fernley", "London", "Monday", "June"} & set(names)
    cards = board.list_characters(writer_a.id, book_id)
    assert [c.name for c in cards] == names
    assert cards[0].role == "protagonist" and cards[0].primary_archetype == "The Hero"
    assert all(c.label == "offline draft" and c.version == 1 for c in cards)
    assert "London" in card(writer_a, book_id, "Harriet").want  # "Harriet wished to leave Fernley for London."


def test_board_filters_by_role_archetype_and_name(small_board, writer_a):
    book_id, _ = small_board
    everyone = board.list_characters(writer_a.id, book_id)
    assert [c.name for c in board.list_characters(writer_a.id, book_id, role="protagonist")] == [everyone[0].name]
    heroes = board.list_characters(writer_a.id, book_id, archetype="The Hero")
    assert heroes and all("The Hero" in c.archetypes for c in heroes)
    assert [c.name for c in board.list_characters(writer_a.id, book_id, search="pell")] == ["Dr. Pell"]
    assert board.list_characters(writer_a.id, book_id, search="nobody") == []


def test_generating_again_versions_characters_instead_of_duplicating_them(small_board, writer_a):
    book_id, _ = small_board
    before = board.list_characters(writer_a.id, book_id)
    harriet = card(writer_a, book_id, "Harriet")
    board.save_character(writer_a.id, harriet.key, base_version=1, changes={"want": "To see Paris."})
    generate(writer_a, book_id)
    after = board.list_characters(writer_a.id, book_id)
    assert sorted(c.key for c in after) == sorted(c.key for c in before)
    history = board.history(writer_a.id, harriet.key)
    assert [v["profile"]["want"] for v in history][1] == "To see Paris."  # the edit stays in the history


def test_edit_is_a_new_version_and_a_stale_save_is_refused_with_both_values(small_board, writer_a):
    book_id, _ = small_board
    pell = card(writer_a, book_id, "Dr. Pell")
    assert board.save_character(writer_a.id, pell.key, base_version=1, changes={"want": "To protect Harriet."}) == 2
    with pytest.raises(VersionConflictError) as conflict:
        board.save_character(writer_a.id, pell.key, base_version=1, changes={"want": "Something else."})
    assert conflict.value.yours["want"] == "Something else."
    assert conflict.value.theirs["want"] == "To protect Harriet."
    assert conflict.value.current_version == 2
    assert board.get_character(writer_a.id, pell.key).profile["want"] == "To protect Harriet."
    versions = [v["version"] for v in board.history(writer_a.id, pell.key)]
    assert versions == [2, 1]
    with unit_of_work(writer_a.id) as session:  # version 1 was never updated
        first = session.scalar(select(Character).where(Character.character_key == pell.key, Character.version == 1))
        assert first.want != "To protect Harriet."


def test_compare_and_restore(small_board, writer_a):
    book_id, _ = small_board
    pell = card(writer_a, book_id, "Dr. Pell")
    original = board.get_character(writer_a.id, pell.key).profile
    board.save_character(writer_a.id, pell.key, base_version=1, changes={"want": "To retire.", "role": "minor"})
    assert board.compare(writer_a.id, pell.key, 1, 2) == {"role": (original["role"], "minor"),
                                                          "want": (original["want"], "To retire.")}
    assert board.restore(writer_a.id, pell.key, 1, base_version=2) == 3
    assert board.get_character(writer_a.id, pell.key).profile == original
    with pytest.raises(NotFoundError):
        board.compare(writer_a.id, pell.key, 1, 9)


@pytest.mark.parametrize("changes, field, message", [
    ({"name": " X "}, "name", "at least 2 characters"),
    ({"name": "N" * 256}, "name", "less than 255 characters"),
    ({"archetypes": []}, "archetypes", "At least one archetype"),
    ({"archetypes": ["The Hero"] * 6}, "archetypes", "Maximum 5 archetypes"),
    ({"role": "villain"}, "role", "protagonist, antagonist, supporting, minor"),
    ({"want": "  "}, "want", "placeholder"),
    ({"need": "N/A"}, "need", "placeholder"),
])
def test_validators_refuse_bad_edits_field_by_field(small_board, writer_a, changes, field, message):
    book_id, _ = small_board
    pell = card(writer_a, book_id, "Dr. Pell")
    with pytest.raises(ArtefactValidationError) as refused:
        board.save_character(writer_a.id, pell.key, base_version=1, changes=changes)
    assert message in refused.value.field_errors[field]
    assert len(board.history(writer_a.id, pell.key)) == 1


def test_add_by_hand_merge_and_split(small_board, writer_a):
    book_id, _ = small_board
    key = board.add_character(writer_a.id, book_id, {"name": "The Gardener", "want": "Roses.", "need": "Rest."})
    gardener = board.get_character(writer_a.id, key)
    assert gardener.card.label == "added by hand" and gardener.profile["role"] == "minor"
    pell = card(writer_a, book_id, "Dr. Pell")
    board.merge_characters(writer_a.id, pell.key, key)
    merged = board.get_character(writer_a.id, pell.key)
    assert "The Gardener" in merged.profile["aliases"]
    assert key not in {c.key for c in board.list_characters(writer_a.id, book_id)}
    with pytest.raises(NotFoundError):
        board.get_character(writer_a.id, key)
    split_key = board.split_alias(writer_a.id, pell.key, "The Gardener")
    assert "The Gardener" not in board.get_character(writer_a.id, pell.key).profile["aliases"]
    assert board.get_character(writer_a.id, split_key).card.name == "The Gardener"
    with pytest.raises(PlotStudioError, match="not an alias"):
        board.split_alias(writer_a.id, pell.key, "Nobody")
    with pytest.raises(PlotStudioError, match="two different"):
        board.merge_characters(writer_a.id, pell.key, pell.key)


def test_regenerate_one_character_leaves_the_others_alone(small_board, writer_a):
    book_id, _ = small_board
    pell, harriet = card(writer_a, book_id, "Dr. Pell"), card(writer_a, book_id, "Harriet")
    board.save_character(writer_a.id, harriet.key, base_version=1, changes={"want": "Mine."})
    assert board.regenerate_character(writer_a.id, pell.key) == 2
    assert board.get_character(writer_a.id, harriet.key).profile["want"] == "Mine."
    assert board.get_character(writer_a.id, harriet.key).card.version == 2


# --- portraits -------------------------------------------------------------------------------------------------

def test_local_portrait_card_history_and_restore(small_board, writer_a):
    book_id, _ = small_board
    harriet = card(writer_a, book_id, "Harriet")
    prompt = board.portrait_prompt(writer_a.id, harriet.key)
    assert "dark hair and grey eyes" in prompt and "Fernley" in prompt
    first = board.regenerate_portrait(writer_a.id, harriet.key)
    second = board.regenerate_portrait(writer_a.id, harriet.key, prompt="Harriet in a scarlet cloak, blue eyes")
    shown = board.portrait_history(writer_a.id, harriet.key)
    assert [p.id for p in shown] == [second, first] and [p.is_current for p in shown] == [True, False]
    assert shown[0].prompt == "Harriet in a scarlet cloak, blue eyes" and shown[0].provider == "local-card"
    assert board.portrait_prompt(writer_a.id, harriet.key) == "Harriet in a scarlet cloak, blue eyes"
    data, mime = board.portrait_image(writer_a.id, second)
    with Image.open(io.BytesIO(data)) as image:
        assert mime == "image/png" and image.size == (600, 800)
        assert image.getpixel((5, 5)) != Image.open(io.BytesIO(board.portrait_image(writer_a.id, first)[0])).getpixel((5, 5))
    board.make_portrait_current(writer_a.id, first)
    assert board.current_portraits(writer_a.id, book_id) == {harriet.key: first}
    with unit_of_work(writer_a.id) as session:  # a local card is not a model generation: nothing charged
        assert session.scalar(select(func.count()).select_from(UsageLog).where(UsageLog.action == "portrait")) == 0


@pytest.fixture
def images_endpoint(monkeypatch):
    with OpenAIStub() as stub:
        monkeypatch.setenv("IMAGE_BASE_URL", stub.url)
        monkeypatch.setenv("IMAGE_API_KEY", "image-key")
        get_settings.cache_clear()
        yield stub
    get_settings.cache_clear()


def test_images_endpoint_b64_json_is_stored_as_bytes_in_three_by_four(small_board, writer_a, images_endpoint):
    book_id, _ = small_board
    harriet = card(writer_a, book_id, "Harriet")
    portrait_id = board.regenerate_portrait(writer_a.id, harriet.key, prompt="Harriet Vale, oil painting")
    (request,) = images_endpoint.image_requests()
    assert request["size"] == "1024x1536" and request["response_format"] == "b64_json"
    assert request["prompt"] == "Harriet Vale, oil painting"
    data, mime = board.portrait_image(writer_a.id, portrait_id)
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (1024, 1536) and mime == "image/png"
    (info,) = board.portrait_history(writer_a.id, harriet.key)
    assert info.provider == "images-endpoint" and info.model
    with unit_of_work(writer_a.id) as session:
        assert session.scalar(select(func.count()).select_from(UsageLog).where(UsageLog.action == "portrait")) == 1
        assert session.scalar(select(Portrait.image_path).where(Portrait.id == portrait_id)) is None


def test_images_endpoint_failure_saves_nothing(small_board, writer_a, images_endpoint):
    book_id, _ = small_board
    harriet = card(writer_a, book_id, "Harriet")
    images_endpoint.failures = [500, 500]
    with pytest.raises(PlotStudioError, match="images endpoint failed"):
        board.regenerate_portrait(writer_a.id, harriet.key)
    assert board.portrait_history(writer_a.id, harriet.key) == []


def test_portrait_limit_of_the_tier_is_enforced(small_board, writer_a, images_endpoint, monkeypatch):
    book_id, _ = small_board
    harriet = card(writer_a, book_id, "Harriet")
    monkeypatch.setenv("TIER_MONTHLY_LIMITS", json.dumps({"FREE": {"portrait": 1}}))
    get_settings.cache_clear()
    board.regenerate_portrait(writer_a.id, harriet.key)
    with pytest.raises(PlotStudioError, match="portrait"):
        board.regenerate_portrait(writer_a.id, harriet.key)
    assert len(images_endpoint.image_requests()) == 1


def test_portraits_switched_off(small_board, writer_a, monkeypatch):
    book_id, _ = small_board
    monkeypatch.setenv("ENABLE_CHARACTER_IMAGES", "false")
    get_settings.cache_clear()
    try:
        with pytest.raises(PlotStudioError, match="switched off"):
            board.regenerate_portrait(writer_a.id, card(writer_a, book_id, "Harriet").key)
    finally:
        get_settings.cache_clear()


# --- row-level security ----------------------------------------------------------------------------------------

def test_another_writer_sees_none_of_the_board_or_portraits(small_board, writer_a, writer_b):
    book_id, _ = small_board
    harriet = card(writer_a, book_id, "Harriet")
    portrait_id = board.regenerate_portrait(writer_a.id, harriet.key)
    assert board.list_characters(writer_b.id, book_id) == []
    for action in (lambda: board.get_character(writer_b.id, harriet.key),
                   lambda: board.save_character(writer_b.id, harriet.key, base_version=1, changes={"want": "x y"}),
                   lambda: board.portrait_image(writer_b.id, portrait_id),
                   lambda: board.make_portrait_current(writer_b.id, portrait_id),
                   lambda: board.regenerate_portrait(writer_b.id, harriet.key),
                   lambda: board.add_character(writer_b.id, book_id, {"name": "Intruder", "want": "In.",
                                                                      "need": "Out."})):
        with pytest.raises(NotFoundError):
            action()
    assert board.portrait_history(writer_b.id, harriet.key) == []


def test_new_tables_are_forced_under_rls(database):
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    with create_engine(database, poolclass=NullPool).connect() as conn:
        flags = dict(conn.execute(text("SELECT relname, relrowsecurity AND relforcerowsecurity FROM pg_class "
                                       "WHERE relname IN ('nlp_annotations', 'characters', 'portraits')")).all())
    assert flags == {"nlp_annotations": True, "characters": True, "portraits": True}


def test_writer_cannot_store_a_portrait_in_someone_elses_name(small_board, writer_a, writer_b):
    book_id, _ = small_board
    harriet = card(writer_a, book_id, "Harriet")
    with pytest.raises(Exception, match="row-level security"):
        with unit_of_work(writer_b.id) as session:
            session.add(Portrait(character_key=harriet.key, book_id=book_id, user_id=writer_a.id,
                                 image_data=b"x", provider="local-card"))
            session.flush()


# --- the model path, against the loopback OpenAI-protocol server ----------------------------------------------

@pytest.fixture
def model_endpoint(monkeypatch):
    with OpenAIStub() as stub:
        monkeypatch.setenv("LLM_BASE_URL", stub.url)
        monkeypatch.setenv("LLM_API_KEY", "test-key")
        monkeypatch.setenv("LLM_MAX_RETRIES", "0")
        get_settings.cache_clear()
        yield stub
    get_settings.cache_clear()


def test_model_profiles_main_characters_from_passages_across_the_book(writer_a, model_endpoint):
    def responder(body, schema):
        user = body["messages"][-1]["content"]
        name = re.search(r"Character: (.+?) \(", user).group(1)
        return {"role": "protagonist" if "Harriet" in name else "supporting", "want": f"{name} wants to leave.",
                "need": "To trust herself.", "lie": "That love is owed.", "ghost": "A lost father.",
                "character_arc": "From proud to free.", "physical_description": "Tall, dark hair.",
                "personality": "Proud and clever.",
                "primary_archetype": {"name": "The Hero" if "Harriet" in name else "The Mentor",
                                      "reason": "She acts.", "passages": [1]},
                "secondary_archetypes": [{"name": "Not An Archetype", "reason": "Made up.", "passages": [2]}],
                "traits": ["proud"], "strengths": ["clever"], "shadows": ["stubborn"], "story_roles": ["lead"],
                "citations": {"want": [1, 99], "need": [2]}}

    model_endpoint.responder = responder
    book_id = make_book(writer_a)
    result = generate(writer_a, book_id, engine="llm")
    requests = model_endpoint.chat_requests()
    assert len(requests) == min(10, len(result["characters"]))
    harriet_request = next(r["messages"][-1]["content"] for r in requests if "Character: Harriet" in
                           r["messages"][-1]["content"])
    assert {"(chapter 1)", "(chapter 2)", "(chapter 3)"} <= set(re.findall(r"\(chapter \d\)", harriet_request))
    harriet = card(writer_a, book_id, "Harriet")
    view = board.get_character(writer_a.id, harriet.key)
    assert view.card.label.startswith("generated by ") and view.profile["want"].endswith("wants to leave.")
    assert view.profile["archetypes"] == ["The Hero"]  # an archetype not in the table is dropped
    assert [c["chapter_number"] for c in view.citations["want"]] == [1]  # passage 99 does not exist
    with unit_of_work(writer_a.id) as session:
        row = session.scalar(select(Character).where(Character.character_key == harriet.key))
        assert row.generation_method == "llm" and row.tokens_in > 0 and row.prompt_name == "character_profile"
        assert session.scalar(select(func.count()).select_from(UsageLog).where(UsageLog.action == "character")) == 1


def test_model_failure_saves_nothing(writer_a, model_endpoint):
    model_endpoint.failures = [500] * 10
    book_id = make_book(writer_a)
    job_id = board.start_board(writer_a.id, book_id, engine="llm", queue=False)
    jobs.run_job(job_id, writer_a.id)
    assert jobs.get_job(writer_a.id, job_id).status == "failed"
    assert board.list_characters(writer_a.id, book_id) == []


# --- the command line ---------------------------------------------------------------------------------------

@pytest.mark.committed
def test_cli_prints_the_board_and_makes_portraits(database):
    from support import make_writer, run_cli

    writer = make_writer("cli")
    book_id = make_book(writer)
    result = run_cli("characters", str(book_id), "--user", writer.email)
    board_json = json.loads(result.stdout.strip().splitlines()[-1])
    people = board_json["characters"]
    assert people[0]["name"] in ("Harriet Vale", "Harriet") and people[0]["role"] == "protagonist"
    assert {"name", "aliases", "role", "archetypes", "mentions"} <= set(people[0])
    assert people[0]["mentions"] >= max(p["mentions"] for p in people[1:]) or people[0]["dialogue_lines"] > 0
    first = json.loads(run_cli("portrait", people[0]["id"], "--user", writer.email).stdout.splitlines()[-1])
    second = json.loads(run_cli("portrait", people[0]["id"], "--user", writer.email, "--prompt",
                                "Harriet by the sea, blue cloak").stdout.splitlines()[-1])
    assert second["version"] == 2 and second["earlier"] == [first["portrait_id"]]
    assert second["prompt"] == "Harriet by the sea, blue cloak" and second["provider"] == "local-card"
    refused = run_cli("portrait", "not-an-id", "--user", writer.email, check=False)
    assert refused.returncode == 2 and "not a character id" in refused.stderr


def test_regenerating_one_character_with_the_model_asks_about_that_one_only(small_board, writer_a, model_endpoint):
    book_id, _ = small_board
    pell = card(writer_a, book_id, "Dr. Pell")
    assert board.regenerate_character(writer_a.id, pell.key, engine="llm") == 2
    (request,) = model_endpoint.chat_requests()
    assert "Character: Dr. Pell" in request["messages"][-1]["content"]
    view = board.get_character(writer_a.id, pell.key)
    assert view.card.label.startswith("generated by ") and view.card.rank == pell.rank
    assert all(c.version == 1 for c in board.list_characters(writer_a.id, book_id) if c.key != pell.key)


def test_first_portraits_for_the_main_characters_only_where_missing(small_board, writer_a, monkeypatch):
    book_id, _ = small_board
    harriet = card(writer_a, book_id, "Harriet")
    kept = board.regenerate_portrait(writer_a.id, harriet.key)
    made = board.portraits_for_book(writer_a.id, book_id, limit=3)
    assert len(made) == 2 and board.current_portraits(writer_a.id, book_id)[harriet.key] == kept
    monkeypatch.setenv("ENABLE_CHARACTER_IMAGES", "false")
    get_settings.cache_clear()
    try:
        assert board.portraits_for_book(writer_a.id, book_id) == []
    finally:
        get_settings.cache_clear()
