"""Durable jobs through real worker processes: progress, cancel, a killed worker's job recovered, one book's
jobs never at once, a queue that tells nothing; the CLI as a writer's script would use it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select, text

from core import jobs, tasks
from core.services import library, maintenance
from db.engine import act_as, app_engine, owner_engine, unit_of_work
from db.models import Book, BookSource, Chapter, Chunk, Job
from support import CORPUS, REPO, make_writer, prose, run_cli, wait_until

pytestmark = pytest.mark.committed

# Short heartbeats so a killed worker is found dead in seconds, not the production half-minute.
FAST_RECOVERY = {"JOB_HEARTBEAT_SECONDS": "1", "JOB_STALLED_SECONDS": "10"}
SMALL_BOOK = "\n\n".join(f"CHAPTER {numeral}\n\n" + "\n\n".join(prose(seed * 10 + p, 90) for p in range(4))
                         for seed, numeral in enumerate(["I", "II", "III"], start=1)).encode()


def _newest_worker_id() -> int:
    with app_engine().connect() as conn:
        return conn.execute(text("SELECT coalesce(max(id), 0) FROM queue.procrastinate_workers")).scalar_one()


@contextmanager
def spawned_worker(name: str, **settings: str):
    """A real `python -m core worker` process sharing the test database, registered before this returns."""
    before = _newest_worker_id()
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen([sys.executable, "-m", "core", "worker", "--name", name], cwd=REPO,
                                   env={**os.environ, **FAST_RECOVERY, **settings}, stdout=output,
                                   stderr=subprocess.STDOUT, text=True)
        try:
            wait_until(lambda: _newest_worker_id() > before or process.poll() is not None,
                       message=f"worker {name} to register")
            assert process.poll() is None, output.seek(0) or output.read()
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture
def worker(database):
    with spawned_worker("test-worker") as process:
        yield process


def _expired_cache(user_id: uuid.UUID, count: int, *, fresh: int = 0) -> None:
    with unit_of_work(user_id) as session:
        session.execute(text(
            "INSERT INTO cache_entries (user_id, key, value, expires_at) "
            "SELECT :u, 'k' || lpad(g::text, 6, '0'), '{}', now() - interval '1 hour' FROM generate_series(1, :n) g"),
            {"u": user_id, "n": count})
        session.execute(text(
            "INSERT INTO cache_entries (user_id, key, value, expires_at) "
            "SELECT :u, 'fresh' || g, '{}', now() + interval '1 hour' FROM generate_series(1, :n) g"),
            {"u": user_id, "n": fresh})


def _cache_rows(user_id: uuid.UUID) -> int:
    with unit_of_work(user_id) as session:
        return session.execute(text("SELECT count(*) FROM cache_entries")).scalar()


def _ended(user_id: uuid.UUID, job_id: uuid.UUID, *, seconds: float = 120) -> Job:
    return wait_until(lambda: (j := jobs.get_job(user_id, job_id)).status not in jobs.ACTIVE and j,
                      seconds=seconds, message=f"job {job_id} to end")


def _leftovers(user_id: uuid.UUID, book_id: uuid.UUID) -> dict[str, int]:
    with unit_of_work(user_id) as session:
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model).where(column == book_id))
                for model, column in ((Book, Book.id), (BookSource, BookSource.book_id),
                                      (Chapter, Chapter.book_id), (Chunk, Chunk.book_id))}


@contextmanager
def row_locked(user_id: uuid.UUID, sql: str, **params):
    """Hold a row lock as the writer (so a job that needs the row waits), released on exit."""
    with app_engine().connect() as blocker:
        blocker.begin()
        act_as(blocker, user_id)
        blocker.execute(text(sql), params)
        try:
            yield
        finally:
            blocker.rollback()


# Kinds in one place, deferring without services ---------------------------------------------------------

def test_every_kind_resolves_and_deferring_imports_no_service(database):
    assert all(callable(tasks.work_for(kind)) for kind in tasks.KINDS)
    writer = make_writer()
    with pytest.raises(LookupError, match="no_such_kind"):
        jobs.submit(writer.id, "no_such_kind")
    script = ("import sys, uuid; from core import jobs; "
              f"job = jobs.submit(uuid.UUID('{writer.id}'), 'purge_cache', {{'batch_size': 10}}); "
              f"jobs.cancel(uuid.UUID('{writer.id}'), job); "
              "print(sorted(m for m in sys.modules if m.startswith('core.services') or m == 'core.ingest'))")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=os.environ.copy(), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert [j.status for j in jobs.list_jobs(writer.id)] == ["cancelled"]


# The queue carries a job id only ---------------------------------------------------------------------------

def test_the_queue_payload_is_the_job_id_and_nothing_else(database):
    writer = make_writer()
    job_id = library.start_ingest(writer.id, "my-unpublished-novel.txt", SMALL_BOOK, title="A Private Title")
    job = jobs.get_job(writer.id, job_id)
    with owner_engine().connect() as conn:
        queued = conn.execute(text("SELECT task_name, args, lock, queueing_lock FROM queue.procrastinate_jobs "
                                   "WHERE id = :id"), {"id": job.queue_job_id}).one()
    jobs.cancel(writer.id, job_id)
    assert queued.args == {"job_id": str(job_id)}
    assert queued.task_name == "plotstudio:ingest_book"
    assert queued.lock.startswith("book:") and str(job.book_id) not in queued.lock and queued.queueing_lock is None


# Cancel ------------------------------------------------------------------------------------------------------

def test_a_queued_job_cancelled_before_any_worker_runs_never_runs(database):
    writer = make_writer()
    _expired_cache(writer.id, 10)
    job_id = maintenance.start_cache_purge(writer.id)
    jobs.cancel(writer.id, job_id)
    job = jobs.get_job(writer.id, job_id)
    assert job.status == "cancelled" and _cache_rows(writer.id) == 10


def test_a_queued_upload_cancelled_or_deleted_leaves_nothing(database):
    writer = make_writer()
    cancelled = library.start_ingest(writer.id, "first.txt", SMALL_BOOK)
    deleted = library.start_ingest(writer.id, "second.txt", SMALL_BOOK)
    first, second = (jobs.get_job(writer.id, j).book_id for j in (cancelled, deleted))
    jobs.cancel(writer.id, cancelled)
    library.delete_book(writer.id, second)  # a book in any state can be deleted: its job is cancelled
    assert [jobs.get_job(writer.id, j).status for j in (cancelled, deleted)] == ["cancelled", "cancelled"]
    assert _leftovers(writer.id, first) == _leftovers(writer.id, second) == \
        {"books": 0, "book_sources": 0, "chapters": 0, "chunks": 0}
    assert library.recent_failures(writer.id) == []  # cancelled, not failed


def test_job_runs_in_the_worker_as_its_writer_with_progress(worker):
    writer, other = make_writer(), make_writer()
    _expired_cache(writer.id, 1200, fresh=5)
    _expired_cache(other.id, 7)
    job_id = maintenance.start_cache_purge(writer.id, batch_size=100)
    job = _ended(writer.id, job_id)
    assert job.status == "succeeded", job.error
    assert job.result == {"deleted": 1200} and job.attempts == 1
    assert (job.progress_done, job.progress_total) == (1200, 1200)
    assert _cache_rows(writer.id) == 5
    assert _cache_rows(other.id) == 7  # RLS held in the worker: another writer's rows were not touched


def test_a_running_job_can_be_cancelled_and_keeps_nothing(worker):
    writer = make_writer()
    _expired_cache(writer.id, 1000)
    # Hold the last row so the job stalls, mid-way, on its final batch.
    with row_locked(writer.id, "SELECT 1 FROM cache_entries WHERE key = 'k001000' FOR UPDATE"):
        job_id = maintenance.start_cache_purge(writer.id, batch_size=100)
        running = wait_until(lambda: (j := jobs.get_job(writer.id, job_id)).progress_done >= 900 and j,
                             message="the job to reach its last batch")
        assert running.status == "running"
        jobs.cancel(writer.id, job_id)
    job = _ended(writer.id, job_id)
    assert job.status == "cancelled"
    assert _cache_rows(writer.id) == 1000  # the whole purge was rolled back


def test_an_upload_cancelled_in_the_worker_says_cancelled_and_leaves_nothing(worker):
    writer = make_writer()
    job_id = library.start_ingest(writer.id, "frankenstein.txt", (CORPUS / "frankenstein.txt").read_bytes())
    book_id = jobs.get_job(writer.id, job_id).book_id
    embedding = wait_until(lambda: (j := jobs.get_job(writer.id, job_id)).progress_done > 0 and j,
                           seconds=180, message="the first batch of passages to be embedded")
    assert embedding.status == "running" and embedding.progress_done < embedding.progress_total
    jobs.cancel(writer.id, job_id)
    job = _ended(writer.id, job_id)
    assert (job.status, job.error) == ("cancelled", None)
    assert job.message.startswith("Cancelled")
    assert _leftovers(writer.id, book_id) == {"books": 0, "book_sources": 0, "chapters": 0, "chunks": 0}
    assert library.recent_failures(writer.id) == [] and library.list_books(writer.id) == []


# A worker that dies --------------------------------------------------------------------------------------------

def _upload_stuck_in_a_killed_worker(writer) -> tuple[uuid.UUID, uuid.UUID]:
    """Start an upload in a worker, kill -9 that worker mid-job; returns the job and its book."""
    job_id = library.start_ingest(writer.id, "small.txt", SMALL_BOOK)
    book_id = jobs.get_job(writer.id, job_id).book_id
    with spawned_worker("victim") as victim:
        # The book row held: the ingest cannot finish before the kill, wherever it is.
        with row_locked(writer.id, "SELECT 1 FROM books WHERE id = :b FOR UPDATE", b=book_id):
            wait_until(lambda: jobs.get_job(writer.id, job_id).status == "running", message="the victim to start")
            victim.send_signal(signal.SIGKILL)
            victim.wait(20)
    job, book = jobs.get_job(writer.id, job_id), library.get_book(writer.id, book_id)
    assert (job.status, job.attempts, book.status) == ("running", 1, "processing")  # orphaned, for now
    return job_id, book_id


def test_a_job_whose_worker_was_killed_runs_again_and_finishes(database):
    writer = make_writer()
    job_id, book_id = _upload_stuck_in_a_killed_worker(writer)
    with spawned_worker("rescuer"):
        job = _ended(writer.id, job_id)
    assert (job.status, job.attempts) == ("succeeded", 2), job.error
    book = library.get_book(writer.id, book_id)
    assert book.status == "ready"
    assert [c.number for c in library.list_chapters(writer.id, book_id)] == [1, 2, 3]  # once, not twice
    assert library.chunk_count(writer.id, book_id) == job.result["chunks"] > 0


def test_a_job_whose_workers_keep_dying_fails_with_retry_and_retry_works(database):
    writer = make_writer()
    job_id, book_id = _upload_stuck_in_a_killed_worker(writer)
    with spawned_worker("rescuer", JOB_MAX_ATTEMPTS="1"):
        job = _ended(writer.id, job_id)
        assert (job.status, job.attempts) == ("failed", 1)
        assert "stopped 1 times" in job.error and "Retry" in job.error
        book = library.get_book(writer.id, book_id)
        assert (book.status, book.error) == ("failed", job.error)  # never "processing" for ever
        retry = library.retry_ingest(writer.id, book_id)
        assert _ended(writer.id, retry).status == "succeeded"
    assert library.get_book(writer.id, book_id).status == "ready"


def test_an_ingest_whose_command_was_killed_fails_with_retry_instead_of_running_for_ever(database):
    writer = make_writer()
    novel = CORPUS / "frankenstein.txt"  # long enough to be mid-embedding when the command is killed
    command = subprocess.Popen([sys.executable, "-m", "core", "ingest", str(novel), "--user", writer.email],
                               cwd=REPO, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        running = wait_until(lambda: [j for j in jobs.list_jobs(writer.id) if j.status == "running"],
                             seconds=120, message="the command's job to start")[0]
    finally:
        command.send_signal(signal.SIGKILL)
        command.wait(20)
    assert jobs.get_job(writer.id, running.id).status == "running"  # nobody told the row
    # The Library's poll finds the run gone (as soon as the server has closed the dead command's sessions).
    wait_until(lambda: library.active_book_jobs(writer.id) == [], message="the abandoned run to be settled")
    job, book = jobs.get_job(writer.id, running.id), library.get_book(writer.id, running.book_id)
    assert (job.status, book.status) == ("failed", "failed") and "Retry" in book.error


# One book, one job at a time -------------------------------------------------------------------------------

def _book_row(writer) -> uuid.UUID:
    with unit_of_work(writer.id) as session:
        book = Book(user_id=writer.id, title="Locks", status="ready")
        session.add(book)
        session.flush()
        return book.id


def test_two_workers_never_run_one_books_jobs_at_once(database):
    writer, bystander = make_writer(), make_writer()
    book_id = _book_row(writer)
    _expired_cache(writer.id, 1000)
    with spawned_worker("one"), spawned_worker("two"):
        with row_locked(writer.id, "SELECT 1 FROM cache_entries WHERE key = 'k001000' FOR UPDATE"):
            first = jobs.submit(writer.id, maintenance.PURGE_CACHE, {"batch_size": 100}, book_id=book_id)
            # Started and counting, then held by the locked row (which batch meets it is the planner's choice).
            wait_until(lambda: (j := jobs.get_job(writer.id, first)).status == "running" and j.progress_total == 1000,
                       message="the first job to start and stall")
            second = jobs.submit(writer.id, maintenance.PURGE_CACHE, {"batch_size": 100}, book_id=book_id)
            # The idle worker takes a later job on no book, so it has looked at (and passed over) the second.
            assert _ended(bystander.id, maintenance.start_cache_purge(bystander.id)).status == "succeeded"
            assert jobs.get_job(writer.id, second).status == "queued"
        done_first, done_second = _ended(writer.id, first), _ended(writer.id, second)
    assert (done_first.status, done_second.status) == ("succeeded", "succeeded")
    assert (done_first.result, done_second.result) == ({"deleted": 1000}, {"deleted": 0})
    assert done_second.started_at >= done_first.finished_at


def test_a_second_delivery_of_a_running_job_waits_and_does_not_run_it_again(database):
    writer = make_writer()
    job_id = jobs.submit(writer.id, maintenance.PURGE_CACHE, {}, queue=False)
    entered, release, calls = threading.Event(), threading.Event(), []

    def work(user_id, progress):
        calls.append(user_id)
        entered.set()
        release.wait(60)
        return {"ran": len(calls)}

    results = {}
    first = threading.Thread(target=lambda: results.setdefault("first", jobs.run_job(job_id, writer.id, work)))
    second = threading.Thread(target=lambda: results.setdefault("second", jobs.run_job(job_id, writer.id, work)))
    first.start()
    assert entered.wait(60)
    second.start()
    with owner_engine().connect() as conn:
        wait_until(lambda: conn.execute(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).scalar(),
            message="the second delivery to wait for the first")
    release.set()
    first.join(60)
    second.join(60)
    assert results == {"first": {"ran": 1}, "second": None} and len(calls) == 1
    job = jobs.get_job(writer.id, job_id)
    assert (job.status, job.attempts) == ("succeeded", 1)


# The command line ---------------------------------------------------------------------------------------------

def test_cli_user_create_generates_a_password_and_prints_json(database):
    email = f"cli-{uuid.uuid4().hex[:6]}@example.com"
    result = run_cli("user", "create", email, "--tier", "PROFESSIONAL")
    created = json.loads(result.stdout.strip().splitlines()[-1])
    assert created["email"] == email and created["tier"] == "PROFESSIONAL" and len(created["password"]) >= 15
    assert created["password"] not in result.stderr  # shown once, in the JSON line
    refused = run_cli("user", "create", email, "--password-stdin", stdin="whatever123 long\n", check=False)
    assert refused.returncode != 0 and "cannot be used for a new account" in refused.stderr


def test_cli_runs_a_job_as_the_named_user(worker):
    email = f"cli-{uuid.uuid4().hex[:6]}@example.com"
    run_cli("user", "create", email, "--password-stdin", stdin="a long enough password\n")
    result = run_cli("purge-cache", "--user", email, "--wait")
    assert json.loads(result.stdout.strip().splitlines()[-1])["deleted"] == 0
    assert "[succeeded]" in result.stderr
    unknown = run_cli("purge-cache", "--user", "ghost@example.com", check=False)
    assert unknown.returncode != 0 and "No account for ghost@example.com" in unknown.stderr


def test_doctor_is_all_green(worker):
    result = run_cli("doctor")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ok"] is True
    names = {check["name"] for check in report["checks"]}
    assert {"postgres", "pgvector", "row-level security", "migrations", "job queue", "llm", "embeddings",
            "portraits"} <= names
    assert "subject to RLS" in result.stdout
    live = re.search(r"(\d+) live worker", result.stdout)
    assert live and int(live.group(1)) >= 1, result.stdout  # the worker this test started is seen
