"""Housekeeping jobs a writer (or cron, through the CLI) can run."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from core import jobs
from db.engine import unit_of_work

PURGE_CACHE = "purge_cache"


def purge_expired_cache(user_id: uuid.UUID, progress: jobs.Progress, *, batch_size: int = 500) -> dict:
    """Delete the writer's expired cache rows in batches, in one transaction (a cancel keeps them all)."""
    with unit_of_work(user_id) as session:
        total = session.execute(text("SELECT count(*) FROM cache_entries WHERE expires_at <= now()")).scalar_one()
        progress(0, total, f"{total} expired cache entries to delete")
        deleted = 0
        while deleted < total:
            batch = session.execute(text(
                "DELETE FROM cache_entries WHERE (user_id, key) IN ("
                " SELECT user_id, key FROM cache_entries WHERE expires_at <= now()"
                " ORDER BY key LIMIT :n FOR UPDATE) "), {"n": batch_size}).rowcount
            if batch == 0:
                break
            deleted += batch
            progress(deleted, total, f"Deleted {deleted} of {total} expired cache entries")
    return {"deleted": deleted}


def start_cache_purge(user_id: uuid.UUID, *, batch_size: int = 500) -> uuid.UUID:
    """Queue a purge of the writer's expired cache entries; returns the job to poll."""
    return jobs.submit(user_id, PURGE_CACHE, {"batch_size": batch_size})
