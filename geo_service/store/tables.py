"""The store's tables (SQLAlchemy Core). The schema itself is created by Alembic; a test
checks that the migrations and these definitions agree.

Areas follow MapIt's generations: a row is valid from the published version that
introduced it (`version_from`) until the published version that replaced it (`version_to`,
set when that one is published; NULL while live). A draft's removals wait in
`version_removals` until then, so a draft changes what no other version sees. Publishing
never edits what was live in place, so every earlier version can still be asked for.
"""

from __future__ import annotations

import sqlalchemy as sa

from geo_service.store.geometry import Geom

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

boundary_versions = sa.Table(
    "boundary_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("author", sa.String(100), nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("published_at", sa.DateTime(timezone=True)),
    # The published version a draft starts from (for a published one: the one before).
    sa.Column("base_version", sa.Integer, sa.ForeignKey("boundary_versions.id")),
)

areas = sa.Table(
    "areas",
    metadata,
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
    sa.Index(None, "level", "version_from", "version_to"),
    sa.Index(None, "code"),
    sa.Index(None, "parent_code"),
)

# Areas a draft replaces, kept aside until it is published (then `version_to` is set), so
# a draft never changes what any other version sees.
version_removals = sa.Table(
    "version_removals",
    metadata,
    sa.Column("version_id", sa.Integer,
              sa.ForeignKey("boundary_versions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("area_id", sa.Integer, sa.ForeignKey("areas.id", ondelete="CASCADE"),
              primary_key=True),
)

households = sa.Table(
    "households",
    metadata,
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
    sa.Index(None, "grid_code"),
    sa.Index(None, "group_code"),
)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(40), nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("phone", sa.String(32), nullable=False, server_default=""),
    sa.Column("on_duty", sa.Boolean, nullable=False, server_default=sa.false()),
)

# A worker answers for one or more areas (a grid guide covers several grids).
worker_areas = sa.Table(
    "worker_areas",
    metadata,
    sa.Column("worker_id", sa.Integer, sa.ForeignKey("workers.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("area_code", sa.String(32), primary_key=True),
    sa.Index(None, "area_code"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(12), nullable=False),
    # Rights belong to the token: a second token under the same name never changes them.
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("area_code", sa.String(32)),
    # The field worker this token belongs to (positions, "my cases"); a code, not a row
    # id, so a roster reload that replaces the worker rows keeps the link.
    sa.Column("worker_code", sa.String(40)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("action", sa.String(50), nullable=False),
    sa.Column("target", sa.String(100), nullable=False, server_default=""),
    sa.Column("detail", sa.JSON, nullable=False),
)

# Every event, durable and in commit order (see `outbox.py`): the stream reads it.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(50), nullable=False),
    sa.Column("area_code", sa.String(32)),  # whose scope may see it; NULL: every scope
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Index(None, "at"),
)
