"""The boundary editor's drafts: each draft's editing scope, and its edit log for undo
and redo.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "draft_scopes",
        sa.Column("draft_id", sa.Integer,
                  sa.ForeignKey("boundary_versions.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("area_code", sa.String(32)),
    )
    op.create_table(
        "draft_edits",
        sa.Column("draft_id", sa.Integer,
                  sa.ForeignKey("boundary_versions.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("op", sa.JSON, nullable=False),
        sa.Column("before", sa.JSON, nullable=False),
        sa.Column("after", sa.JSON, nullable=False),
        sa.Column("undone", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("at", _TZ, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("draft_edits")
    op.drop_table("draft_scopes")
