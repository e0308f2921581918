"""Scripts: a chapter as a screenplay. Generate, read, edit, compare versions side by side, export."""

import html

import streamlit as st

from core.errors import PlotStudioError, VersionConflictError
from core.services import library, scripts
from pages import _shared as ui

PAGE_CSS = """
<style>
.screenplay {font-family: 'Courier Prime', 'Courier New', Courier, monospace; font-size: 14px; line-height: 1.25;
  background: #fff; color: #111; padding: 24px 36px; max-width: 46em; border: 1px solid #ddd;}
.screenplay h6 {font-size: 14px; font-weight: bold; text-transform: uppercase; margin: 1.4em 0 .6em 0;}
.screenplay p {margin: 0;}
.screenplay .action {margin: .8em 0;}
.screenplay .action.centered {text-align: center;}
.screenplay .dialog {margin: .8em 0 .8em 10em; max-width: 22em;}
.screenplay .dialog .character {margin-left: 7em;}
.screenplay .dialog .parenthetical {margin-left: 3.5em;}
.screenplay .dual {display: flex; gap: 2em; margin: .8em 0;}
.screenplay .dual > div {flex: 1;}
.screenplay .dual .character {text-align: center;}
.screenplay .transition {text-align: right; margin: .8em 0;}
.screenplay .page-break {border-top: 1px dashed #bbb; padding-top: .8em;}
.compare {width: 100%; border-collapse: collapse; font-family: 'Courier New', Courier, monospace; font-size: 13px;}
.compare td {vertical-align: top; width: 50%; padding: 6px 10px; border-top: 1px solid #e5e5e5; white-space: pre-wrap;}
.compare .heading {font-weight: bold;}
.compare del {background: #ffd7d5; text-decoration: line-through;}
.compare ins {background: #ccf0d2; text-decoration: none;}
.compare .tag {font-family: sans-serif; font-size: 11px; padding: 1px 6px; border-radius: 8px; margin-left: 6px;}
.compare .same .tag {background: #eee;} .compare .changed .tag {background: #fff1b8;}
.compare .added .tag {background: #ccf0d2;} .compare .removed .tag {background: #ffd7d5;}
.compare .moved .tag {background: #d6e4ff;}
.compare .empty {background: #fafafa;}
</style>
"""

account = ui.require_account()
book = ui.choose_book(account, key="scripts_book")
st.title("Scripts")

chapters = library.list_chapters(account.id, book.id)
if not chapters:
    st.info("This book has no chapters.")
    st.stop()
by_chapter = {c.number: c for c in chapters}
story = [c for c in chapters if c.ordinal is not None]  # front and back matter can be picked, but come last
chapter = by_chapter[st.selectbox("Chapter", [c.number for c in story + [c for c in chapters if c not in story]],
                                  key="scripts_chapter", format_func=lambda n: (
                                      f"{by_chapter[n].ordinal}. {by_chapter[n].title}" if by_chapter[n].ordinal
                                      else f"[{by_chapter[n].title}]"))]


def run(action, *args, **kwargs):
    """Call a service; show its one-sentence error instead of a traceback."""
    try:
        return action(*args, **kwargs)
    except VersionConflictError as error:
        st.session_state.conflict = error
        ui.show_error(error)
    except PlotStudioError as error:
        ui.show_error(error)
    return None


with st.container(border=True):
    left, middle, right = st.columns([2, 2, 3])
    style = left.selectbox("Style", list(scripts.STYLES), format_func=lambda s: scripts.STYLES[s].split(":")[0],
                           key="script_style")
    engine = middle.selectbox("Engine", scripts.engines_available(), key="script_engine",
                              format_func=lambda e: {"offline": "Offline draft (no model)", "llm": "Model"}[e])
    right.caption(scripts.STYLES[style])
    one, every = st.columns(2)
    if one.button("Generate this chapter", type="primary", key="generate_one"):
        if run(scripts.start_scripts, account.id, book.id, chapter_numbers=[chapter.number], style=style,
               engine=engine):
            st.session_state.watch_scripts = True
    if every.button(f"Generate every chapter ({len(story)})", key="generate_all"):
        if run(scripts.start_scripts, account.id, book.id, chapter_numbers=None, style=style, engine=engine):
            st.session_state.watch_scripts = True


@st.fragment(run_every=1.0)
def script_progress() -> None:
    """Live progress of script jobs: 'Chapter n of N'; reruns the page when one ends."""
    if not st.session_state.get("watch_scripts"):
        return
    active = scripts.active_script_jobs(account.id, book.id)
    if not active:
        st.session_state.watch_scripts = False
        last = scripts.last_script_job(account.id, book.id)
        if last is not None and last.status == "failed":
            st.session_state.script_job_error = last.error
        st.rerun(scope="app")
    for job in active:
        ui.job_progress_row(account, job, cancel_key=f"cancel-script-{job.id}")


