"""Schema changes, only through Alembic, run as the owner role."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from core.config import get_settings
from db.engine import app_password_file, owner_engine, owner_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", (url or owner_url()).replace("%", "%%"))
    return config


def ensure_app_role(*, reset_password: bool = False) -> str | None:
    """Create the app's login role if missing: not superuser, not owner, no BYPASSRLS.

    An existing role keeps its password unless `reset_password`. On an external database a new (or
    reset) role gets APP_DB_PASSWORD, the password in APP_DATABASE_URL, or a generated one kept in the
    data directory (mode 0600), never a well-known default. Returns where a generated password went.
    """
    settings = get_settings()
    role = settings.app_db_role
    attributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT"
    with owner_engine().begin() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
        if settings.embedded_database:  # the embedded server trusts its Unix socket: no password at all
            conn.exec_driver_sql(f"{'ALTER' if exists else 'CREATE'} ROLE {role} {attributes} PASSWORD NULL")
            return None
        if exists and not reset_password:
            conn.exec_driver_sql(f"ALTER ROLE {role} {attributes}")
            return None
        password, stored = _app_password(reset_password)
        literal = conn.execute(text("SELECT quote_literal(:p)"), {"p": password}).scalar()
        conn.exec_driver_sql(f"{'ALTER' if exists else 'CREATE'} ROLE {role} {attributes} PASSWORD {literal}")
    return stored


def _app_password(reset: bool) -> tuple[str, str | None]:
    """The password to give the app role, and the file it was stored in if it was generated."""
    settings = get_settings()
    if settings.app_db_password:
        return settings.app_db_password, None
    if settings.app_database_url and make_url(settings.app_database_url).password:
        return make_url(settings.app_database_url).password, None
    path = app_password_file()
    if path.exists() and not reset:
        return path.read_text().strip(), None
    password = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as sink:
        sink.write(password + "\n")
    os.chmod(path, 0o600)
    return password, str(path)


def upgrade(revision: str = "head", *, url: str | None = None, reset_app_password: bool = False) -> str | None:
    """Migrate the app's database (or the one at `url`, run as its owner) up to `revision`.

    Returns the file a newly generated app-role password was stored in, if one was generated.
    """
    stored = ensure_app_role(reset_password=reset_app_password)
    command.upgrade(alembic_config(url), revision)
    return stored


def downgrade(revision: str = "base", *, url: str | None = None) -> None:
    command.downgrade(alembic_config(url), revision)


def current_revision(engine: Engine | None = None) -> str | None:
    """The schema's revision, read through `engine` (the owner's unless given: the app role may read it too)."""
    with (engine or owner_engine()).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The newest revision in the code (read from the scripts alone: no database is started or opened)."""
    scripts = Config()
    scripts.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(scripts).get_current_head()


_migration_state = {"checked": False, "running": False}


def ensure_migrated() -> None:
    """Before a process first uses the database: bring an embedded one up to date, or say how to.

    The embedded database is the app's own, so it is migrated here, under a lock in the data directory
    (processes starting together migrate it once). An external DATABASE_URL is the operator's: a schema
    that is behind gets one sentence naming the command to run.
    """
    if _migration_state["checked"] or _migration_state["running"]:
        return
    _migration_state["running"] = True
    try:
        settings = get_settings()
        # APP_DATABASE_URL alone (a web process without the owner's URL) is an external database too.
        if settings.embedded_database and not settings.app_database_url:
            _migrate_embedded()
        else:
            _check_external()
        _migration_state["checked"] = True
    finally:
        _migration_state["running"] = False


def _migrate_embedded() -> None:
    import fasteners

    owner_url()  # starts (or joins) the server, which makes the data directory's run/ folder
    with fasteners.InterProcessLock(str(get_settings().data_dir.resolve() / "run" / "migrate.lock")):
        if current_revision() != head_revision():
            upgrade()


def _check_external() -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.pool import NullPool

    from core.errors import ConfigurationError
    from db.engine import unchecked_app_url

    head = head_revision()
    engine = create_engine(unchecked_app_url(), poolclass=NullPool)
    try:
        current = current_revision(engine)
    except OperationalError as exc:
        if "does not exist" not in str(exc) and "authentication failed" not in str(exc):
            raise ConfigurationError(f"Plot Studio cannot reach its database at {make_url(unchecked_app_url()).host}: "
                                     "check that it is running and that its URL is right.") from None
        current = None  # no app role yet: never migrated
    finally:
        engine.dispose()
    if current != head:
        raise ConfigurationError(f"The database is not migrated (schema {current or 'empty'}, this version needs "
                                 f"{head}): run `python -m core db upgrade`.")
