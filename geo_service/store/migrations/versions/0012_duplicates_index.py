"""Reports: the duplicate check's index also holds the longitude and the time; two
indexes that others already begin with are gone.

Led by (subtype, lat), the index handed the check every report of the subtype in a band
one radius wide across the whole prefecture, and each was read from the table to test its
longitude and time: the check cost grew with the reports stored (175 µs per report at
25,000 on SQLite). With (subtype, lat, lon, occurred_at) the box and the window are tested
in the index, and only reports inside both are read from the table (84 µs).

`ix_reports_status` and `ix_reports_received_at` each repeat the first column of a
covering index (`ix_reports_kpi_open`, `ix_reports_kpi_received`), which serves the same
filters; every report written updated both for nothing.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


REPEATED = {"ix_reports_status": ["status"], "ix_reports_received_at": ["received_at"]}


def upgrade() -> None:
    op.drop_index("ix_reports_subtype_lat", table_name="reports")
    op.create_index("ix_reports_duplicates", "reports", ["subtype", "lat", "lon", "occurred_at"])
    for name in REPEATED:
        op.drop_index(name, table_name="reports")


def downgrade() -> None:
    for name, columns in REPEATED.items():
        op.create_index(name, "reports", columns)
    op.drop_index("ix_reports_duplicates", table_name="reports")
    op.create_index("ix_reports_subtype_lat", "reports", ["subtype", "lat"])
