"""The grid registry: boundary versions, areas, households, workers, users, tokens, audit.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from geo_service.store.geometry import Geom

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _now() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "boundary_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        _now(),
        sa.Column("published_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "areas",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32)),
        sa.Column("parent_code", sa.String(32)),
        sa.Column("synthetic", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("version_from", sa.Integer, sa.ForeignKey("boundary_versions.id"),
              nullable=False),
        sa.Column("version_to", sa.Integer, sa.ForeignKey("boundary_versions.id")),
        sa.Column("geom", Geom("MULTIPOLYGON"), nullable=False),
    )
    op.create_index("ix_areas_level_version_from_version_to", "areas",
                    ["level", "version_from", "version_to"])
    op.create_index("ix_areas_code", "areas", ["code"])
    op.create_index("ix_areas_parent_code", "areas", ["parent_code"])
    op.create_table(
        "households",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(40), nullable=False, unique=True),
        sa.Column("address", sa.String(300), nullable=False, server_default=""),
        sa.Column("grid_code", sa.String(32)),
        sa.Column("group_code", sa.String(32)),
        sa.Column("head_name", sa.String(100), nullable=False, server_default=""),
        sa.Column("phone", sa.String(32), nullable=False, server_default=""),
        sa.Column("members", sa.Integer, nullable=False, server_default="1"),
        sa.Column("care_tags", sa.String(200), nullable=False, server_default=""),
        sa.Column("geom", Geom("POINT"), nullable=False),
    )
    op.create_index("ix_households_grid_code", "households", ["grid_code"])
    op.create_index("ix_households_group_code", "households", ["group_code"])
    if postgres:
        op.execute("CREATE INDEX ix_areas_geom ON areas USING GIST (geom)")
        op.execute("CREATE INDEX ix_households_geom ON households USING GIST (geom)")
    op.create_table(
        "workers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(40), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False, server_default=""),
        sa.Column("on_duty", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "worker_areas",
        sa.Column("worker_id", sa.Integer, sa.ForeignKey("workers.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("area_code", sa.String(32), primary_key=True),
    )
    op.create_index("ix_worker_areas_area_code", "worker_areas", ["area_code"])
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("area_code", sa.String(32)),
        _now(),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(12), nullable=False),
        _now(),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("target", sa.String(100), nullable=False, server_default=""),
        sa.Column("detail", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_log", "api_tokens", "users", "worker_areas", "workers",
                  "households", "areas", "boundary_versions"):
        op.drop_table(table)
