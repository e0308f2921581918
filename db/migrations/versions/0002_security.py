"""Security: definer functions pinned, narrow grants, composite keys, sign-in throttling (issue 8).

- Every SECURITY DEFINER function runs with `search_path = pg_catalog, public, pg_temp` and names its
  objects by schema, so a caller's temporary function or view can never stand in for ours.
- Only the app role may EXECUTE them (helpers.restrict_app_role, called by grant_app_role).
- No function hands out a password hash. Sign-in is two calls: `app_sign_in_begin` answers whether the
  account or client is throttled and gives the hash *settings* (algorithm, cost, salt: none of it secret);
  Python computes argon2 with them; `app_sign_in_finish` counts the attempt, compares the result with the
  stored hash inside the database and says only who it is. The digest never leaves Postgres, and the
  attempt counters live in `sign_in_throttle`, which the app role cannot touch.
- First account is admin: `app_create_user` takes a transaction-scoped advisory lock, so two sign-ups at
  once cannot both see an empty table. Tier and admin change only through `app_set_user_privileges`
  (an administrator) or the owner (the CLI's `user create --admin/--tier`).
- Child rows reference `(book_id, user_id)` of books (and chunks/scripts `(chapter_id, book_id, user_id)`
  of chapters, artefacts `(plot_overview_id, user_id)` of plot overviews): a foreign key check bypasses
  RLS, so a single-column key let a writer attach rows to another writer's book.
- The definer functions read users and sessions as the owner; FORCE RLS applies to a non-superuser owner
  too, so the owner gets its own policy on those two tables (the app role's policies are unchanged).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from db.migrations.helpers import grant_app_role, run_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PINNED = "SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp"

FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION app_current_user_is_admin() RETURNS boolean LANGUAGE sql STABLE {PINNED} AS $$
    SELECT coalesce((SELECT u.is_admin FROM public.users u WHERE u.id = public.app_current_user_id()), false)
$$;

CREATE OR REPLACE FUNCTION app_session_user(p_token_hash text) RETURNS uuid LANGUAGE sql STABLE {PINNED} AS $$
    SELECT s.user_id FROM public.user_sessions s
    WHERE s.token_hash = p_token_hash AND s.revoked_at IS NULL AND s.expires_at > now()
$$;

-- `--user EMAIL` on the command line and single sign-on linking: the id only.
CREATE FUNCTION app_user_id_by_email(p_email text) RETURNS uuid LANGUAGE sql STABLE {PINNED} AS $$
    SELECT u.id FROM public.users u WHERE lower(u.email) = lower(btrim(p_email))
$$;

CREATE FUNCTION app_user_by_oidc(p_issuer text, p_subject text) RETURNS uuid LANGUAGE sql STABLE {PINNED} AS $$
    SELECT u.id FROM public.users u WHERE u.oidc_issuer = p_issuer AND u.oidc_subject = p_subject
$$;

-- Sign-up. The first account of an installation is its administrator; the advisory lock makes two
-- sign-ups at once take turns, so only one of them can find the table empty.
CREATE FUNCTION app_create_user(p_id uuid, p_email text, p_password_hash text, p_display_name text,
                                p_oidc_issuer text, p_oidc_subject text, p_may_be_admin boolean)
RETURNS boolean LANGUAGE plpgsql VOLATILE {PINNED} AS $$
DECLARE
    v_first boolean;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('plotstudio.first_account'));
    v_first := p_may_be_admin AND NOT EXISTS (SELECT 1 FROM public.users);
    INSERT INTO public.users (id, email, password_hash, display_name, oidc_issuer, oidc_subject, is_admin)
    VALUES (p_id, p_email, p_password_hash, p_display_name, p_oidc_issuer, p_oidc_subject, v_first);
    RETURN v_first;
END
$$;

-- Tier and admin rights: only an administrator changes them (the owner can too, directly).
CREATE FUNCTION app_set_user_privileges(p_user uuid, p_is_admin boolean, p_tier text)
RETURNS void LANGUAGE plpgsql VOLATILE {PINNED} AS $$
BEGIN
    IF NOT public.app_current_user_is_admin() THEN
        RAISE EXCEPTION 'only an administrator can change tiers or admin rights' USING ERRCODE = '42501';
    END IF;
    UPDATE public.users SET is_admin = coalesce(p_is_admin, is_admin), tier = coalesce(p_tier, tier)
    WHERE id = p_user;
END
$$;

-- Throttle keys are hashes: the table never holds an email or an address in the clear.
CREATE FUNCTION app_throttle_key(p_value text) RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp AS $$
    SELECT encode(sha256(convert_to(lower(btrim(coalesce(p_value, ''))), 'UTF8')), 'hex')
$$;

-- Seconds until this account or client may try again (0: now). Failures are forgotten once a whole
-- window passes without one, so a guesser is held off for as long as it keeps guessing.
CREATE FUNCTION app_throttle_wait(p_email text, p_client text, p_account_limit integer,
                                  p_client_limit integer, p_window_seconds integer)
RETURNS integer LANGUAGE plpgsql VOLATILE {PINNED} AS $$
DECLARE
    v_window interval := make_interval(secs => p_window_seconds);
BEGIN
    -- clock_timestamp(), not now(): the time of this call, whatever transaction it runs in.
    DELETE FROM public.sign_in_throttle t WHERE t.last_failure_at <= clock_timestamp() - v_window;
    RETURN coalesce((
        SELECT max(ceil(extract(epoch FROM t.last_failure_at + v_window - clock_timestamp())))::integer
        FROM public.sign_in_throttle t
        WHERE (t.scope = 'account' AND t.key = public.app_throttle_key(p_email) AND t.failures >= p_account_limit)
           OR (t.scope = 'client' AND t.key = public.app_throttle_key(p_client) AND t.failures >= p_client_limit)
    ), 0);
END
$$;

-- Step 1 of sign-in: throttled? else the hash settings to compute with (NULL: no password account).
CREATE FUNCTION app_sign_in_begin(p_email text, p_client text, p_account_limit integer,
                                  p_client_limit integer, p_window_seconds integer)
RETURNS TABLE (hash_settings text, hash_length integer, retry_after integer)
LANGUAGE plpgsql VOLATILE {PINNED} AS $$
DECLARE
    v_wait integer := public.app_throttle_wait(p_email, p_client, p_account_limit, p_client_limit,
                                               p_window_seconds);
    v_hash text;
BEGIN
    IF v_wait > 0 THEN
        RETURN QUERY SELECT NULL::text, NULL::integer, v_wait;
        RETURN;
    END IF;
    SELECT u.password_hash INTO v_hash FROM public.users u WHERE lower(u.email) = lower(btrim(p_email));
    -- "$argon2id$v=19$m=…,t=…,p=…$salt$digest": everything but the digest, and the digest's length.
    RETURN QUERY SELECT regexp_replace(v_hash, '\\$[^$]*$', ''),
                        (length(regexp_replace(v_hash, '^.*\\$', '')) * 3 / 4)::integer, 0;
END
$$;

-- Step 2: count the attempt, compare inside the database, and on success clear the account's count.
CREATE FUNCTION app_sign_in_finish(p_email text, p_client text, p_candidate_hash text, p_account_limit integer,
                                   p_client_limit integer, p_window_seconds integer)
RETURNS TABLE (user_id uuid, retry_after integer)
LANGUAGE plpgsql VOLATILE {PINNED} AS $$
DECLARE
    v_wait integer := public.app_throttle_wait(p_email, p_client, p_account_limit, p_client_limit,
                                               p_window_seconds);
    v_user uuid;
BEGIN
    IF v_wait > 0 THEN
        RETURN QUERY SELECT NULL::uuid, v_wait;
        RETURN;
    END IF;
    INSERT INTO public.sign_in_throttle AS t (scope, key, failures, last_failure_at)
    VALUES ('account', public.app_throttle_key(p_email), 1, clock_timestamp()),
           ('client', public.app_throttle_key(p_client), 1, clock_timestamp())
    ON CONFLICT (scope, key) DO UPDATE SET failures = t.failures + 1, last_failure_at = clock_timestamp();
    -- Both sides hashed again: the comparison's time says nothing about how much of the digest matched.
    SELECT u.id INTO v_user FROM public.users u
    WHERE lower(u.email) = lower(btrim(p_email)) AND u.password_hash IS NOT NULL
      AND sha256(convert_to(u.password_hash, 'UTF8')) = sha256(convert_to(coalesce(p_candidate_hash, ''), 'UTF8'));
    IF v_user IS NOT NULL THEN
        DELETE FROM public.sign_in_throttle t WHERE t.scope = 'account' AND t.key = public.app_throttle_key(p_email);
        UPDATE public.sign_in_throttle t SET failures = greatest(t.failures - 1, 0)
        WHERE t.scope = 'client' AND t.key = public.app_throttle_key(p_client);
    END IF;
    RETURN QUERY SELECT v_user, 0;
END
$$;
"""

