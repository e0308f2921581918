"""Durable jobs on procrastinate: every long action runs here, under the identity of the writer who asked."""

from __future__ import annotations

import asyncio
import logging
import threading
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

import procrastinate
from procrastinate.exceptions import JobAborted
from psycopg.conninfo import make_conninfo
from sqlalchemy import select, text, update

from core.errors import JobCancelledError, PlotStudioError
from db.engine import app_engine, app_url, libpq_conninfo, unit_of_work
from db.models import Job
from db.repositories import get_visible

log = logging.getLogger(__name__)
QUEUE_SCHEMA = "queue"
tasks = procrastinate.Blueprint()


def _conninfo() -> str:
    return make_conninfo(libpq_conninfo(app_url()), options=f"-c search_path={QUEUE_SCHEMA}")


def make_queue() -> procrastinate.App:
    """A procrastinate app on our database, as the app role, with our tasks."""
    queue = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=_conninfo()))
    queue.add_tasks_from(tasks, namespace="plotstudio")
    return queue


@lru_cache(maxsize=1)
def _deferring_queue() -> procrastinate.App:
    """The process's queue for deferring and cancelling (synchronous, opened once)."""
    _register_all()
    return make_queue().open()


class Progress:
    """What a running job reports: n of total and a sentence; raises when the writer cancelled."""

    def __init__(self, job_id: uuid.UUID, user_id: uuid.UUID, should_abort: Callable[[], bool] = lambda: False,
                 echo: Callable[[int, int, str], None] | None = None):
        self.job_id, self.user_id, self._should_abort, self._echo = job_id, user_id, should_abort, echo

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if self._echo:
            self._echo(done, total, message)
        with unit_of_work(self.user_id) as session:
            cancelled = session.execute(
                update(Job).where(Job.id == self.job_id)
                .values(progress_done=done, progress_total=total, message=message)
                .returning(Job.cancel_requested)).scalar()
        if cancelled or self._should_abort():
            raise JobCancelledError("Cancelled: nothing from this job was kept.")


def _finish(job_id: uuid.UUID, user_id: uuid.UUID, **values: Any) -> None:
    with unit_of_work(user_id) as session:
        session.execute(update(Job).where(Job.id == job_id)
                        .values(finished_at=datetime.now(timezone.utc), **values))


def run_job(job_id: str, user_id: str, work: Callable[..., dict | None], params: dict,
            should_abort: Callable[[], bool] = lambda: False,
            echo: Callable[[int, int, str], None] | None = None) -> dict | None:
    """Run `work(user_id, progress, **params)` for a job row; safe to call again after a crash."""
    job_uuid, user_uuid = uuid.UUID(job_id), uuid.UUID(user_id)
    with unit_of_work(user_uuid) as session:
        job = session.get(Job, job_uuid)
        if job is None or job.status in ("succeeded", "cancelled"):
            return job.result if job else None
        if job.cancel_requested:
            job.status, job.message, job.finished_at = "cancelled", "Cancelled before it started.", datetime.now(timezone.utc)
            return None
        job.status, job.started_at, job.error = "running", datetime.now(timezone.utc), None
    progress = Progress(job_uuid, user_uuid, should_abort, echo)
    try:
        result = work(user_uuid, progress, **params)
    except JobCancelledError as exc:
        _finish(job_uuid, user_uuid, status="cancelled", message=str(exc))
        raise JobAborted() from exc
    except PlotStudioError as exc:
        _finish(job_uuid, user_uuid, status="failed", error=str(exc), message=str(exc))
        return None
    except Exception as exc:
        log.error("job %s failed:\n%s", job_id, traceback.format_exc())
        _finish(job_uuid, user_uuid, status="failed", message="Failed unexpectedly.",
                error=f"Something went wrong on our side ({type(exc).__name__}: {exc}). Try again; "
                      "if it keeps failing, `python -m core doctor` tells what is wrong.")
        raise
    _finish(job_uuid, user_uuid, status="succeeded", result=result or {}, message="Done.")
    return result


def _task_for(work: Callable[..., dict | None]) -> Callable:
    def task(context: procrastinate.JobContext, job_id: str, user_id: str, params: dict) -> None:
        run_job(job_id, user_id, work, params, should_abort=context.should_abort)
    return task


def register(kind: str, work: Callable[..., dict | None]) -> None:
    """Make `work(user_id, progress, **params)` runnable as a durable job of this kind."""
    tasks.task(name=kind, pass_context=True)(_task_for(work))


def submit(user_id: uuid.UUID, kind: str, params: dict | None = None, *,
           book_id: uuid.UUID | None = None, queue: bool = True) -> uuid.UUID:
    """Record a job for the writer and put it on the queue (unless the caller runs it); returns its id."""
    params = params or {}
    with unit_of_work(user_id) as session:
        job = Job(user_id=user_id, kind=kind, book_id=book_id, params=params, message="Waiting for a worker…")
        session.add(job)
        session.flush()
        job_id = job.id
    if not queue:
        return job_id
    queue_job_id = _deferring_queue().configure_task(f"plotstudio:{kind}").defer(
        job_id=str(job_id), user_id=str(user_id), params=params)
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
    """Ask a job to stop: a queued job never starts, a running one stops at its next progress report."""
    with unit_of_work(user_id) as session:
        job = _job(session, job_id)
        if job.status not in ("queued", "running"):
            return
        job.cancel_requested = True
        queue_job_id = job.queue_job_id
    if queue_job_id is not None:
        manager = _deferring_queue().job_manager
        if manager.cancel_job_by_id(queue_job_id):  # still queued: it will never run
            _finish(job_id, user_id, status="cancelled", message="Cancelled before it started.")
        else:
            manager.cancel_job_by_id(queue_job_id, abort=True)


async def _work_forever(name: str, concurrency: int, stop: asyncio.Event | None) -> None:
    queue = make_queue()
    async with queue.open_async():
        worker = asyncio.create_task(queue.run_worker_async(
            name=name, concurrency=concurrency, install_signal_handlers=stop is None,
            fetch_job_polling_interval=1.0, abort_job_polling_interval=1.0))
        if stop is None:
            await worker
            return
        await stop.wait()
        worker.cancel()
        try:
            await worker
        except asyncio.CancelledError:
            pass


def run_worker(name: str = "worker", concurrency: int = 1) -> None:
    """A worker in the foreground (`python -m core worker`); Ctrl-C stops it gracefully."""
    _register_all()
    asyncio.run(_work_forever(name, concurrency, None))


class BackgroundWorker:
    """One worker on its own thread and event loop, so the app's pages never wait on it."""

    def __init__(self, name: str = "in-process") -> None:
        _register_all()
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
            "WHERE last_heartbeat > now() - interval '30 seconds'")).scalar_one()


def _register_all() -> None:
    """Import the modules that register job kinds (they call `register` at import)."""
    from core.services import library, maintenance  # noqa: F401
