"""Isolation: writer B presents writer A's ids to every writer table, every service function and every CLI
command that takes one. The answer is always "not found" (or nothing), never A's data, never a write.
The number of (table or function, operation) pairs tried is printed.

Everything here commits (the CLI runs in other processes), with unique writers, so nothing collides.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import inspect
import json
import uuid
from dataclasses import dataclass, field

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from core import jobs
from core.errors import PlotStudioError
from core.services import accounts, library
from db.engine import act_as, app_url
from security.conftest import record
from support import make_writer, prose

pytestmark = pytest.mark.committed

SERVICE_MODULES = ("core.services.library", "core.services.plot", "core.services.characters",
                   "core.services.scripts", "core.services.maintenance", "core.services.accounts",
                   "core.retrieval", "core.jobs")
BOOK = "\n\n".join(f"CHAPTER {numeral}\n\n" + "\n\n".join(prose(seed * 10 + p, 90) for p in range(4))
                   for seed, numeral in enumerate(["I", "II", "III"], start=1))
PAIRS: list[tuple[str, str]] = []


@dataclass
class Writers:
    a: accounts.Account
    b: accounts.Account
    ids: dict[str, object] = field(default_factory=dict)  # A's ids, by the parameter names that take them


def _engine():
    return create_engine(app_url(), poolclass=NullPool)


def _ingest(writer) -> uuid.UUID:
    job_id = library.start_ingest(writer.id, "isolation.txt", BOOK.encode(), title="Private Book", queue=False)
    jobs.run_job(str(job_id), str(writer.id), library.ingest_book, jobs.get_job(writer.id, job_id).params)
    job = jobs.get_job(writer.id, job_id)
    assert job.status == "succeeded", job.error
    return job.book_id


# A row for A in every table the services do not fill on their own (minimal columns; the rest default).
SEEDS = {
    "cache_entries": "INSERT INTO cache_entries (user_id, key, value, expires_at) "
                     "VALUES (:a, 'k', '{}', now() + interval '1 day')",
    "plot_overviews": "INSERT INTO plot_overviews (book_id, user_id, logline) VALUES (:book, :a, 'A secret logline') "
                      "RETURNING id",
    "characters": "INSERT INTO characters (book_id, user_id, name) VALUES (:book, :a, 'Secret Heroine') "
                  "RETURNING character_key",
    "portraits": "INSERT INTO portraits (character_key, book_id, user_id, image_path, provider) "
                 "VALUES (:character_key, :book, :a, 'x.png', 'local') RETURNING id",
    "chapter_scripts": "INSERT INTO chapter_scripts (chapter_id, book_id, user_id, fountain) "
                       "VALUES (:chapter, :book, :a, 'INT. SECRET - DAY') RETURNING id",
    "usage_logs": "INSERT INTO usage_logs (user_id, action, book_id, tier) VALUES (:a, 'plot', :book, 'FREE')",
    "generation_analytics": "INSERT INTO generation_analytics (user_id, book_id, artefact, engine, tier, success) "
                            "VALUES (:a, :book, 'plot', 'offline', 'FREE', true)",
}


@pytest.fixture(scope="module")
def writers(database, stub_embeddings) -> Writers:
    a, b = make_writer("isolation-a"), make_writer("isolation-b")
    book_id = _ingest(a)
    _ingest(b)  # B has a library of its own: B's calls run for real, just never on A's rows
    chapter = library.list_chapters(a.id, book_id)[0]
    accounts.start_session(a)
    ids = {"book": book_id, "chapter": chapter.id, "a": a.id}
    with _engine().begin() as conn:
        act_as(conn, a.id)
        for table, sql in SEEDS.items():
            result = conn.execute(text(sql), ids)
            value = result.scalar() if "RETURNING" in sql else None
            if table == "characters":
                ids["character_key"] = value
            elif table in ("plot_overviews", "portraits", "chapter_scripts"):
                ids[table] = value
    job_id = jobs.list_jobs(a.id)[0].id
    return Writers(a, b, {
        "book_id": book_id, "chapter_id": chapter.id, "job_id": job_id, "character_key": ids["character_key"],
        "keep_key": ids["character_key"], "absorb_key": ids["character_key"], "portrait_id": ids["portraits"],
        "script_id": ids["chapter_scripts"], "left_id": ids["chapter_scripts"], "right_id": ids["chapter_scripts"],
        "chapter_ids": [chapter.id], "plot_overview_id": ids["plot_overviews"]})


def _snapshot(writer) -> dict[str, str]:
    """A digest of every row A can see, table by table (users without the unreadable hash)."""
    with _engine().begin() as conn:
        act_as(conn, writer.id)
        digest = {}
        for table in _writer_tables(conn):
            row = "(t.id, t.email, t.display_name, t.is_admin, t.tier)" if table == "users" else "t"
            digest[table] = conn.execute(text(
                f"SELECT count(*) || ':' || coalesce(md5(string_agg({row}::text, '|' ORDER BY {row}::text)), '') "
                f"FROM {table} t")).scalar()
        return digest


def _writer_tables(conn) -> list[str]:
    return ["users"] + list(conn.execute(text(
        "SELECT c.table_name FROM information_schema.columns c JOIN pg_class k ON k.relname = c.table_name "
        "WHERE c.table_schema = 'public' AND c.column_name = 'user_id' AND k.relrowsecurity "
        "ORDER BY c.table_name")).scalars())


def _columns(conn, table: str) -> dict[str, str]:
    """Writable columns and their types (no identity or generated columns)."""
    return dict(conn.execute(text(
        "SELECT column_name, udt_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name = :t AND is_identity = 'NO' AND is_generated = 'NEVER'"), {"t": table}).all())


def _primary_key(conn, table: str) -> list[str]:
    return list(conn.execute(text(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = CAST(:t AS regclass) AND i.indisprimary ORDER BY a.attnum"), {"t": table}).scalars())


def _refused(conn, sql: str, params: dict) -> bool:
    savepoint = conn.begin_nested()
    try:
        conn.execute(text(sql), params)
    except DBAPIError:
        savepoint.rollback()
        return True
    savepoint.rollback()
    return False


def test_writer_b_reaches_none_of_writer_as_rows_in_any_table(writers):
    a, b, book = writers.a, writers.b, writers.ids["book_id"]
    before = _snapshot(a)
    failures = []
    with _engine().connect() as conn:
        transaction = conn.begin()
        tables = _writer_tables(conn)
        for table in tables:
            owner = "id" if table == "users" else "user_id"
            key = _primary_key(conn, table)
            act_as(conn, a.id)
            columns = _columns(conn, table)
            readable = ", ".join(dict.fromkeys([*key, *(c for c in columns if c != "password_hash")]))
            rows = conn.execute(text(f"SELECT {', '.join(key)}, to_jsonb(r) AS body FROM "
                                     f"(SELECT {readable} FROM {table} WHERE {owner} = :a LIMIT 2) r"),
                                {"a": a.id}).all() if key else []
            act_as(conn, b.id)
            PAIRS.append((table, "select by owner"))
            if conn.execute(text(f"SELECT count(*) FROM {table} WHERE {owner} = :a"), {"a": a.id}).scalar():
                failures.append(f"{table}: B sees A's rows")
            for row in rows:
                where = " AND ".join(f"{column} = :k{n}" for n, column in enumerate(key))
                keys = {f"k{n}": row[n] for n in range(len(key))}
                touch = "display_name" if table == "users" else "user_id"  # a column the app role may update
                for operation, sql in (("select by id", f"SELECT count(*) FROM {table} WHERE {where}"),
                                       ("update by id", f"UPDATE {table} SET {touch} = {touch} WHERE {where}"),
                                       ("delete by id", f"DELETE FROM {table} WHERE {where}")):
                    PAIRS.append((table, operation))
                    savepoint = conn.begin_nested()
                    result = conn.execute(text(sql), keys)
                    touched = result.scalar() if operation == "select by id" else result.rowcount
                    savepoint.rollback()
                    if touched:
                        failures.append(f"{table}: B's {operation} reached A's row")
            body = dict(rows[0].body) if rows else {}
            for operation, changes in (("insert in A's name", {owner: str(a.id)}),
                                       ("insert pointing at A's book", {"user_id": str(b.id), "book_id": str(book)})):
                if operation.endswith("book") and ("book_id" not in columns or not rows):
                    continue
                PAIRS.append((table, operation))
                values = _fresh_copy(body or {"email": f"planted-{uuid.uuid4().hex[:6]}@example.com"}, columns, changes)
                names = ", ".join(values)
                planted = f"INSERT INTO {table} ({names}) SELECT {names} FROM jsonb_populate_record(NULL::{table}, :row)"
                if not _refused(conn, planted, {"row": json.dumps(values, default=str)}):
                    failures.append(f"{table}: B's {operation} was stored")
        transaction.rollback()
    assert failures == []
    assert _snapshot(a) == before
    record("isolation", f"{len(tables)} writer tables, {len(PAIRS)} (table, operation) pairs tried: none reached A")


def _fresh_copy(body: dict, columns: dict[str, str], changes: dict) -> dict:
    """A's row with new keys (so only ownership can refuse it), then `changes` applied."""
    values = {name: value for name, value in body.items() if name in columns}
    for name, kind in columns.items():
        if name in ("id", "character_key") and kind == "uuid":
            values[name] = str(uuid.uuid4())
        elif name in ("token_hash", "key", "idempotency_key", "content_sha256"):
            values[name] = uuid.uuid4().hex
    return {**values, **changes}


