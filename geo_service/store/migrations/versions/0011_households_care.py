"""Households: an index of the care households, for the visit figures of the stats.

`GET /api/v1/stats` counts the households of the area, those with a verified visit in
the last 30 days and the care households overdue. One query over every household's row
(206,400 in the demo, each with its address, head, phone and point) took 57-105 ms of
CPU on SQLite for the prefecture; counted apart (the households from the grid index, the
overdue care households from this index, which holds the few columns they need) it takes
~25 ms.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_households_care", "households", ["care_tags", "grid_code", "code"])


def downgrade() -> None:
    op.drop_index("ix_households_care", table_name="households")
