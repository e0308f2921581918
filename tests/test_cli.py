"""First run and the CLI: every command on a fresh data directory, and with bad arguments, ends in a
sentence, never a traceback; an external database that is not migrated is told how to migrate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from support import CORPUS, REPO

pytestmark = pytest.mark.committed
PASSWORD = "a long enough password\n"
GHOST = "ghost@example.com"
BOOK = str(uuid.uuid4())


def cli(*args: str, data_dir: Path | None = None, stdin: str = "", timeout: float = 300,
        **env: str) -> subprocess.CompletedProcess:
    """`python -m core ARGS` in its own process, on its own data directory when given one."""
    environment = os.environ.copy()
    for key in ("DATABASE_URL", "APP_DATABASE_URL", "PLOTSTUDIO_TEST_RUN"):
        environment.pop(key, None)
    if data_dir is not None:
        environment["PLOTSTUDIO_DATA_DIR"] = str(data_dir)
    environment.update(env)
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, env=environment, input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def assert_no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def assert_one_sentence_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert_no_traceback(result)
    assert result.returncode != 0, result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") or ": error: " in last, result.stderr
    for fragment in fragments:
        assert fragment in last, result.stderr


# Each command first, on a data directory nobody has used: it must migrate the embedded database itself.
FIRST_COMMANDS = {
    "user create": (["user", "create", "first@example.com", "--password-stdin"], 0, None),
    "db upgrade": (["db", "upgrade"], 0, None),
    "ingest": (["ingest", str(CORPUS / "frankenstein.txt"), "--user", GHOST], 2, f"No account for {GHOST}"),
    "search": (["search", BOOK, "the creature", "--user", GHOST], 2, f"No account for {GHOST}"),
    "reindex": (["reindex", BOOK, "--user", GHOST], 2, f"No account for {GHOST}"),
    "purge-cache": (["purge-cache", "--user", GHOST], 2, f"No account for {GHOST}"),
    "plot": (["plot", BOOK, "--user", GHOST], 2, f"No account for {GHOST}"),
    "characters": (["characters", BOOK, "--user", GHOST], 2, f"No account for {GHOST}"),
    "portrait": (["portrait", BOOK, "--user", GHOST], 2, f"No account for {GHOST}"),
    "script": (["script", BOOK, "--all", "--user", GHOST], 2, f"No account for {GHOST}"),
    "script-import": (["script-import", BOOK, "--chapter", "1", str(CORPUS / "brick_and_steel.fountain"),
                       "--user", GHOST], 2, f"No account for {GHOST}"),
    "export": (["export", BOOK, "--format", "pdf", "--out", "/dev/null", "--user", GHOST], 2,
               f"No account for {GHOST}"),
    "doctor": (["doctor"], None, None),
}


@pytest.mark.parametrize("name", FIRST_COMMANDS)
def test_each_command_on_a_fresh_data_directory(name, tmp_path):
    args, exit_code, message = FIRST_COMMANDS[name]
    result = cli(*args, data_dir=tmp_path / "data", stdin=PASSWORD)
    assert_no_traceback(result)
    if exit_code == 0:
        assert result.returncode == 0, result.stderr
        json.loads(result.stdout.strip().splitlines()[-1])
    elif exit_code is None:  # doctor: its verdict depends on the machine, its migrations line must be ok
        assert "ok   migrations" in result.stdout, result.stdout
    else:
        assert_one_sentence_error(result, message)


def test_two_commands_starting_together_on_a_fresh_data_directory_migrate_once(tmp_path):
    environment = os.environ.copy()
    environment.pop("PLOTSTUDIO_TEST_RUN", None)
    environment["PLOTSTUDIO_DATA_DIR"] = str(tmp_path / "data")
    processes = [subprocess.Popen([sys.executable, "-m", "core", "user", "create", f"twin{n}@example.com",
                                   "--password-stdin"], cwd=REPO, env=environment, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in (1, 2)]
    results = [process.communicate(PASSWORD, timeout=300) for process in processes]
    for process, (stdout, stderr) in zip(processes, results):
        assert process.returncode == 0 and "Traceback" not in stderr, stderr
    emails = sorted(json.loads(stdout.strip().splitlines()[-1])["email"] for stdout, _ in results)
    assert emails == ["twin1@example.com", "twin2@example.com"]


def test_the_worker_starts_on_a_fresh_data_directory(tmp_path):
    environment = os.environ.copy()
    environment.pop("PLOTSTUDIO_TEST_RUN", None)
    environment["PLOTSTUDIO_DATA_DIR"] = str(tmp_path / "data")
    log = tmp_path / "worker.log"
    with open(log, "w") as sink:
        worker = subprocess.Popen([sys.executable, "-m", "core", "worker"], cwd=REPO, env=environment,
                                  stdout=sink, stderr=subprocess.STDOUT, text=True)
    try:
        probe = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and worker.poll() is None:
            probe = cli("doctor", data_dir=tmp_path / "data")
            if "1 live worker" in probe.stdout:
                break
            time.sleep(1)
        assert worker.poll() is None, log.read_text()
        assert probe is not None and "1 live worker" in probe.stdout, probe.stdout if probe else log.read_text()
    finally:
        worker.terminate()
        worker.wait(30)
    assert "Traceback" not in log.read_text()


BAD_ARGUMENTS = {
    "no command": ([], "the following arguments are required"),
    "unknown command": (["fly"], "invalid choice"),
    "book id that is no id": (["search", "book-7", "a query", "--user", GHOST], "is not a book id"),
    "k of zero": (["search", BOOK, "a query", "--user", GHOST, "-k", "0"], "at least 1"),
    "worker of no concurrency": (["worker", "--concurrency", "none"], "at least 1"),
    "missing file": (["ingest", "/nowhere/book.epub", "--preview"], "No file at /nowhere/book.epub"),
    "ingest without a writer": (["ingest", str(CORPUS / "frankenstein.txt")], "--user EMAIL"),
    "db sideways": (["db", "sideways"], "invalid choice"),
    "unknown tier": (["user", "create", "x@example.com", "--tier", "GOLD"], "invalid choice"),
}


@pytest.fixture(scope="module")
def shared_data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli") / "data"


@pytest.mark.parametrize("name", BAD_ARGUMENTS)
def test_bad_arguments_get_a_sentence_not_a_traceback(name, shared_data_dir):
    args, message = BAD_ARGUMENTS[name]
    assert_one_sentence_error(cli(*args, data_dir=shared_data_dir), message)


def test_a_bad_email_and_a_short_password_are_refused_in_a_sentence(shared_data_dir):
    assert_one_sentence_error(cli("user", "create", "not-an-email", "--password-stdin", stdin=PASSWORD,
                                  data_dir=shared_data_dir), "email")
    assert_one_sentence_error(cli("user", "create", "short@example.com", "--password-stdin", stdin="short\n",
                                  data_dir=shared_data_dir), "password")


def test_an_external_database_that_is_not_migrated_is_told_how(database, tmp_path):
    name = f"unmigrated_{uuid.uuid4().hex[:8]}"
    admin = create_engine(database, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        url = make_url(database).set(database=name)
        owner = {"DATABASE_URL": url.render_as_string(hide_password=False), "APP_DB_PASSWORD": "a-real-password"}
        # A web process may hold only the app role's URL: that database is external too, never an embedded one.
        app_only = {"APP_DATABASE_URL": url.set(username="plotstudio_app").render_as_string(hide_password=False)}
        for environment in (owner, app_only):
            for args in (["user", "create", "x@example.com", "--password-stdin"], ["search", BOOK, "q", "--user", GHOST]):
                result = cli(*args, stdin=PASSWORD, data_dir=tmp_path / "unused", **environment)
                assert_one_sentence_error(result, "not migrated", "run `python -m core db upgrade`")
        assert not (tmp_path / "unused" / "pg").exists()  # no embedded server was started instead
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
        admin.dispose()