# --- service functions -------------------------------------------------------------------------------

DUMMIES = {
    "progress": lambda *args, **kwargs: None, "title": "Stolen", "new_title": "Stolen", "author": "X",
    "kind": "chapter", "at_paragraph": 1, "version": 1, "before": 1, "after": 2, "version_a": 1, "version_b": 2,
    "based_on_version": 1, "base_version": 1, "values": {}, "fields": {"name": "Planted"}, "changes": {},
    "alias": "x", "prompt": "x", "engine": "offline", "style": "cinematic", "fmt": "fountain", "data": b"INT. X - DAY",
    "filename": "x.fountain", "fountain": "INT. X - DAY", "number": 1, "query": "the rain fell", "k": 3,
    "queue": False, "chapter_numbers": [1], "params": {}, "request_id": "isolation", "run_key": "isolation",
}


def _service_functions():
    for module_name in SERVICE_MODULES:
        module = importlib.import_module(module_name)
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ != module_name or name.startswith("_"):
                continue
            parameters = list(inspect.signature(function).parameters.values())
            if parameters and parameters[0].name == "user_id" and any(
                    p.name.endswith(("_id", "_ids", "_key")) for p in parameters[1:]):
                yield f"{module_name.rsplit('.', 1)[-1]}.{name}", function, parameters[1:]


