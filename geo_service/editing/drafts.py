"""Drafts as the editor sees them: opening one for an area, who may see and change it,
what it looks like, and discarding it.

Why here and not in `versions.drafts`: a draft there is a boundary version; here it is a
planner's piece of work with an editing area and an edit log. Visibility follows the one
scope policy: a token limited to an area sees the drafts whose area lies inside its own
(a draft of the whole tree only unscoped tokens see); only the draft's author or an admin
changes or discards it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from boundaries.levels import LEVELS
from geo_service.audit import audit
from geo_service.auth import Principal
from geo_service.errors import Forbidden, Invalid, NotFound, Unavailable
from geo_service.scope import Scope
from geo_service.store.tables import (
    areas,
    boundary_versions,
    draft_edits,
    draft_scopes,
    version_removals,
)
from geo_service.versions import VersionIndex, create_draft, live_version
from geo_service.versions.reading import valid_in_draft

MAX_NOTE = 2_000


@dataclass(frozen=True)
class Draft:
    id: int
    author: str
    note: str
    created_at: datetime
    base: int | None
    area: str | None  # the editing area; None: the whole tree


class UnknownDraft(NotFound):
    default_code = "unknown_draft"


def open_draft(conn: sa.Connection, actor: Principal, scope: Scope, vi: VersionIndex,
               note: Any = "", area: Any = None) -> Draft:
    """A new draft on the live version, limited to `area` (default: the token's own)."""
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise Invalid(f"note must be text of at most {MAX_NOTE} characters", "note",
                      code="invalid_note")
    if area is not None:
        if not isinstance(area, str) or not area:
            raise Invalid("area must be an area code", "area", code="invalid_area")
        scope.narrow(vi, area, "area")
    area = area if area is not None else scope.area
    if live_version(conn) is None:
        raise Unavailable("no boundary version has been published yet", code="no_boundaries")
    draft = create_draft(conn, actor.name, note)
    conn.execute(draft_scopes.insert().values(draft_id=draft, area_code=area))
    audit(conn, actor.name, "open_draft", str(draft), area=area)
    return load(conn, draft)


def load(conn: sa.Connection, draft_id: int) -> Draft:
    """The draft `draft_id`; 404 `unknown_draft` when there is none (or it was published:
    then it is a version)."""
    if not 0 < draft_id < 2**31:
        raise UnknownDraft(f"no draft {draft_id}", "draft_id")
    row = conn.execute(
        sa.select(boundary_versions, draft_scopes.c.area_code)
        .outerjoin(draft_scopes, draft_scopes.c.draft_id == boundary_versions.c.id)
        .where(boundary_versions.c.id == draft_id, boundary_versions.c.state == "draft")
    ).first()
    if row is None:
        raise UnknownDraft(f"no open draft {draft_id}", "draft_id")
    return Draft(row.id, row.author, row.note, row.created_at, row.base_version,
                 row.area_code)


def visible(draft: Draft, scope: Scope, vi: VersionIndex) -> bool:
    """Whether a token of `scope` may see the draft (its area inside the scope)."""
    return scope.area is None or (draft.area is not None and scope.covers(vi, draft.area))


def access(conn: sa.Connection, draft_id: int, actor: Principal, scope: Scope,
           vi: VersionIndex, *, write: bool = False) -> Draft:
    """The draft, if the caller may see it (403 `out_of_scope` otherwise) and, to change
    it, is its author or an admin (403 `forbidden`). A write locks the draft's row on
    PostgreSQL so two edits of one draft take turns (SQLite's write lock does that)."""
    if write and conn.dialect.name == "postgresql" and 0 < draft_id < 2**31:
        conn.execute(sa.select(boundary_versions.c.id).where(
            boundary_versions.c.id == draft_id).with_for_update())
    draft = load(conn, draft_id)
    if not visible(draft, scope, vi):
        raise scope.refusal("draft_id")
    if write and actor.role != "admin" and draft.author != actor.name:
        raise Forbidden(f"draft {draft.id} belongs to {draft.author}; only its author or "
                        "an admin may change it", "draft_id")
    return draft


def list_drafts(conn: sa.Connection, scope: Scope, vi: VersionIndex) -> list[dict[str, Any]]:
    """The open drafts the caller may see, oldest first."""
    rows = conn.execute(
        sa.select(boundary_versions.c.id).where(boundary_versions.c.state == "draft")
        .order_by(boundary_versions.c.id)).scalars().all()
    found = [load(conn, i) for i in rows]
    return [describe(conn, d) for d in found if visible(d, scope, vi)]


def log_state(conn: sa.Connection, draft: int) -> tuple[int, bool, bool]:
    """(edits in effect, can undo, can redo)."""
    rows = conn.execute(sa.select(draft_edits.c.undone, sa.func.count()).where(
        draft_edits.c.draft_id == draft).group_by(draft_edits.c.undone)).all()
    counts = {bool(u): n for u, n in rows}
    done = counts.get(False, 0)
    return done, done > 0, counts.get(True, 0) > 0


def describe(conn: sa.Connection, draft: Draft) -> dict[str, Any]:
    """The draft as the API shows it (without its problems)."""
    edits, can_undo, can_redo = log_state(conn, draft.id)
    created = draft.created_at
    if created.tzinfo is None:  # SQLite hands back stored UTC times without an offset
        created = created.replace(tzinfo=UTC)
    return {"id": draft.id, "state": "draft", "author": draft.author, "note": draft.note,
            "created_at": created.isoformat(), "base_version": draft.base,
            "live_version": live_version(conn), "area": draft.area, "edits": edits,
            "can_undo": can_undo, "can_redo": can_redo}


def discard(conn: sa.Connection, draft: Draft, actor: Principal) -> None:
    """Remove the draft and everything it holds; what it would have changed never was."""
    conn.execute(areas.delete().where(areas.c.version_from == draft.id))
    for table, column in ((version_removals, version_removals.c.version_id),
                          (draft_edits, draft_edits.c.draft_id),
                          (draft_scopes, draft_scopes.c.draft_id)):
        conn.execute(table.delete().where(column == draft.id))
    conn.execute(boundary_versions.delete().where(boundary_versions.c.id == draft.id))
    audit(conn, actor.name, "discard_draft", str(draft.id))


class Ancestry:
    """Which areas lie inside a draft's editing area, walking parent codes in the draft
    (an area the draft added has no chain in the live index). Cached per request."""

    def __init__(self, conn: sa.Connection, draft: Draft) -> None:
        self.conn, self.draft = conn, draft
        self.parent: dict[str, str | None] = {}

    def _parent(self, code: str) -> str | None:
        if code not in self.parent:
            row = self.conn.execute(sa.select(areas.c.parent_code).where(
                valid_in_draft(self.draft.id, self.draft.base), areas.c.code == code)).first()
            self.parent[code] = row.parent_code if row else None
        return self.parent[code]

    def inside(self, code: str | None) -> bool:
        """True when `code` is the draft's area or lies below it in the draft."""
        if self.draft.area is None:
            return True
        for _ in range(len(LEVELS)):
            if code is None:
                return False
            if code == self.draft.area:
                return True
            code = self._parent(code)
        return False

    def require(self, code: str | None, field: str) -> None:
        if not self.inside(code):
            raise Forbidden(f"area {code} lies outside draft {self.draft.id}'s area "
                            f"{self.draft.area}", field, code="out_of_scope")
