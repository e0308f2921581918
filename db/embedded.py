"""The embedded PostgreSQL 16 + pgvector (pgserver) that runs when no DATABASE_URL is set."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psutil

DATABASE_NAME = "plotstudio"


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop pids of processes that died without saying goodbye (SIGKILL).

    pgserver stops the server when its last handle closes; a killed process
    never closes its handle, and the server would then run forever.
    """
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text() or "[]")
    except json.JSONDecodeError:
        pids = []
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def start_embedded_server(data_dir: Path) -> str:
    """Start (or join) the embedded server in `data_dir` and return its superuser URL.

    Every process of the app (pages, CLI, workers, tests) that points at the same
    data directory shares one server; the last one to exit stops it.
    """
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    # pgserver keeps its lock file and, for long paths, its socket in the runtime dir;
    # root has no XDG_RUNTIME_DIR, so give it one inside our data directory.
    runtime = data_dir / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    runtime.chmod(0o700)  # platformdirs ignores a runtime dir others can read
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))

    import fasteners
    import pgserver  # imported late: it reads XDG_RUNTIME_DIR at import time

    pgdata = data_dir / "pg"
    with fasteners.InterProcessLock(str(data_dir / "run" / "handles.lock")):
        if pgdata.exists():
            _forget_dead_handles(pgdata)
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        if "(1 row)" not in server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';"):
            server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    uri = server.get_uri()  # postgresql://postgres:@/postgres?host=<socket dir>
    return uri.replace("/postgres?", f"/{DATABASE_NAME}?", 1)