OVERRIDES = {"jobs.submit": {"kind": "ingest_book"}}
# Public helpers that take rows already loaded as the writer (not ids from outside): nothing to present.
INTERNAL = {"scripts.related_passages"}


def _arguments(parameters, ids, overrides: dict | None = None) -> tuple[list, dict]:
    args, kwargs = [], {}
    job_body = any(parameter.name == "progress" for parameter in parameters)  # a job's params come as JSON
    for parameter in parameters:
        if parameter.name in ids:
            value = ids[parameter.name]
            if job_body:
                value = [str(v) for v in value] if isinstance(value, list) else str(value)
        elif parameter.name in (overrides or {}):
            value = overrides[parameter.name]
        elif parameter.name in DUMMIES:
            value = DUMMIES[parameter.name]
        elif parameter.default is not inspect.Parameter.empty:
            continue
        else:
            raise AssertionError(f"no value for parameter {parameter.name!r}: add it to DUMMIES (or to A's ids)")
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = value
        else:
            args.append(value)
    return args, kwargs


def test_every_service_function_given_as_ids_answers_not_found(writers):
    before = _snapshot(writers.a)
    outcomes, failures = {"not found": 0, "refused by the database": 0, "nothing": 0}, []
    tried = 0
    for name, function, parameters in _service_functions():
        if name in INTERNAL:
            continue
        args, kwargs = _arguments(parameters, writers.ids, OVERRIDES.get(name))
        tried += 1
        PAIRS.append((name, "call with A's ids"))
        try:
            result = function(writers.b.id, *args, **kwargs)
        except PlotStudioError:
            outcomes["not found"] += 1
            continue
        except DBAPIError as error:  # a composite foreign key: the write B tried was never stored
            if "foreign key" not in str(error.orig):
                failures.append(f"{name}: {type(error.orig).__name__}")
            outcomes["refused by the database"] += 1
            continue
        if result in (None, 0, False) or (hasattr(result, "__len__") and len(result) == 0):
            outcomes["nothing"] += 1
        else:
            failures.append(f"{name} returned {result!r:.120}")
    assert failures == []
    assert _snapshot(writers.a) == before
    assert tried >= 40
    record("isolation", f"{tried} service functions called by B with A's ids: {outcomes}")