SCHEMA = """
CREATE TABLE sign_in_throttle (
    scope varchar(10) NOT NULL CHECK (scope IN ('account', 'client')),
    key text NOT NULL,
    failures integer NOT NULL DEFAULT 0,
    last_failure_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
COMMENT ON TABLE sign_in_throttle IS 'failed sign-ins per account and per client, forgotten after a quiet window; only definer functions touch it';
CREATE INDEX idx_sign_in_throttle_window ON sign_in_throttle (last_failure_at);

ALTER TABLE users ADD COLUMN oidc_issuer text;
ALTER TABLE users DROP CONSTRAINT users_oidc_subject_key;
ALTER TABLE users ADD CONSTRAINT uq_users_oidc_identity UNIQUE (oidc_issuer, oidc_subject);
COMMENT ON COLUMN users.oidc_issuer IS 'single sign-on identity is (issuer, subject), never the email';

-- The definer functions read every account and session as the owner (FORCE RLS binds a non-superuser owner).
CREATE POLICY users_definer ON users TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY user_sessions_definer ON user_sessions TO CURRENT_USER USING (true) WITH CHECK (true);

ALTER TABLE books ADD CONSTRAINT uq_books_id_user UNIQUE (id, user_id);
ALTER TABLE chapters ADD CONSTRAINT uq_chapters_id_book_user UNIQUE (id, book_id, user_id);
ALTER TABLE plot_overviews ADD CONSTRAINT uq_plot_overviews_id_user UNIQUE (id, user_id);
"""

