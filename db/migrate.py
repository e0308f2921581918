"""Schema changes, only through Alembic, run as the owner role."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from core.config import get_settings
from db.engine import owner_engine, owner_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", (url or owner_url()).replace("%", "%%"))
    return config


def ensure_app_role() -> None:
    """Create the app's login role if missing: not superuser, not owner, no BYPASSRLS."""
    settings = get_settings()
    role = settings.app_db_role
    with owner_engine().begin() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
        password = conn.execute(text("SELECT quote_literal(:p)"), {"p": settings.app_db_password}).scalar()
        verb = "ALTER" if exists else "CREATE"
        conn.exec_driver_sql(f"{verb} ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                             f"NOBYPASSRLS NOINHERIT PASSWORD {password}")


def upgrade(revision: str = "head", *, url: str | None = None) -> None:
    """Migrate the app's database (or the one at `url`, run as its owner) up to `revision`."""
    ensure_app_role()
    command.upgrade(alembic_config(url), revision)


def downgrade(revision: str = "base", *, url: str | None = None) -> None:
    command.downgrade(alembic_config(url), revision)


def current_revision() -> str | None:
    with owner_engine().connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
