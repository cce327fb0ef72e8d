"""Workers in the field: the trail of GPS fixes, the current state, patrol per day.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "worker_positions",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("worker_code", sa.String(40), nullable=False),
        sa.Column("recorded_at", _TZ, nullable=False),
        sa.Column("received_at", _TZ, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("accuracy_m", sa.Float),
        sa.Column("speed", sa.Float),
        sa.Column("heading", sa.Float),
        sa.Column("grid_code", sa.String(32)),
        sa.Column("flag", sa.String(16)),
        sa.UniqueConstraint("worker_code", "recorded_at",
                            name="uq_worker_positions_worker_code_recorded_at"),
    )
    op.create_index("ix_worker_positions_recorded_at", "worker_positions", ["recorded_at"])
    op.create_table(
        "worker_state",
        sa.Column("worker_code", sa.String(40), primary_key=True),
        sa.Column("lon", sa.Float),
        sa.Column("lat", sa.Float),
        sa.Column("recorded_at", _TZ),
        sa.Column("accuracy_m", sa.Float),
        sa.Column("grid_code", sa.String(32)),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("status_at", _TZ, nullable=False),
        sa.Column("dwell_grid", sa.String(32)),
        sa.Column("candidate_grid", sa.String(32)),
        sa.Column("candidate_since", _TZ),
        sa.Column("updated_at", _TZ, nullable=False),
    )
    op.create_index("ix_worker_state_updated_at", "worker_state", ["updated_at"])
    op.create_table(
        "patrol_days",
        sa.Column("worker_code", sa.String(40), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("grid_code", sa.String(32), primary_key=True),
        sa.Column("inside_s", sa.Float, nullable=False),
        sa.Column("distance_m", sa.Float, nullable=False),
    )
    op.create_index("ix_patrol_days_day_grid_code", "patrol_days", ["day", "grid_code"])


def downgrade() -> None:
    op.drop_table("patrol_days")
    op.drop_table("worker_state")
    op.drop_table("worker_positions")
