"""The offline engine: artefacts from the book alone (its text, index and NLP), labelled "offline draft"."""

from __future__ import annotations

from core.engines import EngineResult, PlotRequest, ScriptRequest
from core.generation import Usage

LABEL = "offline draft"


class OfflineEngine:
    name = "offline"

    def plot_overview(self, request: PlotRequest) -> EngineResult:
        from core.engines.offline.plot import plot_overview
        request.progress(0, 1, "Reading the whole book (offline engine)…")
        cited, chunk_ids = plot_overview(request.book, request.instructions)
        request.progress(1, 1, "Offline draft written.")
        return EngineResult(cited, Usage(tier=request.tier.value), chunk_ids, "offline_plot_rules", "1")

    def chapter_script(self, request: ScriptRequest) -> EngineResult:
        from core.engines.offline.script import chapter_script_result
        return chapter_script_result(request)

    def enhance_script(self, request: ScriptRequest) -> EngineResult:
        from core.engines.offline.script import enhance_result
        return enhance_result(request)