script_progress()
if st.session_state.get("script_job_error"):
    st.error(st.session_state.pop("script_job_error"))

versions = scripts.list_versions(account.id, chapter.id)
with st.expander("Import a .fountain file as a new version"):
    with st.form("import_fountain", clear_on_submit=True, border=False):
        upload = st.file_uploader("Fountain file", type=["fountain", "txt"], key="fountain_upload")
        if st.form_submit_button("Import"):
            if upload is None:
                st.warning("Choose a file first.")
            elif imported := run(scripts.import_fountain, account.id, chapter.id, upload.getvalue(),
                                 filename=upload.name):
                st.session_state.open_version = imported.version
                st.rerun()

if not versions:
    st.info("This chapter has no script yet: generate one, or import a .fountain file.")
    st.stop()


def describe(v) -> str:
    made = v.model_used or {"offline": "offline draft", "writer": "your edit", "import": "imported"}.get(
        v.generation_method, v.generation_method)
    aware = "plot-aware" if v.plot_enhanced else "standard"
    return (f"v{v.version} · {scripts.STYLES.get(v.style, v.style).split(':')[0]} · {made} · {aware} · "
            f"{v.source} · {float(v.pages):.1f} pages · ${float(v.generation_cost):.4f} · "
            f"{v.created_at:%Y-%m-%d %H:%M}")


st.subheader(f"Versions ({len(versions)})")
st.dataframe([{"version": v.version, "style": v.style, "engine": v.model_used or v.generation_method,
               "plot-aware": v.plot_enhanced, "characters": v.character_enhanced, "source": v.source,
               "pages": float(v.pages), "cost $": float(v.generation_cost), "who": account.email,
               "when": f"{v.created_at:%Y-%m-%d %H:%M}"} for v in versions],
             hide_index=True, width="stretch")
by_number = {v.version: v for v in versions}
if st.session_state.get("open_version") in by_number:  # a save, an import or an enhancement opens its version
    st.session_state[f"open_version_{chapter.id}"] = st.session_state.pop("open_version")
opened = by_number[st.selectbox("Open version", list(by_number), format_func=lambda n: describe(by_number[n]),
                                key=f"open_version_{chapter.id}")]

read_tab, edit_tab, compare_tab, export_tab = st.tabs(["Read", "Edit", "Compare versions", "Export"])

with read_tab:
    page_html, pages = scripts.preview(opened.fountain)
    label = (opened.generation_metadata or {}).get("label", "")
    st.caption(f"About {pages:.1f} pages · {len(opened.scenes)} scenes" + (f" · {label}" if label else "")
               + (f" · enhancements: {', '.join(opened.enhancements)}" if opened.enhancements else ""))
    st.html(PAGE_CSS + f"<div class='screenplay' data-testid='screenplay-page'>{page_html}</div>")
    if st.button("Enhance with the plot (new version)", key="enhance"):
        with st.spinner("Enhancing…"):
            if enhanced := run(scripts.enhance_with_plot, account.id, opened.id, engine=engine):
                st.session_state.open_version = enhanced.version
                st.rerun()

with edit_tab:
    conflict = st.session_state.get("conflict")
    text_key = f"fountain_edit_{opened.id}"
    editor, preview = st.columns(2)
    with editor:
        text = st.text_area("Fountain", value=opened.fountain, height=640, key=text_key)
        if st.button("Save as a new version", type="primary", key="save_script"):
            st.session_state.pop("conflict", None)
            saved = run(scripts.save_edit, account.id, chapter.id, text, based_on_version=opened.version,
                        style=opened.style)
            if saved:
                st.session_state.pop(text_key, None)
                st.session_state.open_version = saved.version
                st.toast(f"Saved as version {saved.version}.")
                st.rerun()
    with preview:
        try:
            preview_html, preview_pages = scripts.preview(text)
            st.caption(f"Preview · about {preview_pages:.1f} pages")
            st.html(PAGE_CSS + f"<div class='screenplay'>{preview_html}</div>")
        except PlotStudioError as error:
            ui.show_error(error)
    if conflict is not None:
        st.warning(f"Version {conflict.current_version} is the newest now. Your text is still in the editor; "
                   "open the newest version to compare, or save again from it.")


CONTEXT_WORDS = 25  # unchanged text around a change; longer stretches are shortened so 20 pages stay readable


