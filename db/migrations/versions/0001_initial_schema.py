"""The whole product's schema: accounts, library, versioned artefacts, usage, jobs; RLS on every user's row.

Revision ID: 0001
Revises:
"""

from alembic import op

from db.archetypes import ARCHETYPES
from db.migrations.helpers import drop_queue_schema, grant_app_role, install_queue_schema, owned_tables, run_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIERS = "('FREE', 'BASIC', 'STANDARD', 'PREMIUM', 'PROFESSIONAL')"
STATUSES = "('active', 'archived', 'deleted')"
# How a generated artefact was made (engine, model, prompt, tokens, cost, the chunks it rests on, time).
PROVENANCE = """generation_method varchar(50) NOT NULL DEFAULT 'offline',
    model_used varchar(100),
    prompt_name varchar(100),
    prompt_version varchar(20),
    tokens_in integer NOT NULL DEFAULT 0,
    tokens_out integer NOT NULL DEFAULT 0,
    generation_cost numeric(10, 6) NOT NULL DEFAULT 0,
    source_chunk_ids bigint[] NOT NULL DEFAULT '{}',
    duration_ms integer,"""

SCHEMA = f"""
CREATE EXTENSION IF NOT EXISTS vector;

-- Who is acting: set per transaction by db.engine.act_as (SET LOCAL), empty means nobody.
CREATE FUNCTION app_current_user_id() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT NULLIF(current_setting('app.user_id', true), '')::uuid
$$;

CREATE FUNCTION update_updated_at_column() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$;

CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text NOT NULL,
    password_hash text,
    display_name text,
    is_admin boolean NOT NULL DEFAULT false,
    tier varchar(20) NOT NULL DEFAULT 'FREE' CHECK (tier IN {TIERS}),
    oidc_subject text UNIQUE,
    last_sign_in_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX idx_users_email ON users (lower(email));

-- Admin rights come from the users table, not from anything the caller can set.
CREATE FUNCTION app_current_user_is_admin() RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public AS $$
    SELECT coalesce((SELECT is_admin FROM users WHERE id = app_current_user_id()), false)
$$;

CREATE TABLE user_sessions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash text NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_user_sessions_user ON user_sessions (user_id);

-- Sign-in happens before anyone is "the current user": these two functions answer
-- exactly the questions sign-in needs, and nothing more, past RLS.
CREATE FUNCTION app_login_lookup(p_email text)
RETURNS TABLE (id uuid, password_hash text) LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public AS $$
    SELECT u.id, u.password_hash FROM users u WHERE lower(u.email) = lower(p_email)
$$;

CREATE FUNCTION app_session_user(p_token_hash text) RETURNS uuid LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public AS $$
    SELECT s.user_id FROM user_sessions s
    WHERE s.token_hash = p_token_hash AND s.revoked_at IS NULL AND s.expires_at > now()
$$;

CREATE FUNCTION app_user_count() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public AS $$
    SELECT count(*) FROM users
$$;

CREATE TABLE books (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title text NOT NULL,
    author text,
    source_filename text,
    source_format varchar(10),
    source_sha256 char(64),
    status varchar(20) NOT NULL DEFAULT 'processing' CHECK (status IN ('processing', 'ready', 'failed')),
    error text,
    split_method varchar(30),
    notes jsonb NOT NULL DEFAULT '[]',
    word_count integer NOT NULL DEFAULT 0,
    embedding_model text,
    embedding_dim integer,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_books_user ON books (user_id, created_at DESC);

CREATE TABLE book_sources (
    book_id uuid PRIMARY KEY REFERENCES books(id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    filename text NOT NULL,
    data bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE book_sources IS 'the uploaded file as it came, so any worker can (re)ingest it';

CREATE TABLE chapters (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    book_id uuid NOT NULL REFERENCES books(id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    number integer NOT NULL,
    heading text NOT NULL DEFAULT '',
    title text NOT NULL,
    text text NOT NULL,
    word_count integer NOT NULL DEFAULT 0,
    content_sha256 char(64) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_chapters_book_number UNIQUE (book_id, number) DEFERRABLE INITIALLY DEFERRED
);
COMMENT ON COLUMN chapters.number IS 'reading order in the book, 1 first';
CREATE INDEX idx_chapters_user ON chapters (user_id);

CREATE TABLE chunks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    book_id uuid NOT NULL REFERENCES books(id) ON DELETE CASCADE,
    chapter_id uuid NOT NULL REFERENCES chapters(id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    ordinal integer NOT NULL,
    char_start integer NOT NULL,
    char_end integer NOT NULL,
    token_count integer NOT NULL,
    text text NOT NULL,
    embedding vector,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (char_start >= 0 AND char_end > char_start)
);
COMMENT ON COLUMN chunks.embedding IS 'any width: every chunk of a book has books.embedding_dim numbers (searches never cross books)';
COMMENT ON COLUMN chunks.char_start IS 'offset of the chunk in its chapter''s text, so a citation can be shown in place';
CREATE INDEX idx_chunks_book_chapter ON chunks (book_id, chapter_id, ordinal);
CREATE INDEX idx_chunks_user ON chunks (user_id);
-- Rows stay whole (~2.6 kB: text + 1.5 kB vector): a book-scoped search reads every vector of the
-- book, and fetching each from TOAST made it ~1.5x slower; compressing each text into TOAST made
-- loading a novel's chunks ~1.4x slower (bench/retrieval.py, bench/ingest.py).
ALTER TABLE chunks ALTER COLUMN embedding SET STORAGE PLAIN;
ALTER TABLE chunks SET (toast_tuple_target = 4080);
-- No HNSW index: every search is scoped to one book, and an exact scan of the book's rows through
-- idx_chunks_book_chapter is exact and as fast, while a global HNSW index filtered by book returned
-- fewer than k rows (pgvector 0.6 has no iterative scan) and made loading 100k chunks 35x slower.

CREATE TABLE plot_overviews (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    book_id uuid NOT NULL REFERENCES books(id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    version integer NOT NULL DEFAULT 1,
    status varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN {STATUSES}),
    logline text,
    themes jsonb NOT NULL DEFAULT '[]',
    story_type varchar(50),
    genre varchar(50),
    tone varchar(50),
    audience varchar(50),
    setting text,
    citations jsonb NOT NULL DEFAULT '{{}}',
    {PROVENANCE}
    based_on_version integer,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (book_id, user_id, version)
);
COMMENT ON COLUMN plot_overviews.citations IS 'field name -> list of chunk ids the field rests on';
CREATE INDEX idx_plot_overviews_book_user ON plot_overviews (book_id, user_id);
CREATE INDEX idx_plot_overviews_status ON plot_overviews (status);
CREATE INDEX idx_plot_overviews_created_at ON plot_overviews (created_at);

CREATE TABLE characters (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    character_key uuid NOT NULL DEFAULT gen_random_uuid(),
    plot_overview_id uuid REFERENCES plot_overviews(id) ON DELETE SET NULL,
    book_id uuid NOT NULL REFERENCES books(id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    version integer NOT NULL DEFAULT 1,
    status varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN {STATUSES}),
    name varchar(255) NOT NULL,
    aliases jsonb NOT NULL DEFAULT '[]',
    role varchar(100),
    character_arc text,
    physical_description text,
    personality text,
    archetypes jsonb NOT NULL DEFAULT '[]',
    archetype_analysis jsonb NOT NULL DEFAULT '{{}}',
    want text,
    need text,
    lie text,
    ghost text,
    citations jsonb NOT NULL DEFAULT '{{}}',
    image_url text,
    image_generation_prompt text,
    image_metadata jsonb NOT NULL DEFAULT '{{}}',
    {PROVENANCE}
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (character_key, version)
);
COMMENT ON COLUMN characters.character_key IS 'the same character across its versions';
CREATE INDEX idx_characters_plot_overview ON characters (plot_overview_id);
CREATE INDEX idx_characters_book_user ON characters (book_id, user_id);
CREATE INDEX idx_characters_role ON characters (role);
CREATE INDEX idx_characters_archetypes ON characters USING gin (archetypes);

CREATE TABLE portraits (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    character_key uuid NOT NULL,
    book_id uuid NOT NULL REFERENCES books(id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    version integer NOT NULL DEFAULT 1,
    status varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN {STATUSES}),
    image_path text NOT NULL,
    prompt text,
    provider varchar(50) NOT NULL,
    model_used varchar(100),
    width integer,
    height integer,
    generation_cost numeric(10, 6) NOT NULL DEFAULT 0,
    metadata jsonb NOT NULL DEFAULT '{{}}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (character_key, version)
);
CREATE INDEX idx_portraits_book_user ON portraits (book_id, user_id);

CREATE TABLE chapter_scripts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    chapter_id uuid NOT NULL REFERENCES chapters(id) ON DELETE CASCADE,
    book_id uuid NOT NULL REFERENCES books(id) ON DELETE CASCADE,
    plot_overview_id uuid REFERENCES plot_overviews(id) ON DELETE SET NULL,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    version integer NOT NULL DEFAULT 1,
    status varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN {STATUSES}),
    style varchar(50) NOT NULL DEFAULT 'cinematic',
    fountain text NOT NULL DEFAULT '',
    plot_enhanced boolean NOT NULL DEFAULT false,
    character_enhanced boolean NOT NULL DEFAULT false,
    scenes jsonb NOT NULL DEFAULT '[]',
    acts jsonb NOT NULL DEFAULT '[]',
    beats jsonb NOT NULL DEFAULT '[]',
    character_details jsonb NOT NULL DEFAULT '{{}}',
    character_arcs jsonb NOT NULL DEFAULT '{{}}',
    generation_metadata jsonb NOT NULL DEFAULT '{{}}',
    {PROVENANCE}
    based_on_version integer,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (chapter_id, user_id, version)
);
COMMENT ON COLUMN chapter_scripts.fountain IS 'the screenplay as Fountain text: the canonical form every view and export derives from';
CREATE INDEX idx_chapter_scripts_chapter ON chapter_scripts (chapter_id);
CREATE INDEX idx_chapter_scripts_plot ON chapter_scripts (plot_overview_id);
CREATE INDEX idx_chapter_scripts_user ON chapter_scripts (user_id);
CREATE INDEX idx_chapter_scripts_status ON chapter_scripts (status);

CREATE TABLE character_archetypes (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name varchar(100) NOT NULL UNIQUE,
    description text NOT NULL,
    category varchar(50),
    traits jsonb NOT NULL DEFAULT '[]',
    typical_roles jsonb NOT NULL DEFAULT '[]',
    example_characters text,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_character_archetypes_category ON character_archetypes (category);
CREATE INDEX idx_character_archetypes_active ON character_archetypes (is_active);

CREATE TABLE usage_logs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    action varchar(50) NOT NULL,
    book_id uuid REFERENCES books(id) ON DELETE SET NULL,
    resource_id uuid,
    idempotency_key text UNIQUE,
    tier varchar(20) NOT NULL,
    model_used varchar(100),
    tokens_in integer NOT NULL DEFAULT 0,
    tokens_out integer NOT NULL DEFAULT 0,
    cost_usd numeric(12, 6) NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON COLUMN usage_logs.idempotency_key IS 'one charge per generation, however often a job is retried';
CREATE INDEX idx_usage_logs_user_created ON usage_logs (user_id, created_at);

CREATE TABLE generation_analytics (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    book_id uuid REFERENCES books(id) ON DELETE SET NULL,
    artefact varchar(30) NOT NULL,
    engine varchar(20) NOT NULL,
    model_used varchar(100),
    tier varchar(20) NOT NULL,
    tokens_in integer NOT NULL DEFAULT 0,
    tokens_out integer NOT NULL DEFAULT 0,
    cost_usd numeric(12, 6) NOT NULL DEFAULT 0,
    duration_ms integer NOT NULL DEFAULT 0,
    success boolean NOT NULL,
    error_kind varchar(100),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_generation_analytics_user_created ON generation_analytics (user_id, created_at);

CREATE TABLE jobs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind varchar(50) NOT NULL,
    book_id uuid REFERENCES books(id) ON DELETE SET NULL,
    queue_job_id bigint,
    status varchar(20) NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    progress_done integer NOT NULL DEFAULT 0,
    progress_total integer NOT NULL DEFAULT 0,
    message text NOT NULL DEFAULT '',
    error text,
    params jsonb NOT NULL DEFAULT '{{}}',
    result jsonb,
    cancel_requested boolean NOT NULL DEFAULT false,
    started_at timestamptz,
    finished_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON COLUMN jobs.queue_job_id IS 'id of the procrastinate job that runs this';
CREATE INDEX idx_jobs_user_created ON jobs (user_id, created_at DESC);
CREATE INDEX idx_jobs_book ON jobs (book_id);

CREATE TABLE cache_entries (
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key text NOT NULL,
    value jsonb NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
COMMENT ON TABLE cache_entries IS 'per-writer cache (model answers, plot drafts): prompts carry the writer''s book, so nothing is shared';
CREATE INDEX idx_cache_entries_expires ON cache_entries (expires_at);
"""

