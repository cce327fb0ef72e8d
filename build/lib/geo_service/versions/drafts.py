"""Boundary versions: drafts, publishing, and which version a request may read.

A new version starts as a draft based on the live one; publishing makes it live in one
transaction (households move to their grids, `BoundaryPublished` goes out) and retires the
previous one. What was live is never edited in place.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from geo_service import events
from geo_service.audit import audit
from geo_service.errors import Conflict, Unavailable
from geo_service.events import BoundaryPublished
from geo_service.households import reassign_households
from geo_service.store.tables import areas, boundary_versions, households, version_removals
from geo_service.versions.reading import UnknownVersion
from geo_service.versions.snapshot import build_indexes


def now() -> datetime:
    return datetime.now(UTC)


# -- versions ---------------------------------------------------------------------------
def live_version(conn: sa.Connection) -> int | None:
    """Id of the live boundary version, or None before anything was published."""
    return conn.execute(sa.select(boundary_versions.c.id)
                        .where(boundary_versions.c.state == "live")).scalar()


def versions(conn: sa.Connection, *, drafts: bool = True) -> list[dict[str, Any]]:
    """Every boundary version, oldest first; without `drafts`, the published ones only."""
    q = sa.select(boundary_versions).order_by(boundary_versions.c.id)
    if not drafts:
        q = q.where(boundary_versions.c.state != "draft")
    return [dict(r._mapping) for r in conn.execute(q)]


def resolve_version(conn: sa.Connection, version: int | None, *,
                    drafts: bool = False) -> int:
    """`version` if it was published (or the live one when None); with `drafts`, a draft
    too. Drafts are private to their planners: `version=` in the API never reaches one, and
    an unknown version and a draft get the same answer."""
    if version is None:
        live = live_version(conn)
        if live is None:
            raise Unavailable("no boundary version has been published yet", code="no_boundaries")
        return live
    state = conn.execute(sa.select(boundary_versions.c.state)
                         .where(boundary_versions.c.id == version)).scalar()
    if state is None or (state == "draft" and not drafts):
        raise UnknownVersion(f"boundary version {version} does not exist or is not published")
    return version


def create_draft(conn: sa.Connection, author: str, note: str = "") -> int:
    """A new draft based on the live version: it sees that version plus its own changes."""
    return conn.execute(boundary_versions.insert().values(
        state="draft", author=author, note=note, created_at=now(),
        base_version=live_version(conn))).inserted_primary_key[0]


def publish(conn: sa.Connection, version: int, actor: str) -> int:
    """Make a draft live: the previous live version retires, every household moves to its
    grid and group in the new one, and `BoundaryPublished` goes out. Refuses a draft that
    was not based on the version live now (someone published in between). Returns how
    many households changed grid or group."""
    row = conn.execute(sa.select(boundary_versions.c.state, boundary_versions.c.base_version)
                       .where(boundary_versions.c.id == version)).first()
    if row is None or row.state != "draft":
        raise Conflict(f"version {version} is {row.state if row else 'missing'}, not a draft",
                       "version", code="not_a_draft")
    live = live_version(conn)
    if row.base_version != live:
        raise Conflict(f"draft {version} was based on version {row.base_version}, but "
                       f"version {live} is live now; import again on top of it", "version",
                       code="stale_draft")
    conn.execute(areas.update().where(areas.c.id.in_(
        sa.select(version_removals.c.area_id).where(version_removals.c.version_id == version)
    )).values(version_to=version))
    conn.execute(version_removals.delete().where(version_removals.c.version_id == version))
    conn.execute(boundary_versions.update().where(boundary_versions.c.state == "live")
                 .values(state="retired"))
    conn.execute(boundary_versions.update().where(boundary_versions.c.id == version)
                 .values(state="live", published_at=now()))
    moved = 0
    if conn.execute(sa.select(households.c.id).limit(1)).first():
        built = build_indexes(conn, version)
        moved = reassign_households(conn, built.grids, built.groups)
    audit(conn, actor, "publish_version", str(version), households_moved=moved)
    events.publish(conn, BoundaryPublished(version=version, previous=live,
                                           households_moved=moved))
    return moved