def shortened(text: str, first: bool, last: bool) -> str:
    words = text.split(" ")
    if len(words) <= 2 * CONTEXT_WORDS + 5:
        return text
    head = [] if first else words[:CONTEXT_WORDS]
    tail = [] if last else words[-CONTEXT_WORDS:]
    return " ".join(head) + " … " + " ".join(tail)


def segments_html(segments, scene) -> str:
    if not segments:  # added, removed or moved unchanged: the whole scene
        return html.escape(scripts.align.body(scene).strip()) if scene else ""
    out = []
    for index, segment in enumerate(segments):
        if segment.kind == "same":
            out.append(html.escape(shortened(segment.text, index == 0, index == len(segments) - 1)))
        else:
            tag = "del" if segment.kind == "removed" else "ins"
            out.append(f"<{tag}>{html.escape(segment.text)}</{tag}>")
    return " ".join(out)


with compare_tab:
    if len(versions) < 2:
        st.info("Only one version so far: edit and save, or generate again, to compare.")
    else:
        c1, c2 = st.columns(2)
        numbers = list(by_number)
        left_version = by_number[c1.selectbox("Left", numbers, index=1, format_func=lambda n: describe(by_number[n]),
                                              key=f"compare_left_{chapter.id}")]
        right_version = by_number[c2.selectbox("Right", numbers, index=0, format_func=lambda n: describe(by_number[n]),
                                               key=f"compare_right_{chapter.id}")]
        result = run(scripts.compare_versions, account.id, left_version.id, right_version.id)
        if result:
            counts = result.counts()
            st.caption(" · ".join(f"{n} {status}" for status, n in counts.items()))
            names = sorted(set(result.left.dialogue_lines) | set(result.right.dialogue_lines))
            st.dataframe([{"": "scenes", f"v{left_version.version}": result.left.scenes,
                           f"v{right_version.version}": result.right.scenes},
                          {"": "pages", f"v{left_version.version}": result.left.pages,
                           f"v{right_version.version}": result.right.pages},
                          {"": "speaking characters", f"v{left_version.version}": result.left.speaking_characters,
                           f"v{right_version.version}": result.right.speaking_characters},
                          *({"": f"lines: {name}", f"v{left_version.version}": result.left.dialogue_lines.get(name, 0),
                             f"v{right_version.version}": result.right.dialogue_lines.get(name, 0)} for name in names)],
                         hide_index=True)
            only_changes = st.toggle("Only changed scenes", value=False, key="compare_only_changes")
            rows = []
            for row in result.rows:
                if only_changes and row.status == "same":
                    continue
                left_scene, right_scene = row.left, row.right
                tag = f"<span class='tag'>{row.status}</span>"
                left_cell = (f"<div class='heading'>{html.escape(left_scene.heading)}{tag}</div>"
                             + ("" if row.status == "same" else segments_html(row.left_segments, left_scene))
                             if left_scene else "")
                right_cell = (f"<div class='heading'>{html.escape(right_scene.heading)}{tag}</div>"
                              + ("" if row.status == "same" else segments_html(row.right_segments, right_scene))
                              if right_scene else "")
                rows.append(f"<tr class='{row.status}'><td class='{'' if left_scene else 'empty'}'>{left_cell}</td>"
                            f"<td class='{'' if right_scene else 'empty'}'>{right_cell}</td></tr>")
            st.html(PAGE_CSS + "<table class='compare' data-testid='compare-table'><tr><th>v"
                    f"{left_version.version}</th><th>v{right_version.version}</th></tr>{''.join(rows)}</table>")

with export_tab:
    st.caption("This version, in the formats screenwriting software reads.")
    cols = st.columns(3)
    for col, (fmt, label) in zip(cols, (("fountain", "Fountain"), ("fdx", "Final Draft (FDX)"), ("pdf", "PDF"))):
        name = f"{book.title}-ch{chapter.number}-v{opened.version}"
        col.download_button(f"Download {label}", data=lambda fmt=fmt: scripts.export_version(account.id, opened.id, fmt)[1],
                            file_name=scripts.export.filename(name, fmt), mime=scripts.export.FORMATS[fmt][0],
                            key=f"download_{fmt}", on_click="ignore")
    st.caption("The whole book: every chapter's newest version, in order, after a title page.")
    cols = st.columns(3)
    for col, (fmt, label) in zip(cols, (("fountain", "Fountain"), ("fdx", "Final Draft (FDX)"), ("pdf", "PDF"))):
        col.download_button(f"Whole book: {label}", data=lambda fmt=fmt: scripts.export_book(account.id, book.id, fmt)[1],
                            file_name=scripts.export.filename(f"{book.title}-screenplay", fmt),
                            mime=scripts.export.FORMATS[fmt][0], key=f"download_book_{fmt}", on_click="ignore")
