"""Pieces the migrations share: which tables are a writer's, the app role's grants, the job queue's schema."""

from alembic import op
from procrastinate.schema import SchemaManager

from core.config import get_settings

QUEUE_SCHEMA = "queue"

# Every table whose rows belong to one writer; each gets FORCE RLS keyed on that writer.
USER_OWNED_TABLES = (
    "users", "user_sessions", "books", "book_sources", "chapters", "chunks", "plot_overviews", "characters",
    "portraits", "chapter_scripts", "usage_logs", "generation_analytics", "jobs", "cache_entries",
)


def run_sql(script: str) -> None:
    """Run a multi-statement SQL script verbatim (no bind-parameter parsing of `%` or `:`)."""
    op.get_bind().connection.driver_connection.execute(script)


def owned_tables() -> tuple[str, ...]:
    return USER_OWNED_TABLES


def grant_app_role() -> None:
    """Let the app role read and write rows (RLS decides which), never own or alter anything."""
    role = get_settings().app_db_role
    for statement in (
        f"GRANT USAGE ON SCHEMA public, {QUEUE_SCHEMA} TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public, {QUEUE_SCHEMA} TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public, {QUEUE_SCHEMA} TO {role}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {QUEUE_SCHEMA} TO {role}",
    ):
        op.execute(statement)


def install_queue_schema() -> None:
    """procrastinate's tables and functions, in a schema of their own so downgrade can drop them whole."""
    run_sql(f"CREATE SCHEMA {QUEUE_SCHEMA}; SET LOCAL search_path TO {QUEUE_SCHEMA};")
    run_sql(SchemaManager.get_schema())
    run_sql("SET LOCAL search_path TO public;")


def drop_queue_schema() -> None:
    op.execute(f"DROP SCHEMA IF EXISTS {QUEUE_SCHEMA} CASCADE")
