"""Scripts: Fountain import and export, the offline engine on the corpus, versions, the aligner, the CLI."""

from __future__ import annotations

import io
import json
import re
import uuid
import xml.etree.ElementTree as ET
from functools import lru_cache

import pypdf
import pytest

from core.engines.offline import script as offline
from core.errors import PlotStudioError, VersionConflictError
from core.screenplay import align, export
from core.screenplay import fountain as ftn
from support import CORPUS, run_cli

TRUTH = json.loads((CORPUS / "truth.json").read_text())
BRICK = (CORPUS / "brick_and_steel.fountain").read_text()
SAY = r"(?:said|cried|replied|answered|asked|exclaimed|returned)"
# A chapter of each novel where people talk, and how many named attributions it must have at least.
CHAPTERS = [("pride_and_prejudice.txt", 3), ("pride_and_prejudice.txt", 6), ("little_women.txt", 1),
            ("frankenstein.txt", 11), ("the_man_in_the_brown_suit.txt", 12),
            ("the_man_in_the_brown_suit.txt", 21)]


@lru_cache(maxsize=None)
def book(name: str):
    from core.ingest.formats import parse_book
    return parse_book(name, (CORPUS / name).read_bytes(), max_bytes=10 ** 9, max_words=10 ** 8)


def board(name: str) -> list[offline.CharacterRef]:
    return [offline.CharacterRef(canonical, aliases) for canonical, aliases in TRUTH[name]["characters"].items()]


def words(text: str) -> str:
    return " ".join(re.findall(r"[a-z]+", text.lower()))


def attributed_quotes(text: str, name: str) -> list[tuple[str, str]]:
    """(canonical speaker, quoted words) for every quotation the prose tags with a name: `“…,” said Jo`."""
    aliases = {}
    for canonical, others in TRUTH[name]["characters"].items():
        for alias in [canonical, *others]:
            aliases[alias.lower()] = canonical
    names = "|".join(re.escape(a) for a in sorted(aliases, key=len, reverse=True))
    found = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(paragraph.split())
        pattern = r"[“\"]([^”\"]+)[”\"]\s*(?:" + SAY + r"\s+(" + names + r")|(" + names + r")\s+" + SAY + r")\b"
        for match in re.finditer(pattern, paragraph, re.I):
            speaker = (match.group(2) or match.group(3)).lower()
            found.append((aliases[speaker], match.group(1)))
    return found


# --- the offline engine on every corpus novel ------------------------------------------------------


def corpus_chapter(name: str, number: int):
    """The chapter truth.json lists as number `number` (found by its opening words, whatever the split)."""
    opening = TRUTH[name]["chapters"][number - 1]["starts_with"]
    return next(c for c in book(name).chapters if " ".join(c.text.split()).startswith(opening))


@pytest.mark.parametrize("name,number", CHAPTERS)
def test_offline_script_of_a_corpus_chapter_keeps_every_attributed_line(name, number):
    chapter = corpus_chapter(name, number)
    result = offline.chapter_script(chapter.text, book_title=name, chapter_number=number,
                                    chapter_title=chapter.title, characters=board(name))
    script = ftn.parse(result.fountain)
    assert result.label == "offline draft" and script.title_page["Draft date"] == ["offline draft"]
    assert script.scenes and all(re.match(r"^(INT|EXT)\. .+ - (DAY|NIGHT)$", s.heading) for s in script.scenes)
    real_cues = {ftn.cue(n) for n in TRUTH[name]["characters"]}
    spoken = script.dialogue_counts()
    assert spoken and set(spoken) <= real_cues, set(spoken) - real_cues
    expected = attributed_quotes(chapter.text, name)
    assert len(expected) >= 3
    by_cue: dict[str, str] = {}
    for scene in script.scenes:
        for line in scene.dialogue:
            by_cue[line.character] = by_cue.get(line.character, "") + " " + words(line.text)
    for speaker, quote in expected:
        assert words(quote) in by_cue.get(ftn.cue(speaker), ""), (speaker, quote)


def test_styles_change_the_form():
    chapter = corpus_chapter("pride_and_prejudice.txt", 3)
    forms = {style: ftn.parse(offline.chapter_script(chapter.text, book_title="P&P", chapter_number=3,
                                                     chapter_title="3", style=style,
                                                     characters=board("pride_and_prejudice.txt")).fountain)
             for style in offline.STYLES}
    assert "FADE IN:" in forms["cinematic"].scenes[0].text or forms["cinematic"].preamble_lines
    tv = forms["tv"]
    assert [a["name"] for a in tv.acts][:2] == ["Teaser", "Act One"] and tv.acts[0]["scenes"] == [1]
    stage = forms["stage"]
    assert all(s.forced and s.heading.startswith("SCENE ") for s in stage.scenes)
    assert stage.scenes[-1].transition == "CURTAIN." and stage.acts
    audio = forms["audio"]
    assert "NARRATOR" in audio.dialogue_counts() and all(s.audio_notes for s in audio.scenes)
    assert "NARRATOR" not in forms["cinematic"].dialogue_counts()


