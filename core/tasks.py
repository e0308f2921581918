"""Every kind of job, in one place: the kind's name and the service function a worker runs for it.

Adding a kind is one line in KINDS: `"kind_name": "core.services.module:function",`. The function is
`work(user_id, progress, **params) -> dict | None`; it runs as the writer who asked (RLS applies), calls
`progress(done, total, message)` now and then (that is also where a cancel stops it), and must be safe to
run twice: jobs are at-least-once, and a job whose worker died is run again.

A service starts one with `core.jobs.submit(user_id, "kind_name", params, book_id=...)`, which needs only
the name: deferring never imports this module's targets. Only whoever runs jobs (a worker, the CLI) resolves
them, so there is no registration by import side effect and no import cycle with `core.jobs`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache

KINDS: dict[str, str] = {
    "ingest_book": "core.services.library:ingest_book",
    "reindex_book": "core.services.library:reindex_book",
    "purge_cache": "core.services.maintenance:purge_expired_cache",
    "generate_scripts": "core.services.scripts:generate_scripts",
    "plot_overview": "core.services.plot:generate_plot_overview",
    "character_board": "core.services.characters:generate_character_board",
}


@cache
def work_for(kind: str) -> Callable[..., dict | None]:
    """The service function that runs jobs of this kind."""
    try:
        module, _, function = KINDS[kind].partition(":")
    except KeyError:
        raise LookupError(f"No job kind {kind!r} in core.tasks.KINDS.") from None
    return getattr(importlib.import_module(module), function)
