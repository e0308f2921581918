"""Durable jobs through a real worker process, progress and cancel; the CLI as a writer's script would use it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import text

from core import jobs
from core.services import maintenance
from db.engine import act_as, app_engine, unit_of_work
from support import REPO, make_writer, run_cli, wait_until

pytestmark = pytest.mark.committed


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


def test_a_queued_job_cancelled_before_any_worker_runs_never_runs(database):
    writer = make_writer()
    _expired_cache(writer.id, 10)
    job_id = maintenance.start_cache_purge(writer.id)
    jobs.cancel(writer.id, job_id)
    job = jobs.get_job(writer.id, job_id)
    assert job.status == "cancelled" and _cache_rows(writer.id) == 10


@pytest.fixture(scope="module")
def worker(database):
    """A real `python -m core worker` process sharing the test database."""
    before = jobs.live_workers()
    process = subprocess.Popen([sys.executable, "-m", "core", "worker", "--name", "test-worker"], cwd=REPO,
                               env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: jobs.live_workers() > before or process.poll() is not None, seconds=60,
               message="the worker's heartbeat")
        assert process.poll() is None, process.stdout.read()
        yield process
    finally:
        process.terminate()
        process.wait(20)


def test_job_runs_in_the_worker_as_its_writer_with_progress(worker):
    writer, other = make_writer(), make_writer()
    _expired_cache(writer.id, 1200, fresh=5)
    _expired_cache(other.id, 7)
    job_id = maintenance.start_cache_purge(writer.id, batch_size=100)
    job = wait_until(lambda: (j := jobs.get_job(writer.id, job_id)).status in ("succeeded", "failed") and j,
                 message="the purge job")
    assert job.status == "succeeded", job.error
    assert job.result == {"deleted": 1200}
    assert (job.progress_done, job.progress_total) == (1200, 1200)
    assert _cache_rows(writer.id) == 5
    assert _cache_rows(other.id) == 7  # RLS held in the worker: another writer's rows were not touched


def test_a_running_job_can_be_cancelled_and_keeps_nothing(worker):
    writer = make_writer()
    _expired_cache(writer.id, 1000)
    with app_engine().connect() as blocker:
        # Hold the last row so the job stalls, mid-way, on its final batch.
        blocker.begin()
        act_as(blocker, writer.id)
        blocker.execute(text("SELECT 1 FROM cache_entries WHERE key = 'k001000' FOR UPDATE"))
        job_id = maintenance.start_cache_purge(writer.id, batch_size=100)
        running = wait_until(lambda: (j := jobs.get_job(writer.id, job_id)).progress_done >= 900 and j,
                         message="the job to reach its last batch")
        assert running.status == "running"
        jobs.cancel(writer.id, job_id)
        blocker.rollback()
    job = wait_until(lambda: (j := jobs.get_job(writer.id, job_id)).status not in ("queued", "running") and j,
                 message="the job to stop")
    assert job.status == "cancelled"
    assert _cache_rows(writer.id) == 1000  # the whole purge was rolled back


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
    assert "subject to RLS" in result.stdout and "1 live worker" in result.stdout or "live worker(s)" in result.stdout
