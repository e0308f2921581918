"""Character board: NLP annotation cache, character statistics, portraits stored as bytes (issue 10).

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from db.migrations.helpers import grant_app_role, run_sql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = """
CREATE TABLE nlp_annotations (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    book_id uuid NOT NULL,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    content_hash char(64) NOT NULL,
    pipeline varchar(120) NOT NULL,
    words integer NOT NULL,
    annotations jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (book_id, content_hash, pipeline),
    -- the book must be the same writer's (0002's composite key on books)
    CONSTRAINT fk_nlp_annotations_book_owner FOREIGN KEY (book_id, user_id) REFERENCES books(id, user_id)
        ON DELETE CASCADE
);
COMMENT ON COLUMN nlp_annotations.content_hash IS 'sha256 of the chapter text: an edited chapter is read again, the others are not';
COMMENT ON COLUMN nlp_annotations.pipeline IS 'spaCy model, spaCy and annotation versions that produced the row';
CREATE INDEX idx_nlp_annotations_user ON nlp_annotations (user_id);
ALTER TABLE nlp_annotations ENABLE ROW LEVEL SECURITY;
ALTER TABLE nlp_annotations FORCE ROW LEVEL SECURITY;
CREATE POLICY nlp_annotations_owner ON nlp_annotations FOR ALL
    USING (user_id = app_current_user_id())
    WITH CHECK (user_id = app_current_user_id());

ALTER TABLE characters
    ADD COLUMN mention_count integer NOT NULL DEFAULT 0,
    ADD COLUMN dialogue_count integer NOT NULL DEFAULT 0,
    ADD COLUMN chapter_count integer NOT NULL DEFAULT 0,
    ADD COLUMN importance_rank integer;
COMMENT ON COLUMN characters.importance_rank IS '1 = the most important character of the book (mentions, dialogue, chapters present)';
CREATE INDEX idx_characters_key_version ON characters (character_key, version DESC);

ALTER TABLE portraits
    ALTER COLUMN image_path DROP NOT NULL,
    ADD COLUMN image_data bytea,
    ADD COLUMN mime_type varchar(50),
    ADD COLUMN is_current boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT portraits_image_stored CHECK (image_data IS NOT NULL OR image_path IS NOT NULL);
COMMENT ON COLUMN portraits.image_data IS 'the image itself: a provider URL expires, the bytes do not';
CREATE UNIQUE INDEX portraits_one_current ON portraits (character_key) WHERE is_current;
"""


def upgrade() -> None:
    run_sql(SCHEMA)
    grant_app_role()


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS portraits_one_current")
    op.execute("DELETE FROM portraits WHERE image_path IS NULL")
    op.execute("ALTER TABLE portraits DROP CONSTRAINT IF EXISTS portraits_image_stored, DROP COLUMN is_current, "
               "DROP COLUMN mime_type, DROP COLUMN image_data, ALTER COLUMN image_path SET NOT NULL")
    op.execute("DROP INDEX IF EXISTS idx_characters_key_version")
    op.execute("ALTER TABLE characters DROP COLUMN importance_rank, DROP COLUMN chapter_count, "
               "DROP COLUMN dialogue_count, DROP COLUMN mention_count")
    op.execute("DROP TABLE IF EXISTS nlp_annotations")
