"""Durable jobs on procrastinate: every long action runs here, under the identity of the writer who asked.

The queue carries a job id and nothing else (every writer's session can read the queue); a worker learns
the writer from `app_job_owner` and the work and its parameters from the RLS-protected `jobs` row. Job
kinds live in `core.tasks`, which only workers and the CLI resolve. Jobs are at-least-once: a job whose
worker died is found through the workers' heartbeats and run again, up to JOB_MAX_ATTEMPTS runs; a run
holds a lock on its book (or itself) for as long as it works, so one book's jobs never run at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

import procrastinate
import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from core.config import get_settings
from core.errors import JobCancelledError, PlotStudioError
from db.engine import app_engine, app_url, libpq_conninfo, unit_of_work
from db.models import Book, Job
from db.repositories import get_visible

log = logging.getLogger(__name__)
QUEUE_SCHEMA = "queue"
TASK_PREFIX = "plotstudio:"
ACTIVE = ("queued", "running")
UNEXPECTED = ("Something went wrong on our side. Try again; if it keeps failing, `python -m core doctor` "
              "tells what is wrong.")
ABANDONED = "The command running this stopped before it finished. Press Retry to try again."
GAVE_UP = ("The worker running this stopped {attempts} times before it finished (it was stopped or ran out "
           "of memory). Press Retry to try again.")


def _conninfo() -> str:
    return make_conninfo(libpq_conninfo(app_url()), options=f"-c search_path={QUEUE_SCHEMA}")


def make_queue() -> procrastinate.App:
    """A procrastinate app for workers: one task per kind in core.tasks, each given only a job id."""
    from core import tasks

    queue = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=_conninfo()))
    for kind in tasks.KINDS:
        tasks.work_for(kind)  # a kind that does not resolve stops the worker now, not at its first job
        queue.task(name=TASK_PREFIX + kind)(_task_for(kind))
    return queue


def _task_for(kind: str) -> Callable[[str], None]:
    def run(job_id: str) -> None:
        run_queued_job(job_id, kind)
    run.__name__ = run.__qualname__ = f"run_{kind}"
    return run


@lru_cache(maxsize=1)
def _deferring_queue() -> procrastinate.App:
    """The process's queue for deferring and cancelling: it knows no tasks, so it imports no service."""
    queue = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=_conninfo()))
    return queue.open()


def _book_lock(book_id: uuid.UUID | None) -> str | None:
    # Every writer's session can read the queue: name the book by a digest, never by its id.
    return f"book:{hashlib.sha256(str(book_id).encode()).hexdigest()[:32]}" if book_id else None


class Progress:
    """What a running job reports: n of total and a sentence; raises when the writer cancelled."""

    def __init__(self, job_id: uuid.UUID, user_id: uuid.UUID,
                 echo: Callable[[int, int, str], None] | None = None):
        self.job_id, self.user_id, self._echo = job_id, user_id, echo

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if self._echo:
            self._echo(done, total, message)
        with unit_of_work(self.user_id) as session:
            cancelled = session.execute(
                update(Job).where(Job.id == self.job_id)
                .values(progress_done=done, progress_total=total, message=message)
                .returning(Job.cancel_requested)).scalar()
        if cancelled:
            raise JobCancelledError("Cancelled: nothing from this job was kept.")


def _end(session: Session, job: Job, status: str, **values: Any) -> None:
    """Close a job row; a book it was still making goes with it (cancelled) or shows Retry (failed)."""
    job.status, job.finished_at = status, datetime.now(timezone.utc)
    for name, value in values.items():
        setattr(job, name, value)
    if job.book_id is None or status == "succeeded":
        return
    unfinished = (Book.id == job.book_id) & (Book.status == "processing")
    if status == "cancelled":
        session.execute(delete(Book).where(unfinished))
    else:
        session.execute(update(Book).where(unfinished).values(status="failed", error=job.error or job.message))


def _finish(job_id: uuid.UUID, user_id: uuid.UUID, status: str, **values: Any) -> None:
    with unit_of_work(user_id) as session:
        _end(session, session.get(Job, job_id, with_for_update=True), status, **values)


def _run_lock(job_id: uuid.UUID, book_id: uuid.UUID | None) -> str:
    return f"plotstudio-job:book:{book_id}" if book_id else f"plotstudio-job:job:{job_id}"


def _lock_session() -> psycopg.Connection:
    """A connection of its own for a run's lock: session locks die with it, so with a killed process too."""
    return psycopg.connect(libpq_conninfo(app_url()), autocommit=True)


def _try_lock(session: psycopg.Connection, key: str) -> bool:
    return session.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)).fetchone()[0]


@contextmanager
def _exclusive(key: str, echo: Callable[[int, int, str], None] | None) -> Iterator[None]:
    """Hold the run lock `key` while a run works. A second run of the same job (at-least-once delivery)
    or another job on the same book waits here."""
    with _lock_session() as session:
        if not _try_lock(session, key):
            if echo:
                echo(0, 0, "Waiting for another job on this book to finish…")
            session.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (key,))
        yield  # closing the connection releases the lock


