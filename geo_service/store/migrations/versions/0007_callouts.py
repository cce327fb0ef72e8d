"""Emergency call-outs ("one order", 一声令): the order and the workers it called.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "callouts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("area_code", sa.String(32), nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("radius_m", sa.Float),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("not_called", sa.JSON, nullable=False),
        sa.Column("boundary_version", sa.Integer, nullable=False),
        sa.Column("closed_at", _TZ),
    )
    op.create_index("ix_callouts_created_at", "callouts", ["created_at"])
    op.create_index("ix_callouts_area_code", "callouts", ["area_code"])
    op.create_table(
        "callout_targets",
        sa.Column("callout_id", sa.String(36), sa.ForeignKey("callouts.id"),
                  primary_key=True),
        sa.Column("worker_code", sa.String(40), primary_key=True),
        sa.Column("area_code", sa.String(32)),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("notified_at", _TZ, nullable=False),
        sa.Column("call_lon", sa.Float),
        sa.Column("call_lat", sa.Float),
        sa.Column("call_distance_m", sa.Float),
        sa.Column("acked_at", _TZ),
        sa.Column("ack_lon", sa.Float),
        sa.Column("ack_lat", sa.Float),
        sa.Column("ack_distance_m", sa.Float),
    )
    op.create_index("ix_callout_targets_worker_code", "callout_targets", ["worker_code"])


def downgrade() -> None:
    op.drop_table("callout_targets")
    op.drop_table("callouts")
