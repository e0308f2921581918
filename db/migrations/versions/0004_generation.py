"""Generation layer and plot overview: structured-output memory, chapter summary cache, plot fields (issue 9).

The LLM cache lives in the existing writer-owned `cache_entries` table (keys `llm:…`), so no table is added for it.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from core.config import get_settings
from db.migrations.helpers import run_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = """
CREATE TABLE chapter_summaries (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    book_id uuid NOT NULL,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    content_sha256 char(64) NOT NULL,
    model varchar(100) NOT NULL,
    prompt_version varchar(40) NOT NULL,
    summary text NOT NULL,
    tokens_in integer NOT NULL DEFAULT 0,
    tokens_out integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (book_id, content_sha256, model, prompt_version),
    -- the book must be this writer's own (0002's composite key), not merely one they can name
    CONSTRAINT fk_chapter_summaries_book_owner FOREIGN KEY (book_id, user_id) REFERENCES books(id, user_id)
        ON DELETE CASCADE
);
COMMENT ON TABLE chapter_summaries IS 'map step of the whole-book analysis: one summary per chapter text, model and prompt version';
COMMENT ON COLUMN chapter_summaries.model IS 'model name, or ''offline''';
CREATE INDEX idx_chapter_summaries_user ON chapter_summaries (user_id);
ALTER TABLE chapter_summaries ENABLE ROW LEVEL SECURITY;
ALTER TABLE chapter_summaries FORCE ROW LEVEL SECURITY;
CREATE POLICY chapter_summaries_owner ON chapter_summaries FOR ALL
    USING (user_id = app_current_user_id())
    WITH CHECK (user_id = app_current_user_id());

CREATE TABLE llm_endpoint_methods (
    endpoint text NOT NULL,
    model text NOT NULL,
    method varchar(20) NOT NULL CHECK (method IN ('json_schema', 'function_calling', 'json_mode', 'prompt')),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (endpoint, model)
);
COMMENT ON TABLE llm_endpoint_methods IS 'which structured-output method an endpoint + model last accepted (no writer data)';

ALTER TABLE plot_overviews
    ADD COLUMN custom_instructions text,
    ADD COLUMN origin varchar(20) NOT NULL DEFAULT 'generated'
        CHECK (origin IN ('generated', 'edited', 'restored', 'refreshed')),
    ADD COLUMN chapter_hashes jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN provenance jsonb NOT NULL DEFAULT '{}';
COMMENT ON COLUMN plot_overviews.custom_instructions IS 'the writer''s instructions that steered generation';
COMMENT ON COLUMN plot_overviews.origin IS 'generated, edited, restored or refreshed';
COMMENT ON COLUMN plot_overviews.chapter_hashes IS 'chapter id -> content hash the overview was generated from (stale when they differ)';
COMMENT ON COLUMN plot_overviews.provenance IS 'how it was made beyond the provenance columns: label, tier, structured-output method, calls, cache hits';
"""


def upgrade() -> None:
    run_sql(SCHEMA)
    role = get_settings().app_db_role
    op.execute(f"GRANT SELECT, INSERT, DELETE ON chapter_summaries TO {role}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON llm_endpoint_methods TO {role}")


def downgrade() -> None:
    run_sql("""
ALTER TABLE plot_overviews DROP COLUMN provenance, DROP COLUMN chapter_hashes, DROP COLUMN origin,
    DROP COLUMN custom_instructions;
DROP TABLE llm_endpoint_methods;
DROP TABLE chapter_summaries;
""")
