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
    restrict_app_role()


# What the app role may write in users: never is_admin or tier (app_set_user_privileges does that).
USER_INSERTABLE = ("id", "email", "display_name")
USER_UPDATABLE = ("display_name", "password_hash", "last_sign_in_at", "oidc_issuer", "oidc_subject")
USER_HIDDEN = ("password_hash",)  # compared inside the database (app_sign_in_finish), never read


def restrict_app_role() -> None:
    """Take back what the blanket grants give too much of (issue 8); safe to run after every migration.

    The migration history is read-only to the app, the users row is writable only in its harmless
    columns, sign-in counters only through their functions, and every SECURITY DEFINER function in
    public is executable by the app role alone (PUBLIC gets EXECUTE on new functions by default).
    """
    role = get_settings().app_db_role
    bind = op.get_bind()
    columns = set(bind.exec_driver_sql(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name = 'users'").scalars())
    statements = [f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {role}",
                  f"REVOKE SELECT, INSERT, UPDATE ON users FROM {role}",
                  f"GRANT SELECT ({', '.join(sorted(columns - set(USER_HIDDEN)))}) ON users TO {role}",
                  f"GRANT INSERT ({', '.join(c for c in USER_INSERTABLE if c in columns)}) ON users TO {role}",
                  f"GRANT UPDATE ({', '.join(c for c in USER_UPDATABLE if c in columns)}) ON users TO {role}"]
    if bind.exec_driver_sql("SELECT to_regclass('public.sign_in_throttle')").scalar():
        statements.append(f"REVOKE ALL ON sign_in_throttle FROM {role}")
    definers = bind.exec_driver_sql(
        "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace "
        "AND p.prosecdef").scalars()
    for function in definers:
        statements += [f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC",
                       f"GRANT EXECUTE ON FUNCTION {function} TO {role}"]
    for statement in statements:
        op.execute(statement)


def install_queue_schema() -> None:
    """procrastinate's tables and functions, in a schema of their own so downgrade can drop them whole."""
    run_sql(f"CREATE SCHEMA {QUEUE_SCHEMA}; SET LOCAL search_path TO {QUEUE_SCHEMA};")
    run_sql(SchemaManager.get_schema())
    run_sql("SET LOCAL search_path TO public;")


def drop_queue_schema() -> None:
    op.execute(f"DROP SCHEMA IF EXISTS {QUEUE_SCHEMA} CASCADE")