# --- CLI commands ------------------------------------------------------------------------------------

def _cli_calls(writers, tmp_path) -> dict[str, list[str]]:
    book, b = str(writers.ids["book_id"]), writers.b.email
    fountain = tmp_path / "x.fountain"
    fountain.write_text("INT. HOUSE - DAY\n\nSomeone enters.\n")
    return {
        "reindex": ["reindex", book, "--user", b],
        "search": ["search", book, "the rain fell", "--user", b],
        "plot": ["plot", book, "--engine", "offline", "--user", b],
        "characters": ["characters", book, "--engine", "offline", "--user", b],
        "script": ["script", book, "--chapter", "1", "--engine", "offline", "--user", b],
        "script-import": ["script-import", book, "--chapter", "1", str(fountain), "--user", b],
        "export": ["export", book, "--format", "fountain", "--out", str(tmp_path / "out.fountain"), "--user", b],
    }


def _run_cli_here(arguments: list[str]) -> tuple[int, str, str]:
    """`python -m core ARGS` through its own main(), in this process (a process each took 9 s of imports)."""
    from core.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(arguments)
    return code, out.getvalue(), err.getvalue()


def test_every_cli_command_given_as_book_answers_not_found_or_nothing(writers, tmp_path):
    from core.__main__ import parser

    subcommands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    taking_a_book = {name for name, command in subcommands.items()
                     if any(action.dest in ("book", "chapter_id", "job") for action in command._actions)}
    calls = _cli_calls(writers, tmp_path)
    assert taking_a_book <= set(calls), f"add these commands to the isolation test: {taking_a_book - set(calls)}"
    before = _snapshot(writers.a)
    for name, arguments in calls.items():
        PAIRS.append((f"cli {name}", "run with A's book"))
        code, out, err = _run_cli_here(arguments)
        if code == 0:  # an answer, but an empty one (search finds nothing in a book it cannot see)
            assert json.loads(out.strip().splitlines()[-1]) in ([], {}), (name, out)
        else:
            assert "does not exist" in err and "Traceback" not in err, (name, err)
    assert _snapshot(writers.a) == before
    record("isolation", f"{len(calls)} CLI commands run by B with A's book: 'does not exist' or an empty answer")
    record("isolation", f"total: {len(PAIRS)} (table or function, operation) pairs tried")
