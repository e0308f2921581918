"""The house: migrations, the schema, row-level security enforced by Postgres, accounts, settings."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from core.config import Settings, Tier, as_psycopg_url
from core.errors import AccountError, NotFoundError
from core.services import accounts
from db import migrate
from db.embedded import _forget_dead_handles
from db.engine import act_as, app_url, bind_sessions_to, owner_url, unit_of_work
from db.migrations.helpers import USER_OWNED_TABLES
from db.models import Base, Book
from support import make_admin, make_writer


@pytest.fixture
def fresh_database(database):
    """An empty database on the same server, dropped afterwards."""
    name = f"fresh_{uuid.uuid4().hex[:8]}"
    admin = create_engine(owner_url(), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = make_url(owner_url()).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")


def _tables(url: str) -> set[str]:
    with create_engine(url, poolclass=NullPool).connect() as conn:
        return set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname IN ('public', 'queue')"))
                   .scalars())


def test_upgrade_downgrade_upgrade_on_an_empty_database(fresh_database):
    migrate.upgrade(url=fresh_database)
    created = _tables(fresh_database)
    assert set(USER_OWNED_TABLES) | {"character_archetypes", "procrastinate_jobs", "alembic_version"} <= created
    migrate.downgrade(url=fresh_database)
    assert _tables(fresh_database) == {"alembic_version"}
    migrate.upgrade(url=fresh_database)
    assert _tables(fresh_database) == created


def test_first_account_of_an_installation_is_admin(fresh_database):
    migrate.upgrade(url=fresh_database)
    app = make_url(app_url()).set(database=make_url(fresh_database).database)
    engine = create_engine(app, poolclass=NullPool)
    with engine.connect() as connection:
        transaction = connection.begin()
        with bind_sessions_to(connection):
            first = accounts.sign_up("first@example.com", "a long enough password")
            second = accounts.sign_up("second@example.com", "a long enough password")
        transaction.rollback()
    engine.dispose()
    assert first.is_admin and not second.is_admin


def test_models_agree_with_the_migrated_schema(database):
    """Every model column exists in the database with the same nullability, and no column is missing."""
    engine = create_engine(owner_url(), poolclass=NullPool)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT table_name, column_name, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'public'")).all()
    database_columns = {(r.table_name, r.column_name): r.is_nullable == "YES" for r in rows}
    model_columns = {(table.name, column.name): column.nullable
                     for table in Base.metadata.sorted_tables for column in table.columns}
    assert model_columns == {key: value for key, value in database_columns.items()
                             if key[0] in {t.name for t in Base.metadata.sorted_tables}}
    assert {t.name for t in Base.metadata.sorted_tables} == \
        {table for table, _ in database_columns} - {"alembic_version"}


def test_design_indexes_and_triggers_exist(database):
    with create_engine(owner_url(), poolclass=NullPool).connect() as conn:
        indexes = dict(conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname='public'")).all())
        triggers = set(conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars())
    assert "USING gin (archetypes)" in indexes["idx_characters_archetypes"]
    for name in ("idx_plot_overviews_book_user", "idx_plot_overviews_status", "idx_characters_plot_overview",
                 "idx_chapter_scripts_chapter", "idx_character_archetypes_category"):
        assert name in indexes
    assert {"update_plot_overviews_updated_at", "update_characters_updated_at",
            "update_chapter_scripts_updated_at"} <= triggers


# Row-level security, proved with raw SQL through the app role --------------------------------------

def test_app_role_is_bound_by_rls(database):
    with create_engine(app_url(), poolclass=NullPool).connect() as conn:
        role = conn.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")).one()
        owned = conn.execute(text("SELECT count(*) FROM pg_tables WHERE tableowner = current_user")).scalar()
        forced = dict(conn.execute(text(
            "SELECT relname, relforcerowsecurity AND relrowsecurity FROM pg_class "
            "WHERE relname = ANY(:t)"), {"t": list(USER_OWNED_TABLES)}).all())
    assert not role.rolsuper and not role.rolbypassrls and owned == 0
    assert forced == {table: True for table in USER_OWNED_TABLES}


@pytest.fixture
def raw(database):
    """A raw connection as the app role, in a transaction rolled back at the end."""
    engine = create_engine(app_url(), poolclass=NullPool)
    with engine.connect() as conn:
        transaction = conn.begin()
        yield conn
        transaction.rollback()
    engine.dispose()


def _user(conn, email: str) -> uuid.UUID:
    user_id = uuid.uuid4()
    act_as(conn, user_id)
    conn.execute(text("INSERT INTO users (id, email) VALUES (:id, :e)"), {"id": user_id, "e": email})
    return user_id


def _book(conn, user_id: uuid.UUID) -> uuid.UUID:
    act_as(conn, user_id)
    return conn.execute(text("INSERT INTO books (user_id, title) VALUES (:u, 'Secret') RETURNING id"),
                        {"u": user_id}).scalar_one()


def test_other_writer_cannot_see_update_or_delete_rows(raw):
    a = _user(raw, f"a-{uuid.uuid4().hex[:6]}@x.org")
    b = _user(raw, f"b-{uuid.uuid4().hex[:6]}@x.org")
    book = _book(raw, a)
    act_as(raw, b)
    assert raw.execute(text("SELECT count(*) FROM books WHERE id = :id"), {"id": book}).scalar() == 0
    assert raw.execute(text("SELECT count(*) FROM users WHERE id = :id"), {"id": a}).scalar() == 0
    assert raw.execute(text("UPDATE books SET title = 'stolen' WHERE id = :id"), {"id": book}).rowcount == 0
    assert raw.execute(text("DELETE FROM books WHERE id = :id"), {"id": book}).rowcount == 0
    act_as(raw, a)
    assert raw.execute(text("SELECT title FROM books WHERE id = :id"), {"id": book}).scalar() == "Secret"


def test_writer_cannot_insert_rows_in_someone_elses_name(raw):
    a = _user(raw, f"a-{uuid.uuid4().hex[:6]}@x.org")
    b = _user(raw, f"b-{uuid.uuid4().hex[:6]}@x.org")
    act_as(raw, b)
    with pytest.raises(DBAPIError, match="row-level security"):
        raw.execute(text("INSERT INTO books (user_id, title) VALUES (:u, 'forged')"), {"u": a})


def test_with_no_user_set_every_owned_table_shows_zero_rows(raw):
    a = _user(raw, f"a-{uuid.uuid4().hex[:6]}@x.org")
    _book(raw, a)
    act_as(raw, None)
    for table in USER_OWNED_TABLES:
        assert raw.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table


def test_identity_is_per_transaction_never_leaks_to_the_next(database):
    engine = create_engine(app_url(), pool_size=1, max_overflow=0)
    user = uuid.uuid4()
    with engine.begin() as conn:
        act_as(conn, user)
        assert conn.execute(text("SELECT app_current_user_id()")).scalar() == user
    with engine.begin() as conn:  # the same pooled connection
        assert conn.execute(text("SELECT app_current_user_id()")).scalar() is None
    engine.dispose()


# Archetypes: everyone reads the active ones, only admins write -------------------------------------

def test_archetypes_seeded_with_the_design_seven_and_more(writer_a):
    with unit_of_work(writer_a.id) as session:
        rows = session.execute(text("SELECT name, description, category, traits, typical_roles "
                                    "FROM character_archetypes")).all()
    names = {row.name for row in rows}
    design = {"The Hero", "The Mentor", "The Shadow", "The Ally", "The Threshold Guardian",
              "The Shapeshifter", "The Trickster"}
    assert design <= names and len(names - design) >= 8
    # Usable by the character board: each one described, categorised, with traits and roles to match on.
    assert all(len(row.description.split()) >= 5 and row.category and len(row.traits) >= 3 and row.typical_roles
               for row in rows), [row.name for row in rows]


def test_only_admins_write_archetypes(writer_a):
    with pytest.raises(DBAPIError, match="row-level security"):
        with unit_of_work(writer_a.id) as session:
            session.execute(text("INSERT INTO character_archetypes (name, description) VALUES ('X', 'y')"))
    with unit_of_work(writer_a.id) as session:
        changed = session.execute(text("UPDATE character_archetypes SET is_active = false")).rowcount
    assert changed == 0
    admin = make_admin()
    with unit_of_work(admin.id) as session:
        session.execute(text("UPDATE character_archetypes SET is_active = false WHERE name = 'The Trickster'"))
    with unit_of_work(writer_a.id) as session:
        visible = set(session.execute(text("SELECT name FROM character_archetypes")).scalars())
    with unit_of_work(admin.id) as session:
        admin_visible = set(session.execute(text("SELECT name FROM character_archetypes")).scalars())
    assert "The Trickster" not in visible and "The Trickster" in admin_visible


# Accounts ---------------------------------------------------------------------------------------

def test_sign_up_then_sign_in(database):
    email = f"Writer-{uuid.uuid4().hex[:6]}@Example.com"
    created = accounts.sign_up(email, "correct horse battery", display_name="  Ann  ")
    signed_in = accounts.sign_in(email.lower(), "correct horse battery")
    assert signed_in.id == created.id and created.display_name == "Ann" and created.tier is Tier.FREE


@pytest.mark.parametrize("email, password, message", [
    ("not-an-email", "correct horse battery", "valid email"),
    ("ok@example.com", "short", "at least 10 characters"),
])
def test_sign_up_refuses_bad_input_with_a_clear_message(database, email, password, message):
    with pytest.raises(AccountError, match=message):
        accounts.sign_up(email, password)


def test_duplicate_email_is_refused_whatever_its_case(writer_a):
    with pytest.raises(AccountError, match="cannot be used for a new account"):
        accounts.sign_up(writer_a.email.upper(), "another long password")


def test_wrong_password_and_unknown_email_get_the_same_answer(writer_a):
    with pytest.raises(AccountError, match="do not match") as wrong:
        accounts.sign_in(writer_a.email, "not the password")
    with pytest.raises(AccountError) as unknown:
        accounts.sign_in("nobody@example.com", "not the password")
    assert str(wrong.value) == str(unknown.value)


@pytest.mark.committed
def test_password_is_stored_as_an_argon2_hash(database):
    writer_a = make_writer("hash")
    with create_engine(owner_url(), poolclass=NullPool).connect() as conn:  # the app role cannot read it
        act_as(conn, writer_a.id)
        stored = conn.execute(text("SELECT password_hash FROM users WHERE id = :i"), {"i": writer_a.id}).scalar()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored


def test_session_token_survives_until_sign_out(writer_a):
    token = accounts.start_session(writer_a)
    assert accounts.account_for_session(token) == writer_a
    accounts.end_session(writer_a, token)
    assert accounts.account_for_session(token) is None
    assert accounts.account_for_session("forged-token") is None and accounts.account_for_session(None) is None


def test_expired_session_is_refused(writer_a):
    token = accounts.start_session(writer_a)
    with unit_of_work(writer_a.id) as session:
        session.execute(text("UPDATE user_sessions SET expires_at = now() - interval '1 minute'"))
    assert accounts.account_for_session(token) is None


def test_unknown_user_email_for_cli(database):
    with pytest.raises(NotFoundError, match="No account"):
        accounts.account_by_email("ghost@example.com")


# Settings and the embedded server ---------------------------------------------------------------

def test_settings_coerce_postgres_urls_and_refuse_placeholders_in_production():
    assert as_psycopg_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert Settings(database_url="postgresql://u@h/db").database_url == "postgresql+psycopg://u@h/db"
    with pytest.raises(ValueError, match="placeholder"):
        Settings(environment="production", database_url="postgresql://u@h/db")
    assert Settings(llm_model_premium="big").model_for(Tier.PREMIUM) == "big"


def test_stale_handles_of_killed_processes_are_forgotten(tmp_path):
    dead = 2 ** 22 + 12345  # above the default pid_max: no process has it
    (tmp_path / ".handle_pids.json").write_text(json.dumps([os.getpid(), dead]))
    _forget_dead_handles(tmp_path)
    assert json.loads((tmp_path / ".handle_pids.json").read_text()) == [os.getpid()]


def test_unit_of_work_rolls_back_on_error(writer_a):
    with pytest.raises(RuntimeError):
        with unit_of_work(writer_a.id) as session:
            session.add(Book(user_id=writer_a.id, title="Half made"))
            session.flush()
            raise RuntimeError("crash mid-way")
    with unit_of_work(writer_a.id) as session:
        assert session.execute(text("SELECT count(*) FROM books")).scalar() == 0


def test_every_setting_is_documented_in_the_readme():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = [(field.alias or name).upper() for name, field in Settings.model_fields.items()
               if f"| `{(field.alias or name).upper()}` |" not in readme]
    assert missing == []