def _claim(job_id: uuid.UUID, user_id: uuid.UUID, kind: str | None) -> Job | None:
    """Mark the job running for this run (its lock is held); None when there is nothing to run."""
    with unit_of_work(user_id) as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None or job.status not in ACTIVE:
            return None
        if kind and job.kind != kind:
            log.error("queue entry for %s names kind %s, its row says %s: not run", job_id, kind, job.kind)
            return None
        if job.cancel_requested:
            _end(session, job, "cancelled", message="Cancelled before it started.")
            return None
        # Running, yet its lock was free: the run before this one died with its worker.
        died = job.status == "running"
        if died and job.attempts >= get_settings().job_max_attempts:
            _end(session, job, "failed", error=GAVE_UP.format(attempts=job.attempts), message="Stopped.")
            return None
        job.status, job.started_at, job.error = "running", datetime.now(timezone.utc), None
        job.attempts += 1
        if died:
            job.message = "Started again: the worker running it had stopped."
        return job


def run_job(job_id: uuid.UUID | str, user_id: uuid.UUID | str, work: Callable[..., dict | None] | None = None,
            params: dict | None = None, *, kind: str | None = None,
            echo: Callable[[int, int, str], None] | None = None) -> dict | None:
    """Run a job row as its writer: `work(user_id, progress, **params)`, by default its kind's function
    (core.tasks) with the row's params. Safe to call again: a job runs once at a time and never after it ended."""
    job_uuid, user_uuid = uuid.UUID(str(job_id)), uuid.UUID(str(user_id))
    with unit_of_work(user_uuid) as session:
        book_id = session.scalar(select(Job.book_id).where(Job.id == job_uuid))
    with _exclusive(_run_lock(job_uuid, book_id), echo):
        job = _claim(job_uuid, user_uuid, kind)
        if job is None:
            return None
        if work is None:
            from core import tasks
            work = tasks.work_for(job.kind)
        progress = Progress(job_uuid, user_uuid, echo)
        try:
            result = work(user_uuid, progress, **(job.params if params is None else params))
        except JobCancelledError as exc:
            _finish(job_uuid, user_uuid, "cancelled", message=str(exc))
            return None
        except PlotStudioError as exc:
            _finish(job_uuid, user_uuid, "failed", error=str(exc), message=str(exc))
            return None
        except Exception:
            log.exception("job %s (%s) failed", job_uuid, job.kind)
            _finish(job_uuid, user_uuid, "failed", message="Failed unexpectedly.", error=UNEXPECTED)
            raise
        _finish(job_uuid, user_uuid, "succeeded", result=result or {}, message="Done.")
        return result


def run_queued_job(job_id: str, kind: str) -> None:
    """What a worker does with a queue entry: its writer from the database, then the job as that writer."""
    job_uuid = uuid.UUID(job_id)
    with unit_of_work(None) as session:
        owner = session.execute(text("SELECT app_job_owner(:job)"), {"job": job_uuid}).scalar()
    if owner is None:  # ended, cancelled or deleted since it was queued
        return
    run_job(job_uuid, owner, kind=kind)


def submit(user_id: uuid.UUID, kind: str, params: dict | None = None, *,
           book_id: uuid.UUID | None = None, queue: bool = True) -> uuid.UUID:
    """Record a job for the writer and queue its id (unless the caller runs it); returns the job's id."""
    from core import tasks

    if kind not in tasks.KINDS:
        raise LookupError(f"No job kind {kind!r} in core.tasks.KINDS.")
    with unit_of_work(user_id) as session:
        job = Job(user_id=user_id, kind=kind, book_id=book_id, params=params or {}, message="Waiting for a worker…")
        session.add(job)
        session.flush()
        job_id = job.id
    if not queue:
        return job_id
    # `lock`: a book's jobs run one after another, however many workers there are.
    queue_job_id = _deferring_queue().configure_task(TASK_PREFIX + kind, lock=_book_lock(book_id)).defer(
        job_id=str(job_id))
    with unit_of_work(user_id) as session:
        session.execute(update(Job).where(Job.id == job_id).values(queue_job_id=queue_job_id))
    return job_id


def _job(session, job_id: uuid.UUID) -> Job:
    return get_visible(session, Job, job_id, what="job")


def get_job(user_id: uuid.UUID, job_id: uuid.UUID) -> Job:
    with unit_of_work(user_id) as session:
        return _job(session, job_id)


def list_jobs(user_id: uuid.UUID, *, book_id: uuid.UUID | None = None, limit: int = 20) -> list[Job]:
    with unit_of_work(user_id) as session:
        query = select(Job).order_by(Job.created_at.desc()).limit(limit)
        if book_id:
            query = query.where(Job.book_id == book_id)
        return list(session.scalars(query))


