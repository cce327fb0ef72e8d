"""Reports (cases) and their event log.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)
_LEVEL_CODES = ("prefecture_code", "county_code", "township_code", "village_code",
                "grid_code", "group_code")


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("class", sa.String(16), nullable=False),
        sa.Column("subtype", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("occurred_at", _TZ, nullable=False),
        sa.Column("received_at", _TZ, nullable=False),
        sa.Column("received_day", sa.String(10), nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("owner_level", sa.String(16), nullable=False),
        sa.Column("owner_code", sa.String(32), nullable=False),
        *(sa.Column(c, sa.String(32)) for c in _LEVEL_CODES),
        sa.Column("outside", sa.Boolean, nullable=False),
        sa.Column("nearest_m", sa.Float),
        sa.Column("boundary_version", sa.Integer, nullable=False),
        sa.Column("due_at", _TZ, nullable=False),
        sa.Column("escalations", sa.Integer, nullable=False),
        sa.Column("peak_rank", sa.Integer, nullable=False),
        sa.Column("assigned_worker", sa.String(40)),
        sa.Column("reporter_worker", sa.String(40)),
        sa.Column("reporter_name", sa.String(100), nullable=False),
        sa.Column("reporter_phone", sa.String(32), nullable=False),
        sa.Column("media_urls", sa.JSON, nullable=False),
        sa.Column("suggested_duplicate_of", sa.String(36)),
        sa.Column("merged_into", sa.String(36)),
        sa.Column("accepted_at", _TZ),
        sa.Column("closed_at", _TZ),
        sa.Column("closed_day", sa.String(10)),
        sa.Column("accept_s", sa.Integer),
        sa.Column("close_s", sa.Integer),
        sa.UniqueConstraint("id", name="uq_reports_id"),
    )
    for col in ("status", "received_at", "due_at", "county_code", "township_code",
                "village_code", "grid_code"):
        op.create_index(f"ix_reports_{col}", "reports", [col])
    op.create_index("ix_reports_subtype_occurred_at", "reports", ["subtype", "occurred_at"])
    op.create_table(
        "report_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("report_seq", sa.Integer, sa.ForeignKey("reports.seq"), nullable=False),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("owner_level", sa.String(16), nullable=False),
        sa.Column("owner_code", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_index("ix_report_events_report_seq", "report_events", ["report_seq"])


def downgrade() -> None:
    op.drop_table("report_events")
    op.drop_table("reports")
