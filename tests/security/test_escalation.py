"""Escalation attempts with the app role's own credentials: every one must fail.

Each test plays an attacker who holds what the app holds (its database role, e.g. through an SQL
injection) and tries to get past row-level security or to rights it was never given.
"""

from __future__ import annotations

import os
import threading
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from core.config import get_settings
from core.errors import AccountError
from core.services import accounts
from db import migrate
from db.engine import act_as, app_url, owner_engine, owner_url
from support import make_admin


def _new_user(conn, email: str | None = None) -> uuid.UUID:
    user_id = uuid.uuid4()
    act_as(conn, user_id)
    conn.execute(text("INSERT INTO users (id, email) VALUES (:id, :email)"),
                 {"id": user_id, "email": email or f"x-{user_id.hex[:8]}@example.com"})
    return user_id


def _refused(conn, sql: str, params: dict | None = None) -> str:
    """Run `sql` in a savepoint; it must fail. Returns the database's message."""
    savepoint = conn.begin_nested()
    try:
        conn.execute(text(sql), params or {})
    except DBAPIError as error:
        savepoint.rollback()
        return str(error.orig)
    savepoint.rollback()
    raise AssertionError(f"the app role was allowed: {sql}")


def _app_role_flags(conn) -> tuple[bool, bool]:
    return tuple(conn.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")).one())


def test_temporary_objects_cannot_hijack_a_definer_function(app_connection):
    """The confirmed attack: a temporary function and a temporary view named `users`, then the admin check.

    With `search_path = public`, pg_temp came first for relations, so the owner ran the attacker's
    function, which gave the app role BYPASSRLS. Pinned to `pg_catalog, public, pg_temp` it cannot.
    """
    conn = app_connection
    role = get_settings().app_db_role
    conn.exec_driver_sql(f"""
        CREATE FUNCTION pg_temp.escalate() RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN
            EXECUTE 'ALTER ROLE {role} BYPASSRLS';
            RETURN true;
        END $$""")
    conn.exec_driver_sql("CREATE TEMP VIEW users AS SELECT pg_temp.escalate() AS is_admin, "
                         "NULLIF(current_setting('app.user_id', true), '')::uuid AS id")
    act_as(conn, uuid.uuid4())
    savepoint = conn.begin_nested()
    try:
        is_admin = conn.execute(text("SELECT app_current_user_is_admin()")).scalar()
    except DBAPIError:
        is_admin = False  # refusing is as good as answering false
    savepoint.rollback()
    assert is_admin is False
    assert _app_role_flags(conn) == (False, False)


def test_every_definer_function_is_pinned_and_not_executable_by_public(database):
    role = f"probe_{uuid.uuid4().hex[:8]}"
    with owner_engine().connect() as conn:
        transaction = conn.begin()
        conn.exec_driver_sql(f"CREATE ROLE {role} NOLOGIN")
        rows = conn.execute(text(
            "SELECT p.oid::regprocedure::text AS name, coalesce(array_to_string(p.proconfig, ','), '') AS config, "
            "has_function_privilege(:probe, p.oid, 'EXECUTE') AS anyone, "
            "has_function_privilege(:app, p.oid, 'EXECUTE') AS app "
            "FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef"),
            {"probe": role, "app": get_settings().app_db_role}).all()
        transaction.rollback()
    assert len(rows) >= 8
    for row in rows:
        assert row.config == "search_path=pg_catalog, public, pg_temp", row.name
        assert not row.anyone and row.app, row.name
    assert "app_login_lookup(text)" not in {row.name for row in rows}


def test_no_function_hands_out_a_password_hash(app_connection):
    conn = app_connection
    user_id = _new_user(conn, "victim@example.com")
    conn.execute(text("UPDATE users SET password_hash = :h WHERE id = :id"),
                 {"h": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$" + "D" * 43, "id": user_id})
    act_as(conn, None)  # nobody signed in
    begin = conn.execute(text("SELECT * FROM app_sign_in_begin('victim@example.com', 'x', 5, 20, 900)")).one()
    assert begin.hash_settings == "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA" and begin.hash_length == 32
    finish = conn.execute(text("SELECT * FROM app_sign_in_finish('victim@example.com', 'x', 'guess', 5, 20, 900)")).one()
    assert finish.user_id is None
    act_as(conn, user_id)  # even as the owner of the row: the column is not readable
    assert "permission denied" in _refused(conn, "SELECT password_hash FROM users")


def test_writers_cannot_raise_their_own_tier_or_rights(app_connection):
    conn = app_connection
    user_id = _new_user(conn)
    for sql in ("UPDATE users SET is_admin = true WHERE id = app_current_user_id()",
                "UPDATE users SET tier = 'PROFESSIONAL' WHERE id = app_current_user_id()",
                "INSERT INTO users (id, email, is_admin) VALUES (app_current_user_id(), 'y@example.com', true)"):
        assert "permission denied" in _refused(conn, sql)
    assert "administrator" in _refused(conn, "SELECT app_set_user_privileges(:u, true, 'PROFESSIONAL')", {"u": user_id})
    act_as(conn, None)
    assert "administrator" in _refused(conn, "SELECT app_set_user_privileges(:u, true, NULL)", {"u": user_id})
    act_as(conn, user_id)
    assert conn.execute(text("SELECT is_admin, tier FROM users")).one() == (False, "FREE")


def test_an_administrator_changes_tiers_through_the_function(database):
    admin = make_admin()
    writer = accounts.sign_up(f"tiered-{uuid.uuid4().hex[:8]}@example.com", "a long enough password", is_admin=False)
    with pytest.raises(AccountError, match="Only an administrator"):
        accounts.set_privileges(writer.id, writer.id, is_admin=True)
    accounts.set_privileges(admin.id, writer.id, tier=accounts.Tier.PREMIUM)
    assert accounts.get_account(writer.id).tier is accounts.Tier.PREMIUM


def test_the_migration_history_is_read_only_to_the_app(app_connection):
    conn = app_connection
    assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == migrate.head_revision()
    for sql in ("UPDATE alembic_version SET version_num = '0001'", "DELETE FROM alembic_version",
                "INSERT INTO alembic_version VALUES ('x')", "TRUNCATE alembic_version"):
        assert "permission denied" in _refused(conn, sql)


def test_sign_in_counters_are_out_of_reach(app_connection):
    for sql in ("SELECT * FROM sign_in_throttle", "DELETE FROM sign_in_throttle",
                "INSERT INTO sign_in_throttle (scope, key) VALUES ('client', 'x')"):
        assert "permission denied" in _refused(app_connection, sql)


def test_definer_functions_without_an_identity_answer_nothing(app_connection):
    conn = app_connection
    _new_user(conn, "known@example.com")
    act_as(conn, None)
    assert conn.execute(text("SELECT app_current_user_is_admin()")).scalar() is False
    assert conn.execute(text("SELECT app_session_user('forged')")).scalar() is None
    assert conn.execute(text("SELECT app_user_by_oidc('https://issuer', 'sub')")).scalar() is None
    assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 0


def test_a_child_row_cannot_point_at_another_writers_book(app_connection):
    """Foreign-key checks bypass RLS: only a composite key (book_id, user_id) stops a planted row."""
    conn = app_connection
    victim = _new_user(conn)
    book = conn.execute(text("INSERT INTO books (user_id, title) VALUES (:u, 'Private') RETURNING id"),
                        {"u": victim}).scalar_one()
    chapter = conn.execute(text(
        "INSERT INTO chapters (book_id, user_id, number, title, text, content_sha256) "
        "VALUES (:b, :u, 1, 'One', 'text', repeat('0', 64)) RETURNING id"), {"b": book, "u": victim}).scalar_one()
    attacker = _new_user(conn)
    for sql in (
        "INSERT INTO chapters (book_id, user_id, number, title, text, content_sha256) "
        "VALUES (:b, :me, 99, 'Planted', 'x', repeat('0', 64))",
        "INSERT INTO book_sources (book_id, user_id, filename, data) VALUES (:b, :me, 'x.txt', 'x')",
        "INSERT INTO jobs (user_id, kind, book_id) VALUES (:me, 'ingest_book', :b)",
        "INSERT INTO chunks (book_id, chapter_id, user_id, ordinal, char_start, char_end, token_count, text) "
        "VALUES (:b, :c, :me, 0, 0, 1, 1, 'x')",
    ):
        assert "foreign key" in _refused(conn, sql, {"b": book, "c": chapter, "me": attacker})
    act_as(conn, victim)
    assert conn.execute(text("SELECT count(*) FROM chapters WHERE book_id = :b"), {"b": book}).scalar() == 1


def test_two_sign_ups_at_once_make_one_administrator(fresh_database):
    """The first-account check takes an advisory lock: the second sign-up waits and finds the first."""
    migrate.upgrade(url=fresh_database)
    engine = create_engine(make_url(app_url()).set(database=make_url(fresh_database).database), poolclass=NullPool)
    first, second = engine.connect(), engine.connect()
    create = text("SELECT app_create_user(:id, :email, NULL, NULL, NULL, NULL, true)")
    try:
        ids = [uuid.uuid4(), uuid.uuid4()]
        act_as(first, ids[0])
        assert first.execute(create, {"id": ids[0], "email": "one@example.com"}).scalar() is True
        answers = []

        def sign_up_second() -> None:
            act_as(second, ids[1])
            answers.append(second.execute(create, {"id": ids[1], "email": "two@example.com"}).scalar())
            second.commit()

        waiting = threading.Thread(target=sign_up_second)
        waiting.start()
        waiting.join(1.0)
        assert waiting.is_alive()  # blocked on the lock while the first sign-up is not committed
        first.commit()
        waiting.join(30)
        assert answers == [False]
    finally:
        first.close()
        second.close()
        engine.dispose()


@pytest.fixture
def fresh_database(database):
    name = f"fresh_{uuid.uuid4().hex[:8]}"
    admin = create_engine(owner_url(), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    yield make_url(owner_url()).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture
def as_external_database(database, monkeypatch, tmp_path):
    """Settings as for an external DATABASE_URL (the test server, reached by its URL), a role of our own."""
    from db.engine import owner_engine as cached_engine, owner_url as cached_url

    role = f"probe_app_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("DATABASE_URL", owner_url())
    monkeypatch.setenv("PLOTSTUDIO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("APP_DB_ROLE", role)
    monkeypatch.delenv("APP_DB_PASSWORD", raising=False)
    monkeypatch.delenv("APP_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    cached_url.cache_clear()
    cached_engine.cache_clear()
    yield role
    with owner_engine().begin() as conn:
        conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
    monkeypatch.undo()
    get_settings.cache_clear()
    cached_url.cache_clear()
    cached_engine.cache_clear()


def _password_of(role: str) -> str | None:
    with owner_engine().connect() as conn:
        return conn.execute(text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"), {"r": role}).scalar()


def test_an_external_database_never_gets_a_well_known_app_password(as_external_database, tmp_path):
    role = as_external_database
    stored = migrate.ensure_app_role()
    assert stored == str(tmp_path / "app-db-password")
    assert oct(os.stat(stored).st_mode & 0o777) == "0o600"
    password = (tmp_path / "app-db-password").read_text().strip()
    assert len(password) >= 32 and password != "plotstudio-app-dev"
    first = _password_of(role)
    assert first and first.startswith("SCRAM-SHA-256$")

    assert migrate.ensure_app_role() is None  # an existing role keeps its password
    assert _password_of(role) == first
    migrate.ensure_app_role(reset_password=True)  # unless asked
    assert _password_of(role) != first


def test_the_web_process_checks_the_schema_as_the_app_role(database, monkeypatch):
    """database_problem() runs for every new browser session: it must not open the owner's credentials."""
    import db.engine
    from core import doctor

    def no_owner():
        raise AssertionError("the owner's credentials were opened")

    monkeypatch.setattr(db.engine, "owner_engine", no_owner)
    monkeypatch.setattr(migrate, "owner_engine", no_owner)
    assert doctor.database_problem() is None


def test_a_failing_database_check_shows_a_sentence_not_the_error(database, monkeypatch):
    import db.engine
    from core import doctor

    def broken():
        raise RuntimeError('relation "alembic_version" does not exist; SELECT secret FROM users')

    monkeypatch.setattr(db.engine, "app_engine", broken)
    problem = doctor.database_problem()
    assert problem and "SELECT" not in problem and "alembic_version" not in problem and problem.endswith(".")