def cancel(user_id: uuid.UUID, job_id: uuid.UUID) -> None:
    """Ask a job to stop: a queued job never starts, a running one stops at its next progress report.

    Nothing a cancelled job made is kept; a book it was still making (an upload) is removed.
    """
    with unit_of_work(user_id) as session:
        job = _job(session, job_id)
        if job.status not in ACTIVE:
            return
        job.cancel_requested = True
        queue_job_id = job.queue_job_id
    if queue_job_id is not None and _deferring_queue().job_manager.cancel_job_by_id(queue_job_id):
        # It was still waiting in the queue, so no run will ever see it: end it here.
        with unit_of_work(user_id) as session:
            job = session.get(Job, job_id, with_for_update=True)
            if job.status == "queued":
                _end(session, job, "cancelled", message="Cancelled before it started.")


def cancel_book_jobs(user_id: uuid.UUID, book_id: uuid.UUID) -> None:
    """Cancel every queued or running job on the book (before deleting it)."""
    with unit_of_work(user_id) as session:
        job_ids = list(session.scalars(select(Job.id).where(Job.book_id == book_id, Job.status.in_(ACTIVE))))
    for job_id in job_ids:
        cancel(user_id, job_id)


def settle_abandoned_runs(user_id: uuid.UUID) -> int:
    """Fail the writer's jobs left running by a command that died (a killed `python -m core ingest`).

    Queued jobs are the workers' to recover (recover_stalled_jobs); one run in a command's own process has
    no queue entry, so nothing else would ever end it. A live run holds its lock: a free one means it died.
    """
    with unit_of_work(user_id) as session:
        running = session.execute(select(Job.id, Job.book_id).where(
            Job.status == "running", Job.queue_job_id.is_(None))).all()
    settled = 0
    for job_id, book_id in running:
        with _lock_session() as lock:
            if not _try_lock(lock, _run_lock(job_id, book_id)):
                continue  # still at work
            with unit_of_work(user_id) as session:
                job = session.get(Job, job_id, with_for_update=True)
                if job.status == "running":
                    _end(session, job, "failed", error=ABANDONED, message="Stopped.")
                    settled += 1
    return settled


async def recover_stalled_jobs(queue: procrastinate.App) -> int:
    """Put back in the queue the jobs of workers whose heartbeat stopped; returns how many.

    The next run finds its row still `running` and decides: run it again, or give up after
    JOB_MAX_ATTEMPTS runs (failed, so the writer sees Retry).
    """
    manager = queue.job_manager
    recovered = 0
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=get_settings().job_stalled_seconds):
        try:
            await manager.retry_job(job)
            recovered += 1
        except Exception:  # another worker put it back first
            log.debug("stalled job %s already recovered", job.id, exc_info=True)
    if recovered:
        log.warning("put %d job(s) of stopped workers back in the queue", recovered)
    return recovered


async def _recover_stalled_forever(queue: procrastinate.App) -> None:
    while True:
        try:
            await recover_stalled_jobs(queue)
        except Exception:
            log.exception("could not look for stalled jobs")
        await asyncio.sleep(get_settings().job_heartbeat_seconds)


async def _work_forever(name: str, concurrency: int, stop: asyncio.Event | None) -> None:
    settings = get_settings()
    queue = make_queue()
    async with queue.open_async():
        worker = asyncio.create_task(queue.run_worker_async(
            name=name, concurrency=concurrency, install_signal_handlers=stop is None,
            fetch_job_polling_interval=1.0, abort_job_polling_interval=1.0,
            update_heartbeat_interval=settings.job_heartbeat_seconds,
            # A starting worker deletes the rows of dead workers; a merely slow worker that lost its row
            # could never fetch again, so only rows long past the stall threshold go.
            stalled_worker_timeout=settings.job_stalled_seconds * 10))
        recovery = asyncio.create_task(_recover_stalled_forever(queue))
        try:
            if stop is None:
                await worker
                return
            await stop.wait()
            worker.cancel()
            try:
                await worker
            except asyncio.CancelledError:
                pass
        finally:
            recovery.cancel()


def run_worker(name: str = "worker", concurrency: int = 1) -> None:
    """A worker in the foreground (`python -m core worker`); Ctrl-C stops it gracefully."""
    asyncio.run(_work_forever(name, concurrency, None))


class BackgroundWorker:
    """One worker on its own thread and event loop, so the app's pages never wait on it."""

    def __init__(self, name: str = "in-process") -> None:
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"plotstudio-{name}", daemon=True, args=(name,))
        self._thread.start()
        self._ready.wait(10)

    def _run(self, name: str) -> None:
        asyncio.set_event_loop(self._loop)
        self._stop = asyncio.Event()
        self._ready.set()
        self._loop.run_until_complete(_work_forever(name, 1, self._stop))

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


def live_workers() -> int:
    """Workers that sent a heartbeat recently (any machine sharing this database)."""
    with app_engine().connect() as conn:
        return conn.execute(text(
            f"SELECT count(*) FROM {QUEUE_SCHEMA}.procrastinate_workers "
            "WHERE last_heartbeat > now() - make_interval(secs => :stalled)"),
            {"stalled": get_settings().job_stalled_seconds}).scalar_one()
