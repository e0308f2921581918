"""Library hardening: front/back matter beside chapters, and which splitter made a book's chapters (issue 7).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
ALTER TABLE chapters ADD COLUMN kind varchar(20) NOT NULL DEFAULT 'chapter'
    CONSTRAINT ck_chapters_kind CHECK (kind IN ('chapter', 'front_matter', 'back_matter'));
COMMENT ON COLUMN chapters.kind IS
    'chapter, or front/back matter (title page, preface, index...): kept, but not numbered as a chapter';
ALTER TABLE books ADD COLUMN splitter_version varchar(20);
ALTER TABLE books ADD COLUMN split_parameters jsonb NOT NULL DEFAULT '{}';
COMMENT ON COLUMN books.splitter_version IS 'version of the chapter splitter that made the chapters (a newer one can offer a re-split)';
COMMENT ON COLUMN books.split_parameters IS 'the splitter''s thresholds when the chapters were made';
""")


def downgrade() -> None:
    op.execute("""
ALTER TABLE books DROP COLUMN split_parameters;
ALTER TABLE books DROP COLUMN splitter_version;
ALTER TABLE chapters DROP COLUMN kind;
""")
