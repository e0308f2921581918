"""The job queue is outside RLS: it must tell no writer anything about another, and the worker must take
nothing from it but a job id (issue 8, finding 5)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from core import jobs
from core.services import library, maintenance
from db.engine import act_as, app_engine, unit_of_work
from support import make_writer, prose

BOOK = "\n\n".join(f"CHAPTER {n}\n\n" + "\n\n".join(prose(n * 10 + p, 90) for p in range(4)) for n in (1, 2, 3))
QUEUE_TABLES = ("procrastinate_jobs", "procrastinate_events", "procrastinate_workers", "procrastinate_periodic_defers")


@pytest.mark.committed
def test_another_writers_session_learns_nothing_from_the_queue(database):
    writer_a, writer_b = make_writer("a"), make_writer("b")
    job_id = library.start_ingest(writer_a.id, "the-heist-draft.txt", BOOK.encode(), title="Heist Of The Century")
    book_id = jobs.get_job(writer_a.id, job_id).book_id
    try:
        with app_engine().connect() as conn, conn.begin():
            act_as(conn, writer_b.id)
            seen = " ".join(row for table in QUEUE_TABLES for row in
                            conn.execute(text(f"SELECT row_to_json(t)::text FROM queue.{table} t")).scalars())
            a_job_rows = conn.execute(text("SELECT count(*) FROM jobs WHERE id = :id"), {"id": job_id}).scalar()
        assert str(job_id) in seen  # the entry is there, and says only which job
        for secret in (str(writer_a.id), str(book_id), "Heist Of The Century", "the-heist-draft"):
            assert secret not in seen
        assert a_job_rows == 0  # and the job id leads to a row RLS hides
    finally:
        jobs.cancel(writer_a.id, job_id)


def _cache_rows(user_id) -> int:
    with unit_of_work(user_id) as session:
        return session.execute(text("SELECT count(*) FROM cache_entries")).scalar()


def test_the_worker_takes_the_writer_and_the_work_from_the_row_not_the_queue(writer_a):
    with unit_of_work(writer_a.id) as session:
        session.execute(text("INSERT INTO cache_entries (user_id, key, value, expires_at) "
                             "SELECT :u, 'k' || g, '{}', now() - interval '1 hour' FROM generate_series(1, 5) g"),
                        {"u": writer_a.id})
    job_id = jobs.submit(writer_a.id, maintenance.PURGE_CACHE, {"batch_size": 2}, queue=False)
    # A queue entry naming another kind than its row (forged, or stale) runs nothing.
    jobs.run_queued_job(str(job_id), "ingest_book")
    assert (jobs.get_job(writer_a.id, job_id).status, _cache_rows(writer_a.id)) == ("queued", 5)
    # The real entry: the worker finds the writer by itself (the payload names none) and runs as them.
    jobs.run_queued_job(str(job_id), maintenance.PURGE_CACHE)
    job = jobs.get_job(writer_a.id, job_id)
    assert (job.status, job.result, _cache_rows(writer_a.id)) == ("succeeded", {"deleted": 5}, 0)


def test_the_owner_function_answers_only_for_jobs_still_to_run(writer_a):
    job_id = jobs.submit(writer_a.id, maintenance.PURGE_CACHE, {}, queue=False)
    owner = "SELECT app_job_owner(:job)"
    with unit_of_work(None) as session:
        assert session.execute(text(owner), {"job": job_id}).scalar() == writer_a.id
    jobs.run_job(job_id, writer_a.id, lambda user_id, progress: {})
    with unit_of_work(None) as session:
        assert session.execute(text(owner), {"job": job_id}).scalar() is None  # done: nothing left to learn
