"""Boundary versions: drafts, publishing, and which version a request may read.

A new version starts as a draft based on the live one; publishing makes it live in one
transaction (households move to their grids, `BoundaryPublished` goes out) and retires the
previous one. What was live is never edited in place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from geo_service import events
from geo_service.audit import audit
from geo_service.errors import Conflict, Unavailable
from geo_service.events import BoundaryPublished
from geo_service.scope import EVERYTHING, Scope
from geo_service.store.tables import areas, boundary_versions, version_removals
from geo_service.versions.reading import UnknownVersion


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


def publish(conn: sa.Connection, version: int, actor: str, *, note: str | None = None,
            undo_after: int | None = None, scope: Scope = EVERYTHING) -> Published:
    """Make a draft live in the caller's transaction: groups take the grid covering most
    of them, the previous live version retires, households, workers' areas and open cases
    move (`publishing`), an audit record and `BoundaryPublished` are written. Refuses a
    draft not based on the live version (409 `stale_draft`, `detail.changed` saying what
    was published since). `undo_after`: a rollback to that version first undoes the
    worker moves of every publish after it. A scoped caller may publish only changes
    inside its area (403 `out_of_scope`)."""
    from geo_service.versions import publishing
    from geo_service.versions.history import diff_versions, undo_worker_moves
    from geo_service.versions.impact import check_scope, plan_moves

    row = conn.execute(sa.select(boundary_versions.c.state, boundary_versions.c.base_version)
                       .where(boundary_versions.c.id == version)).first()
    if row is None:
        raise UnknownVersion(f"boundary version {version} does not exist")
    if row.state != "draft":
        raise Conflict(f"version {version} is {row.state}, not a draft", "version",
                       code="not_a_draft")
    live = live_version(conn)
    if row.base_version != live:
        changed = ({k: [d["code"] for d in v] for k, v in
                    diff_versions(conn, row.base_version, live).items()
                    if isinstance(v, list)} if row.base_version and live else {})
        raise Conflict(f"draft {version} was based on version {row.base_version}, but "
                       f"version {live} is live now; import again on top of it", "version",
                       code="stale_draft", detail={"base_version": row.base_version,
                                                   "live_version": live,
                                                   "changed": changed})
    plan = plan_moves(conn, version, lock=True)
    check_scope(conn, plan, scope)
    publishing.regroup(conn, plan)
    conn.execute(areas.update().where(areas.c.id.in_(
        sa.select(version_removals.c.area_id).where(version_removals.c.version_id == version)
    )).values(version_to=version))
    conn.execute(version_removals.delete().where(version_removals.c.version_id == version))
    conn.execute(boundary_versions.update().where(boundary_versions.c.state == "live")
                 .values(state="retired"))
    at = now()
    conn.execute(boundary_versions.update().where(boundary_versions.c.id == version)
                 .values(state="live", published_at=at, **({"note": note} if note else {})))
    moved = publishing.move_households(conn, plan)
    worker_moves = undo_worker_moves(conn, undo_after) if undo_after is not None else []
    worker_moves += publishing.move_workers(conn, plan)
    cases = publishing.move_cases(conn, plan, version, actor, at)
    result = Published(version=version, previous=live, households_moved=moved,
                       groups_moved=len(plan.groups), workers_moved=len(worker_moves),
                       cases_moved=cases)
    audit(conn, actor, "publish_version", str(version), **result.to_dict(),
          note=note or "", worker_moves=worker_moves)
    events.publish(conn, BoundaryPublished(version=version, previous=live,
                                           households_moved=moved))
    return result


@dataclass(frozen=True)
class Published:
    """What a publish did: the new live version, the one before, and what moved."""

    version: int
    previous: int | None
    households_moved: int
    groups_moved: int
    workers_moved: int
    cases_moved: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
