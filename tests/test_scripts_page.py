"""The Scripts page in-process (AppTest): versions, the formatted page, a save, a refused stale save, the compare view."""

from __future__ import annotations

from test_pages import (PASSWORD, _navigation_not_pages_folder, _no_worker, _run, _sign_in, app,  # noqa: F401
                        cookies)
from test_scripts import PROSE, small_book


def open_scripts(app, writer):
    _sign_in(app, writer.email, PASSWORD)
    app.switch_page("pages/scripts.py")
    return _run(app)


def test_versions_read_save_conflict_and_compare(app, writer_a):
    from core.services import scripts
    _, chapter_id = small_book(writer_a, PROSE)
    first = scripts.generate_chapter_script(writer_a.id, chapter_id, engine="offline")
    at = open_scripts(app, writer_a)
    assert [t.value for t in at.title] == ["Scripts"]
    assert "Versions (1)" in [h.value for h in at.subheader]
    page = "".join(h.proto.body for h in at.get("html"))
    assert "<h6>INT. DRAWING-ROOM - NIGHT</h6>" in page and 'class="character">ELINOR<' in page

    editor = at.text_area(key=f"fountain_edit_{first.id}")
    editor.input(first.fountain.replace("It stays.", "It stays, dearest."))
    [save] = [b for b in at.button if b.label == "Save as a new version"]
    save.click()
    at = _run(at)
    assert "Versions (2)" in [h.value for h in at.subheader]
    assert [v.source for v in scripts.list_versions(writer_a.id, chapter_id)] == ["edited", "generated"]

    # someone saves version 3 elsewhere; this page still has version 2 open: its save is refused, not lost
    scripts.save_edit(writer_a.id, chapter_id, first.fountain, based_on_version=2)
    second = scripts.list_versions(writer_a.id, chapter_id)[1]
    at.text_area(key=f"fountain_edit_{second.id}").input(second.fountain + "\nA late line.\n")
    [save] = [b for b in at.button if b.label == "Save as a new version"]
    save.click()
    at = _run(at)
    assert any("Version 3 was saved after the version 2" in e.value for e in at.error)
    assert len(scripts.list_versions(writer_a.id, chapter_id)) == 3

    compare = "".join(h.proto.body for h in at.get("html") if "compare" in h.proto.body)
    assert "<tr class='changed'>" in compare and "<ins>" in compare