def test_an_unknown_style_is_refused_in_one_sentence(writer_a):
    from core.services import scripts
    with pytest.raises(PlotStudioError, match="not a style"):
        scripts.start_scripts(writer_a.id, uuid.uuid4(), style="opera")


# --- Fountain: import, structure, export ------------------------------------------------------------


def test_brick_and_steel_parses_with_eight_headings_two_forced():
    script = ftn.parse(BRICK)
    assert [s.heading for s in script.scenes][3:5] == ["SNIPER SCOPE POV", "OPENING TITLES"]
    assert len(script.scenes) == 8 and sum(s.forced for s in script.scenes) == 2
    assert script.title_page["Title"] == ["BRICK & STEEL", "FULL RETIRED"]
    assert {"BRICK", "STEEL"} <= set(script.scenes[0].characters)  # indented and dual dialogue
    assert script.scenes[0].transition == "SMASH CUT TO:" and script.scenes[-1].transition == "BURN TO PINK."
    assert script.scenes[3].camera_notes == ["SNIPER SCOPE POV"]


def test_fdx_is_well_formed_and_lists_the_scenes():
    root = ET.fromstring(export.to_fdx(BRICK))
    headings = ["".join(p.itertext()).strip() for p in root.iter("Paragraph") if p.get("Type") == "Scene Heading"]
    assert headings == [s.heading for s in ftn.parse(BRICK).scenes]
    assert root.find(".//DualDialogue") is not None


def test_pdf_page_count_is_plausible_and_matches_the_estimate():
    pages = len(pypdf.PdfReader(io.BytesIO(export.to_pdf(BRICK))).pages)
    estimate = ftn.parse(BRICK).page_estimate
    assert 3 <= pages <= 8 and abs(pages - estimate) <= 1


def test_not_a_screenplay_is_refused(writer_a):
    with pytest.raises(ftn.FountainError):
        ftn.parse("binary\x00junk")
    from core.services import scripts
    with pytest.raises(ftn.FountainError, match="no scene heading"):
        scripts._structure_check("Just a line of prose.\n")


# --- the aligner -----------------------------------------------------------------------------------


def edited(text: str) -> str:
    """Brick & Steel with the trailer scene deleted, a scene inserted after the garage, a word changed."""
    text = re.sub(r"INT\. TRAILER HOME - DAY.*?CUT TO:\n\n", "", text, flags=re.S)
    text = text.replace("INT. GARAGE - DAY", "INT. GARAGE - NIGHT").replace("To destiny!", "To glory!")
    return text.replace("EXT. PALATIAL MANSION - DAY",
                        "EXT. HIGHWAY - DAY\n\nThe Porsche weaves through traffic.\n\nSTEEL\nHold on!\n\n"
                        "CUT TO:\n\nEXT. PALATIAL MANSION - DAY")


def test_aligner_pairs_scenes_by_content_across_an_insert_and_a_delete():
    left, right = ftn.parse(BRICK), ftn.parse(edited(BRICK))
    result = align.compare(left, right)
    statuses = [(row.status, (row.left or row.right).heading) for row in result.rows]
    assert ("removed", "INT. TRAILER HOME - DAY") in statuses
    assert ("added", "EXT. HIGHWAY - DAY") in statuses
    assert statuses.count(("same", "EXT. WOODEN SHACK - DAY")) == 1
    garage = next(row for row in result.rows if row.right and row.right.heading == "INT. GARAGE - NIGHT")
    assert garage.status == "changed" and garage.left.heading == "INT. GARAGE - DAY"
    assert any(s.kind == "removed" and "destiny" in s.text for s in garage.left_segments)
    assert any(s.kind == "added" and "glory" in s.text for s in garage.right_segments)
    assert result.counts() == {"same": 6, "changed": 1, "removed": 1, "added": 1}
    assert result.left.scenes == 8 and result.right.scenes == 8
    assert result.left.dialogue_lines["JACK"] == 1 and "JACK" not in result.right.dialogue_lines


