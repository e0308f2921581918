"""Jobs: the worker reads its job's owner from the jobs row, not from the queue payload (issues 7 and 8).

- The queue (procrastinate's tables, outside RLS) carries a job id and nothing else. The app role must
  keep SELECT on `queue.procrastinate_jobs.args`: procrastinate's own fetch function returns the whole
  row to the worker, which runs as that role. So the args are made worthless instead: a job id leads
  only to a `jobs` row, which RLS hides from every other writer. Upgrade scrubs the args already queued
  (the old payload held the writer's id, book id, title and file name).
- A worker learns whose job it holds from `app_job_owner(job_id)`: a SECURITY DEFINER function pinned to
  `pg_catalog, public, pg_temp`, answering only for jobs still queued or running, executable by the app
  role alone. The owner reads jobs through its own policy (FORCE RLS binds a non-superuser owner too).
- `jobs.attempts` counts the runs a job started, so a job whose worker keeps dying is given up on
  (failed, with Retry) instead of being run for ever.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

from core.config import get_settings
from db.migrations.helpers import QUEUE_SCHEMA, run_sql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UPGRADE = f"""
ALTER TABLE jobs ADD COLUMN attempts integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN jobs.attempts IS 'runs started; a run that finds the last one died without finishing counts again';

CREATE POLICY jobs_definer ON jobs FOR SELECT TO CURRENT_USER USING (true);

CREATE FUNCTION app_job_owner(p_job_id uuid) RETURNS uuid LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT j.user_id FROM public.jobs j WHERE j.id = p_job_id AND j.status IN ('queued', 'running')
$$;
COMMENT ON FUNCTION app_job_owner(uuid) IS 'whose job a worker holds: the queue payload is only the job id';
REVOKE ALL ON FUNCTION app_job_owner(uuid) FROM PUBLIC;

UPDATE {QUEUE_SCHEMA}.procrastinate_jobs SET args = jsonb_build_object('job_id', args->'job_id')
WHERE args ? 'job_id';
"""

# The old payload, rebuilt from the jobs rows (the owner reads them all), for the code before this revision.
DOWNGRADE = f"""
UPDATE {QUEUE_SCHEMA}.procrastinate_jobs q
SET args = jsonb_build_object('job_id', j.id::text, 'user_id', j.user_id::text, 'params', j.params)
FROM jobs j WHERE q.args->>'job_id' = j.id::text;
DROP FUNCTION app_job_owner(uuid);
DROP POLICY jobs_definer ON jobs;
ALTER TABLE jobs DROP COLUMN attempts;
"""


def upgrade() -> None:
    run_sql(UPGRADE)
    op.execute(f"GRANT EXECUTE ON FUNCTION app_job_owner(uuid) TO {get_settings().app_db_role}")


def downgrade() -> None:
    run_sql(DOWNGRADE)