# (table, old single-column key, its definition, the composite key that replaces it)
BOOK_CHILDREN = ("book_sources", "chapters", "chunks", "plot_overviews", "characters", "portraits", "chapter_scripts")
OPTIONAL_BOOK_CHILDREN = ("usage_logs", "generation_analytics", "jobs")  # book_id NULL when the book is deleted
CHAPTER_CHILDREN = ("chunks", "chapter_scripts")
PLOT_CHILDREN = ("characters", "chapter_scripts")


def _keys() -> list[tuple[str, str, str, str]]:
    keys = [(t, f"{t}_book_id_fkey", "FOREIGN KEY (book_id) REFERENCES books(id) ON DELETE CASCADE",
             f"fk_{t}_book_owner FOREIGN KEY (book_id, user_id) REFERENCES books(id, user_id) ON DELETE CASCADE")
            for t in BOOK_CHILDREN]
    keys += [(t, f"{t}_book_id_fkey", "FOREIGN KEY (book_id) REFERENCES books(id) ON DELETE SET NULL",
              f"fk_{t}_book_owner FOREIGN KEY (book_id, user_id) REFERENCES books(id, user_id) "
              "ON DELETE SET NULL (book_id)")
             for t in OPTIONAL_BOOK_CHILDREN]
    keys += [(t, f"{t}_chapter_id_fkey", "FOREIGN KEY (chapter_id) REFERENCES chapters(id) ON DELETE CASCADE",
              f"fk_{t}_chapter_owner FOREIGN KEY (chapter_id, book_id, user_id) "
              "REFERENCES chapters(id, book_id, user_id) ON DELETE CASCADE")
             for t in CHAPTER_CHILDREN]
    keys += [(t, f"{t}_plot_overview_id_fkey",
              "FOREIGN KEY (plot_overview_id) REFERENCES plot_overviews(id) ON DELETE SET NULL",
              f"fk_{t}_plot_owner FOREIGN KEY (plot_overview_id, user_id) REFERENCES plot_overviews(id, user_id) "
              "ON DELETE SET NULL (plot_overview_id)")
             for t in PLOT_CHILDREN]
    return keys


# 0001's definitions, restored by downgrade.
OLD_FUNCTIONS = """
CREATE OR REPLACE FUNCTION app_current_user_is_admin() RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public AS $$
    SELECT coalesce((SELECT is_admin FROM users WHERE id = app_current_user_id()), false)
$$;
CREATE OR REPLACE FUNCTION app_session_user(p_token_hash text) RETURNS uuid LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public AS $$
    SELECT s.user_id FROM user_sessions s
    WHERE s.token_hash = p_token_hash AND s.revoked_at IS NULL AND s.expires_at > now()
$$;
CREATE FUNCTION app_login_lookup(p_email text)
RETURNS TABLE (id uuid, password_hash text) LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public AS $$
    SELECT u.id, u.password_hash FROM users u WHERE lower(u.email) = lower(p_email)
$$;
CREATE FUNCTION app_user_count() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public AS $$
    SELECT count(*) FROM users
$$;
"""
NEW_FUNCTIONS = ("app_sign_in_finish(text, text, text, integer, integer, integer)",
                 "app_sign_in_begin(text, text, integer, integer, integer)",
                 "app_throttle_wait(text, text, integer, integer, integer)", "app_throttle_key(text)",
                 "app_set_user_privileges(uuid, boolean, text)",
                 "app_create_user(uuid, text, text, text, text, text, boolean)",
                 "app_user_by_oidc(text, text)", "app_user_id_by_email(text)")


def upgrade() -> None:
    op.execute("DROP FUNCTION app_login_lookup(text)")
    op.execute("DROP FUNCTION app_user_count()")
    run_sql(SCHEMA)
    run_sql(FUNCTIONS)
    for table, old, _, composite in _keys():
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {old}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {composite}")
    grant_app_role()


def downgrade() -> None:
    for table, old, definition, composite in reversed(_keys()):
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {composite.split()[0]}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {old} {definition}")
    for function in NEW_FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}")
    run_sql("""
        ALTER TABLE plot_overviews DROP CONSTRAINT uq_plot_overviews_id_user;
        ALTER TABLE chapters DROP CONSTRAINT uq_chapters_id_book_user;
        ALTER TABLE books DROP CONSTRAINT uq_books_id_user;
        DROP POLICY user_sessions_definer ON user_sessions;
        DROP POLICY users_definer ON users;
        ALTER TABLE users DROP CONSTRAINT uq_users_oidc_identity;
        ALTER TABLE users DROP COLUMN oidc_issuer;
        ALTER TABLE users ADD CONSTRAINT users_oidc_subject_key UNIQUE (oidc_subject);
        DROP TABLE sign_in_throttle;
    """)
    run_sql(OLD_FUNCTIONS)
    grant_app_role()