def test_aligner_marks_a_moved_scene():
    scenes = re.split(r"\n(?=EXT\.|INT\.)", ftn.body_of(BRICK))
    moved = "\n".join([scenes[0], scenes[3], scenes[1], scenes[2], *scenes[4:]])
    rows = align.compare(ftn.parse(BRICK), ftn.parse(moved)).rows
    assert sum(row.status == "moved" for row in rows) == 1 and not any(r.status in ("added", "removed") for r in rows)


# --- versions through the service and the CLI ------------------------------------------------------


def small_book(writer, text: str):
    from db.engine import unit_of_work
    from db.models import Book, Chapter
    with unit_of_work(writer.id) as session:
        row = Book(user_id=writer.id, title="Sense", status="ready")
        session.add(row)
        session.flush()
        chapter = Chapter(book_id=row.id, user_id=writer.id, number=1, title="The Cottage", text=text,
                          word_count=len(text.split()), content_sha256="0" * 64)
        session.add(chapter)
        session.flush()
        return row.id, chapter.id


PROSE = ("Elinor walked into the drawing-room of the cottage that evening.\n\n"
         "“We must be careful with money,” said Elinor.\n\n“I know,” Marianne said. “But the piano!”\n\n"
         "“It stays,” replied Elinor.\n\n“Then I am content.”\n\nThey sat by the fire until the candles burned low.")


def test_versions_edit_conflict_enhance_and_export(writer_a):
    from core.services import scripts
    from db.engine import unit_of_work
    from db.models import Character, PlotOverview
    book_id, chapter_id = small_book(writer_a, PROSE)
    first = scripts.generate_chapter_script(writer_a.id, chapter_id, engine="offline")
    assert first.version == 1 and first.generation_method == "offline" and not first.plot_enhanced
    assert [s["heading"] for s in first.scenes] == ["INT. DRAWING-ROOM - NIGHT"]
    cues = ftn.parse(first.fountain).dialogue_counts()
    assert cues == {"ELINOR": 2, "MARIANNE": 2}  # the last line alternates back to Marianne
    text = first.fountain.replace("It stays.", "It stays, dearest.")
    second = scripts.save_edit(writer_a.id, chapter_id, text, based_on_version=1)
    assert second.version == 2 and second.source == "edited" and second.based_on_version == 1
    with pytest.raises(VersionConflictError) as conflict:
        scripts.save_edit(writer_a.id, chapter_id, first.fountain + "\nMore.\n", based_on_version=1)
    assert conflict.value.current_version == 2 and len(scripts.list_versions(writer_a.id, chapter_id)) == 2
    with unit_of_work(writer_a.id) as session:
        session.add(PlotOverview(book_id=book_id, user_id=writer_a.id, logline="Elinor Dashwood keeps her family "
                                 "afloat while hiding her own heartbreak.", themes=["sense"]))
        session.add(Character(book_id=book_id, user_id=writer_a.id, name="Elinor Dashwood", aliases=["Elinor"],
                              want="to keep the family safe"))
    enhanced = scripts.enhance_with_plot(writer_a.id, second.id, engine="offline")
    assert enhanced.version == 3 and enhanced.source == "enhanced" and enhanced.plot_enhanced
    assert enhanced.based_on_version == 2 and enhanced.enhancements
    regenerated = scripts.generate_chapter_script(writer_a.id, chapter_id, engine="offline")
    assert regenerated.character_enhanced and "ELINOR DASHWOOD" in ftn.parse(regenerated.fountain).dialogue_counts()
    comparison = scripts.compare_versions(writer_a.id, first.id, second.id)
    assert [row.status for row in comparison.rows] == ["changed"]
    name, pdf = scripts.export_book(writer_a.id, book_id, "pdf")
    assert name.endswith(".pdf") and len(pypdf.PdfReader(io.BytesIO(pdf)).pages) >= 2  # title page + script


def test_another_writer_sees_no_version(writer_a, writer_b):
    from core.errors import NotFoundError
    from core.services import scripts
    _, chapter_id = small_book(writer_a, PROSE)
    row = scripts.generate_chapter_script(writer_a.id, chapter_id, engine="offline")
    with pytest.raises(NotFoundError):
        scripts.get_version(writer_b.id, row.id)
    assert scripts.list_versions(writer_b.id, chapter_id) == []


