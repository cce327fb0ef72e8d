"""The event outbox.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("area_code", sa.String(32)),
        sa.Column("payload", sa.JSON, nullable=False),
    )
    op.create_index("ix_outbox_at", "outbox", ["at"])


def downgrade() -> None:
    op.drop_table("outbox")
