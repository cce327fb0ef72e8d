"""Reports: indexes for the duplicate check, the KPIs, and a worker's cases.

The duplicate check's index leads with the latitude, not the time.

The check at intake looks for an open report of the same subtype within a radius and a
time window. Led by (subtype, occurred_at), the index hands it every report of the subtype
in the window, each read from the table: thousands during a burst of reports, and intake
slowed as they came in. Led by (subtype, lat), it hands it a band one radius wide.

The KPIs (`cases/stats.py`) read a few narrow columns of every case in an area; from the
table itself that is a scan of wide rows (descriptions and all): 0.4–0.7 s for 100,000
cases on SQLite. Three covering indexes hold exactly those columns (the case's state and
times, then the area columns the scope and `area=` filter on), so each query reads an index
and never the table: 0.1–0.2 s. `assigned_worker` serves "my cases" and the open-case
counts of dispatch candidates.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


AREAS = ["prefecture_code", "county_code", "township_code", "village_code", "grid_code"]
KPI = {
    "ix_reports_kpi": ["class", "status", "received_at", "due_at", "closed_at", "merged_into",
                       "peak_rank", "outside", "accept_s", "close_s", *AREAS],
    "ix_reports_kpi_received": ["received_at", "received_day", "accept_s", *AREAS],
    "ix_reports_kpi_closed": ["closed_at", "closed_day", "close_s", "merged_into", *AREAS],
}


def upgrade() -> None:
    op.drop_index("ix_reports_subtype_occurred_at", table_name="reports")
    op.create_index("ix_reports_subtype_lat", "reports", ["subtype", "lat"])
    op.create_index("ix_reports_assigned_worker", "reports", ["assigned_worker"])
    for name, columns in KPI.items():
        op.create_index(name, "reports", columns)


def downgrade() -> None:
    for name in KPI:
        op.drop_index(name, table_name="reports")
    op.drop_index("ix_reports_assigned_worker", table_name="reports")
    op.drop_index("ix_reports_subtype_lat", table_name="reports")
    op.create_index("ix_reports_subtype_occurred_at", "reports", ["subtype", "occurred_at"])
