"""Household visits (走访): who visited which household when, whether a fix confirms it,
and each household's last visit.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "visits",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("worker_code", sa.String(40), nullable=False),
        sa.Column("household_code", sa.String(40), nullable=False),
        sa.Column("visited_at", _TZ, nullable=False),
        sa.Column("received_at", _TZ, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("verified", sa.Boolean, nullable=False),
        sa.Column("reason", sa.String(16)),
        sa.Column("distance_m", sa.Float),
        sa.Column("fix_offset_s", sa.Float),
        sa.Column("grid_code", sa.String(32)),
        sa.Column("group_code", sa.String(32)),
        sa.UniqueConstraint("worker_code", "household_code", "visited_at",
                            name="uq_visits_worker_code_household_code_visited_at"),
    )
    op.create_index("ix_visits_household_code_visited_at", "visits",
                    ["household_code", "visited_at"])
    op.create_index("ix_visits_visited_at", "visits", ["visited_at"])
    op.create_index("ix_visits_grid_code_visited_at", "visits", ["grid_code", "visited_at"])
    op.create_table(
        "household_visits",
        sa.Column("household_code", sa.String(40), primary_key=True),
        sa.Column("last_visit_at", _TZ, nullable=False),
        sa.Column("last_verified_at", _TZ),
    )


def downgrade() -> None:
    op.drop_table("household_visits")
    op.drop_table("visits")
