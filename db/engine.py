"""Engines and the unit of work: every transaction runs as one writer, enforced by Postgres RLS."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from core.config import as_psycopg_url, get_settings


@lru_cache(maxsize=1)
def owner_url() -> str:
    """URL of the role that owns the schema and runs migrations (embedded: its superuser)."""
    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    from db.embedded import start_embedded_server

    return as_psycopg_url(start_embedded_server(settings.data_dir))


def app_url() -> str:
    """URL of the RLS-bound role every page, CLI command and worker uses (migrated before first use)."""
    from db.migrate import ensure_migrated

    ensure_migrated()
    return unchecked_app_url()


def unchecked_app_url() -> str:
    """The app role's URL, without first making sure the schema is there."""
    settings = get_settings()
    if settings.app_database_url:
        return settings.app_database_url
    url = make_url(owner_url()).set(username=settings.app_db_role)
    if settings.database_url:
        url = url.set(password=app_db_password())
    return url.render_as_string(hide_password=False)


def app_password_file() -> Path:
    """Where `db upgrade` keeps the app role's generated password (mode 0600) when none is set."""
    return get_settings().data_dir / "app-db-password"


def app_db_password() -> str:
    """The app role's password on an external database: APP_DB_PASSWORD, else the generated one."""
    settings = get_settings()
    if settings.app_db_password:
        return settings.app_db_password
    try:
        return app_password_file().read_text().strip()
    except FileNotFoundError:
        from core.errors import ConfigurationError

        raise ConfigurationError("The app role has no password yet: run `python -m core db upgrade` "
                                 "(it generates one), or set APP_DB_PASSWORD or APP_DATABASE_URL.") from None


def libpq_conninfo(url: str) -> str:
    """A SQLAlchemy URL as plain libpq conninfo (for psycopg and procrastinate)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@lru_cache(maxsize=1)
def owner_engine() -> Engine:
    return create_engine(owner_url(), poolclass=NullPool)


@lru_cache(maxsize=1)
def app_engine() -> Engine:
    settings = get_settings()
    return create_engine(app_url(), pool_size=settings.db_pool_size, max_overflow=10,
                         pool_pre_ping=True)


_session_factory: sessionmaker[Session] | None = None


def _sessions() -> sessionmaker[Session]:
    global _session_factory
    if _session_factory is None:
        _session_factory = sessionmaker(bind=app_engine(), expire_on_commit=False)
    return _session_factory


@contextmanager
def bind_sessions_to(connection: Connection) -> Iterator[None]:
    """Run every unit of work inside `connection`'s transaction, as savepoints (tests roll it back)."""
    global _session_factory
    previous = _session_factory
    _session_factory = sessionmaker(bind=connection, expire_on_commit=False,
                                    join_transaction_mode="create_savepoint")
    try:
        yield
    finally:
        _session_factory = previous


def act_as(session: Session | Connection, user_id: uuid.UUID | str | None) -> None:
    """Make Postgres treat the rest of this transaction as `user_id` (SET LOCAL, never session-wide)."""
    session.execute(text("SELECT set_config('app.user_id', :uid, true)"),
                    {"uid": str(user_id) if user_id else ""})


@contextmanager
def unit_of_work(user_id: uuid.UUID | str | None) -> Iterator[Session]:
    """One transaction as one writer: commits on success, rolls back on any error."""
    with _sessions()() as session, session.begin():
        act_as(session, user_id)
        yield session
