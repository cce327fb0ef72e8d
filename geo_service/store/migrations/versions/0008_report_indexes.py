"""Reports: the duplicate check's index leads with the latitude, not the time.

The check at intake looks for an open report of the same subtype within a radius and a
time window. Led by (subtype, occurred_at), the index hands it every report of the subtype
in the window, each read from the table: thousands during a burst of reports, and intake
slowed as they came in. Led by (subtype, lat), it hands it a band one radius wide.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_reports_subtype_occurred_at", table_name="reports")
    op.create_index("ix_reports_subtype_lat", "reports", ["subtype", "lat"])


def downgrade() -> None:
    op.drop_index("ix_reports_subtype_lat", table_name="reports")
    op.create_index("ix_reports_subtype_occurred_at", "reports", ["subtype", "occurred_at"])
