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
    # The care households of an area without reading the wide rows (migration 0011).
    sa.Index("ix_households_care", "care_tags", "grid_code", "code"),
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

# Reports (cases). `id` is the client's UUID (idempotent intake); `seq` orders them for
# paging. The area chain is kept per level, so "everything below area X" and the scope
# policy are one indexed equality, and stats group by a column.
_TZ = sa.DateTime(timezone=True)
_AREA_COLUMNS = ("prefecture_code", "county_code", "township_code", "village_code",
                 "grid_code")
reports = sa.Table(
    "reports",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("content_hash", sa.String(64), nullable=False),  # what a retry must repeat
    sa.Column("class", sa.String(16), nullable=False),
    sa.Column("subtype", sa.String(32), nullable=False),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("lon", sa.Float, nullable=False),  # WGS84, whatever CRS it was sent in
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("occurred_at", _TZ, nullable=False),
    sa.Column("received_at", _TZ, nullable=False),
    sa.Column("received_day", sa.String(10), nullable=False),  # local date, for daily series
    sa.Column("updated_at", _TZ, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),  # optimistic concurrency
    sa.Column("owner_level", sa.String(16), nullable=False),
    sa.Column("owner_code", sa.String(32), nullable=False),
    sa.Column("prefecture_code", sa.String(32)),
    sa.Column("county_code", sa.String(32)),
    sa.Column("township_code", sa.String(32)),
    sa.Column("village_code", sa.String(32)),
    sa.Column("grid_code", sa.String(32)),
    sa.Column("group_code", sa.String(32)),
    sa.Column("outside", sa.Boolean, nullable=False),  # in no grid: routed to a township
    sa.Column("nearest_m", sa.Float),
    sa.Column("boundary_version", sa.Integer, nullable=False),
    sa.Column("due_at", _TZ, nullable=False),
    sa.Column("escalations", sa.Integer, nullable=False),
    # The highest level that ever owned it (index in LEVELS): 4 = never left the grid.
    sa.Column("peak_rank", sa.Integer, nullable=False),
    sa.Column("assigned_worker", sa.String(40)),
    sa.Column("reporter_worker", sa.String(40)),
    sa.Column("reporter_name", sa.String(100), nullable=False),  # a citizen's: PII
    sa.Column("reporter_phone", sa.String(32), nullable=False),
    sa.Column("media_urls", sa.JSON, nullable=False),
    sa.Column("suggested_duplicate_of", sa.String(36)),
    sa.Column("merged_into", sa.String(36)),
    sa.Column("accepted_at", _TZ),
    sa.Column("closed_at", _TZ),
    sa.Column("closed_day", sa.String(10)),
    sa.Column("accept_s", sa.Integer),  # seconds from receipt, for the median KPIs
    sa.Column("close_s", sa.Integer),
    # Filters on the status or the receipt time use the covering indexes below, which
    # begin with those columns (migration 0012 dropped the single-column ones).
    sa.Index(None, "due_at"),
    sa.Index(None, "county_code"),
    sa.Index(None, "township_code"),
    sa.Index(None, "village_code"),
    sa.Index(None, "grid_code"),
    # The duplicate check at intake: its box and window within the index (0008, 0012).
    sa.Index("ix_reports_duplicates", "subtype", "lat", "lon", "occurred_at"),
    sa.Index(None, "assigned_worker"),
    # Covering indexes for the KPIs (migrations 0008, 0010): each stats query reads a
    # range of one of these (open cases; received, or closed, in the window), or walks
    # one in the order of a median's column, and never the wide rows.
    sa.Index("ix_reports_kpi_open", "status", "class", "due_at", *_AREA_COLUMNS),
    sa.Index("ix_reports_kpi_received", "received_at", "received_day", "class", "accept_s",
             *_AREA_COLUMNS),
    sa.Index("ix_reports_kpi_closed", "closed_at", "closed_day", "class", "close_s",
             "merged_into", "peak_rank", "outside", *_AREA_COLUMNS),
    sa.Index("ix_reports_accept_s", "accept_s", "received_at", *_AREA_COLUMNS),
    sa.Index("ix_reports_close_s", "close_s", "closed_at", "merged_into", *_AREA_COLUMNS),
)

# Every step of every report, appended and never rewritten: the case's history.
report_events = sa.Table(
    "report_events",
    metadata,
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
    sa.Index(None, "report_seq"),
)

# Every GPS fix a worker's phone sent, kept `TRAIL_DAYS`; a repeat of the same
# `recorded_at` is the same fix (phones resend). `flag` says why a fix was not used as the
# current position (inaccurate, too_fast, late).
worker_positions = sa.Table(
    "worker_positions",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
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
    sa.UniqueConstraint("worker_code", "recorded_at"),
    sa.Index(None, "recorded_at"),
)

