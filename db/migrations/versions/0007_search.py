"""Hybrid search: a generated tsvector column with a GIN index on chunks; merge seams on chapters (issue 7).

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Generated, so every way rows arrive (COPY through chunk_load, INSERT) gets its words indexed.
    op.execute("ALTER TABLE chunks ADD COLUMN search_vector tsvector "
               "GENERATED ALWAYS AS (to_tsvector('english'::regconfig, text)) STORED")
    op.execute("COMMENT ON COLUMN chunks.search_vector IS "
               "'the chunk''s words (english stemming), for the words half of hybrid search'")
    op.execute("CREATE INDEX idx_chunks_search_vector ON chunks USING gin (search_vector)")
    op.execute("ALTER TABLE chapters ADD COLUMN merge_seams jsonb NOT NULL DEFAULT '[]'")
    op.execute("COMMENT ON COLUMN chapters.merge_seams IS "
               "'where merges joined chapters into this one: [{at, heading, title}], so a split there restores them'")


def downgrade() -> None:
    op.execute("ALTER TABLE chapters DROP COLUMN merge_seams")
    op.execute("DROP INDEX idx_chunks_search_vector")
    op.execute("ALTER TABLE chunks DROP COLUMN search_vector")