USER_OWNED_POLICIES = """
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
CREATE POLICY {table}_owner ON {table} FOR ALL
    USING ({column} = app_current_user_id())
    WITH CHECK ({column} = app_current_user_id());
"""

ARCHETYPE_POLICIES = """
ALTER TABLE character_archetypes ENABLE ROW LEVEL SECURITY;
ALTER TABLE character_archetypes FORCE ROW LEVEL SECURITY;
CREATE POLICY character_archetypes_read ON character_archetypes FOR SELECT
    USING (is_active OR app_current_user_is_admin());
CREATE POLICY character_archetypes_admin_insert ON character_archetypes FOR INSERT
    WITH CHECK (app_current_user_is_admin());
CREATE POLICY character_archetypes_admin_update ON character_archetypes FOR UPDATE
    USING (app_current_user_is_admin()) WITH CHECK (app_current_user_is_admin());
CREATE POLICY character_archetypes_admin_delete ON character_archetypes FOR DELETE
    USING (app_current_user_is_admin());
"""


def upgrade() -> None:
    run_sql(SCHEMA)
    for table in owned_tables():
        column = "id" if table == "users" else "user_id"
        run_sql(USER_OWNED_POLICIES.format(table=table, column=column))
        if table in ("users", "books", "chapters", "plot_overviews", "characters", "portraits",
                     "chapter_scripts", "jobs"):
            op.execute(f"CREATE TRIGGER update_{table}_updated_at BEFORE UPDATE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();")
    run_sql(ARCHETYPE_POLICIES)
    op.execute("CREATE TRIGGER update_character_archetypes_updated_at BEFORE UPDATE ON character_archetypes "
               "FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();")
    op.bulk_insert(_archetypes_table(), ARCHETYPES)
    install_queue_schema()
    grant_app_role()


def downgrade() -> None:
    drop_queue_schema()
    for table in ("cache_entries", "jobs", "generation_analytics", "usage_logs", "character_archetypes",
                  "chapter_scripts", "portraits", "characters", "plot_overviews", "chunks", "chapters",
                  "book_sources", "books", "user_sessions", "users"):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    for function in ("app_user_count()", "app_session_user(text)", "app_login_lookup(text)",
                     "app_current_user_is_admin()", "update_updated_at_column()", "app_current_user_id()"):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")


def _archetypes_table():
    import sqlalchemy as sa
    from sqlalchemy.dialects.postgresql import JSONB

    return sa.table("character_archetypes", sa.column("name", sa.String), sa.column("description", sa.Text),
                    sa.column("category", sa.String), sa.column("traits", JSONB),
                    sa.column("typical_roles", JSONB), sa.column("example_characters", sa.Text))