@pytest.mark.committed
def test_cli_script_import_and_export(database, tmp_path):
    from support import make_writer
    from core.services import scripts
    writer = make_writer("cli")
    book_id, chapter_id = small_book(writer, PROSE)
    out = json.loads(run_cli("script", str(book_id), "--chapter", "1", "--style", "tv", "--user", writer.email,
                             "--engine", "offline").stdout.strip().splitlines()[-1])
    item = out["scripts"][0]
    assert item["chapter"] == 1 and item["version"] == 1 and item["scenes"] and "ACT ONE" in item["fountain"]
    path = tmp_path / "brick.fountain"
    path.write_text(BRICK)
    imported = json.loads(run_cli("script-import", str(book_id), "--chapter", "1", str(path),
                                  "--user", writer.email).stdout.strip().splitlines()[-1])
    assert imported["version"] == 2 and [s["heading"] for s in imported["scenes"]][3] == "SNIPER SCOPE POV"
    for fmt in ("fountain", "fdx", "pdf"):
        target = tmp_path / f"out.{fmt}"
        run_cli("export", str(book_id), "--chapter", "1", "--format", fmt, "--out", str(target), "--user", writer.email)
        assert target.stat().st_size > 500
    assert ftn.parse((tmp_path / "out.fountain").read_text()).scenes == ftn.parse(BRICK).scenes  # round trip
    headings = ["".join(p.itertext()) for p in ET.parse(tmp_path / "out.fdx").iter("Paragraph")
                if p.get("Type") == "Scene Heading"]
    assert len(headings) == 8
    run_cli("export", str(book_id), "--format", "pdf", "--out", str(tmp_path / "book.pdf"), "--user", writer.email)
    assert len(pypdf.PdfReader(tmp_path / "book.pdf").pages) >= 5
    from db.engine import unit_of_work
    from db.models import Chapter
    with unit_of_work(writer.id) as session:
        session.add(Chapter(book_id=book_id, user_id=writer.id, number=2, title="Norland", text=PROSE,
                            word_count=len(PROSE.split()), content_sha256="1" * 64))
    every = run_cli("script", str(book_id), "--all", "--style", "audio", "--user", writer.email, "--engine", "offline")
    assert "Chapter 1 of 2" in every.stderr and "Chapter 2 of 2" in every.stderr
    written = json.loads(every.stdout.strip().splitlines()[-1])["scripts"]
    assert [(s["chapter"], s["version"], s["style"]) for s in written] == [(1, 3, "audio"), (2, 1, "audio")]
    refused = run_cli("script", str(book_id), "--chapter", "9", "--user", writer.email, "--engine", "offline",
                      check=False)
    assert refused.returncode != 0 and "no chapter 9" in refused.stderr and "Traceback" not in refused.stderr
    assert len(scripts.list_versions(writer.id, chapter_id)) == 3


# --- what the engine writes always reads back as what it meant --------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

PROSE_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=200) \
    .filter(lambda t: t.strip())


@settings(max_examples=300, deadline=None)
@given(narration=PROSE_TEXT, speech=PROSE_TEXT, name=st.sampled_from(["Elinor", "Mr. Bennet", "the monster"]))
def test_any_prose_renders_as_one_scene_with_its_action_and_dialogue(narration, speech, name):
    text = ftn.join([ftn.heading("INT. COTTAGE - DAY"), ftn.action(narration), ftn.dialogue(name, speech),
                     "CUT TO:"])
    [scene] = ftn.parse(text).scenes
    assert scene.heading == "INT. COTTAGE - DAY" and scene.transition == "CUT TO:"
    assert [line.character for line in scene.dialogue] == [ftn.cue(name)]
    plain = lambda text: words(re.sub(r"[*_\\]", "", text))  # noqa: E731 (emphasis marks are Fountain's)
    assert plain(scene.dialogue[0].text) == plain(speech) or not plain(speech)
    assert plain(" ".join(scene.action)) == plain(narration) or not plain(narration)


def test_a_retried_job_keeps_what_it_saved_and_charges_once(writer_a):
    from core.services import scripts
    from db.engine import unit_of_work
    from db.models import UsageLog
    book_id, chapter_id = small_book(writer_a, PROSE)
    params = {"book_id": str(book_id), "chapter_ids": [str(chapter_id)], "style": "cinematic", "engine": "offline",
              "run_key": uuid.uuid4().hex}
    reports = []
    first = scripts.generate_scripts(writer_a.id, lambda *a: reports.append(a), **params)
    again = scripts.generate_scripts(writer_a.id, lambda *a: reports.append(a), **params)
    assert first["scripts"][0]["script_id"] == again["scripts"][0]["script_id"]
    assert len(scripts.list_versions(writer_a.id, chapter_id)) == 1
    assert reports[0] == (0, 1, "Chapter 1 of 1")
    with unit_of_work(writer_a.id) as session:
        assert session.query(UsageLog).filter(UsageLog.action == "script").count() == 1