# Where each worker is now and what the service last said about it: the newest good fix,
# the status last announced, and the dwell rule's state (which grid the worker is "in",
# and the grid it may be entering since when). Keyed by code: roster reloads keep it.
worker_state = sa.Table(
    "worker_state",
    metadata,
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
    sa.Index(None, "updated_at"),
)

# Patrol per worker, local day and grid ('' : outside any grid the worker dwelt in):
# seconds inside and metres walked, added up as fixes arrive.
patrol_days = sa.Table(
    "patrol_days",
    metadata,
    sa.Column("worker_code", sa.String(40), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("grid_code", sa.String(32), primary_key=True),
    sa.Column("inside_s", sa.Float, nullable=False),
    sa.Column("distance_m", sa.Float, nullable=False),
    sa.Index(None, "day", "grid_code"),
)

# Emergency call-outs ("one order", 一声令): an area, or a radius around a point (the
# point is where to go; for an area, a point inside it unless one is given), the roles
# called and the message. `area_code` is where it belongs for the scope policy (the area
# called, or the grid or township of the point); `not_called` counts the matching workers
# who were off duty or offline at the time.
callouts = sa.Table(
    "callouts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("created_at", _TZ, nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("area_code", sa.String(32), nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("radius_m", sa.Float),  # NULL: the whole area
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("not_called", sa.JSON, nullable=False),
    sa.Column("boundary_version", sa.Integer, nullable=False),
    sa.Column("closed_at", _TZ),
    sa.Index(None, "created_at"),
    sa.Index(None, "area_code"),
)

# Each worker a call-out reached: where it was when called (to tell who is on the way),
# and its acknowledgement (when, where, how far from the point).
callout_targets = sa.Table(
    "callout_targets",
    metadata,
    sa.Column("callout_id", sa.String(36), sa.ForeignKey("callouts.id"), primary_key=True),
    sa.Column("worker_code", sa.String(40), primary_key=True),
    sa.Column("area_code", sa.String(32)),  # the worker's home area: whose scope sees it
    sa.Column("status", sa.String(10), nullable=False),  # online or stale when called
    sa.Column("notified_at", _TZ, nullable=False),
    sa.Column("call_lon", sa.Float),
    sa.Column("call_lat", sa.Float),
    sa.Column("call_distance_m", sa.Float),
    sa.Column("acked_at", _TZ),
    sa.Column("ack_lon", sa.Float),
    sa.Column("ack_lat", sa.Float),
    sa.Column("ack_distance_m", sa.Float),
    sa.Index(None, "worker_code"),
)

# Household visits (走访): one row per worker, household and `visited_at` (a phone's resend
# is the same visit). `verified` when the worker's fix nearest in time lay within
# `VISIT_RADIUS_M`; otherwise `reason` says why not (`no_fix`, `too_far`). The household's
# grid and group are kept as they were at the time, for history and the event's scope.
visits = sa.Table(
    "visits",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("worker_code", sa.String(40), nullable=False),
    sa.Column("household_code", sa.String(40), nullable=False),
    sa.Column("visited_at", _TZ, nullable=False),
    sa.Column("received_at", _TZ, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("verified", sa.Boolean, nullable=False),
    sa.Column("reason", sa.String(16)),
    sa.Column("distance_m", sa.Float),
    sa.Column("fix_offset_s", sa.Float),  # the fix's recorded_at minus visited_at
    sa.Column("grid_code", sa.String(32)),
    sa.Column("group_code", sa.String(32)),
    sa.UniqueConstraint("worker_code", "household_code", "visited_at"),
    sa.Index(None, "household_code", "visited_at"),
    sa.Index(None, "visited_at"),
    sa.Index(None, "grid_code", "visited_at"),
)

# Each household's last visit and last verified visit (by household code, so a roster
# reload keeps it): coverage joins this one row per household instead of aggregating
# every visit in the window on every request.
household_visits = sa.Table(
    "household_visits",
    metadata,
    sa.Column("household_code", sa.String(40), primary_key=True),
    sa.Column("last_visit_at", _TZ, nullable=False),
    sa.Column("last_verified_at", _TZ),
)

# The boundary editor's drafts (issue #12). Each draft may be limited to one area (a
# township's grids): its editing scope, never wider than its author's token.
draft_scopes = sa.Table(
    "draft_scopes",
    metadata,
    sa.Column("draft_id", sa.Integer,
              sa.ForeignKey("boundary_versions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("area_code", sa.String(32)),  # NULL: the whole tree
)

# Every edit of a draft, in order, with the state of each area it touched before and after
# (`editing.states`): undo restores `before`, redo `after`. A new edit drops the undone ones.
draft_edits = sa.Table(
    "draft_edits",
    metadata,
    sa.Column("draft_id", sa.Integer,
              sa.ForeignKey("boundary_versions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("op", sa.JSON, nullable=False),
    sa.Column("before", sa.JSON, nullable=False),
    sa.Column("after", sa.JSON, nullable=False),
    sa.Column("undone", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("author", sa.String(100), nullable=False),
    sa.Column("at", _TZ, nullable=False),
)
