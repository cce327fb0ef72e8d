"""Household visits (走访): a worker says "I visited household H at T"; the trail says
whether that is so.

A visit is **verified** when the worker's fix nearest in time to `visited_at` (within
`VISIT_FIX_WINDOW_S` either side) lies within `VISIT_RADIUS_M` of the household. Otherwise
it is kept and flagged with the reason (`no_fix`: no usable fix in the window; `too_far`:
the fix was `distance_m` away), so a supervisor can ask, and coverage counts it apart.
Late fixes count (phones in pastoral areas send late); fixes flagged `inaccurate` or
`too_fast` do not. A visit is stored once per worker, household and `visited_at`: a phone's
resend answers the stored visit, the same key with other content is a 409.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from geo_service.cases.duplicates import distance_m
from geo_service.errors import Conflict, Invalid, NotFound
from geo_service.events import WorkerVisited, publish
from geo_service.inputs import parse_time
from geo_service.scope import Scope
from geo_service.store.tables import household_visits, households, visits, worker_positions
from geo_service.versions import VersionIndex
from geo_service.workers.positions import worker_row

KINDS = ("routine", "care", "dispute_follow_up")
MAX_NOTE = 2000
_FIELDS = ("household", "visited_at", "kind", "note")
_USABLE = sa.or_(worker_positions.c.flag.is_(None), worker_positions.c.flag == "late")


@dataclass(frozen=True)
class NewVisit:
    """A visit as read from the phone, checked, before it is placed."""

    household: str
    visited_at: datetime  # UTC
    kind: str
    note: str


def read_visit(body: Any, *, now: datetime, skew_s: float) -> NewVisit:
    """Check a visit as sent (`{household, visited_at, kind, note}`); 400 naming the field."""
    if not isinstance(body, dict):
        raise Invalid('expected {"household", "visited_at", "kind", "note"}', "body",
                      code="invalid_body")
    extra = sorted(set(body) - set(_FIELDS))
    if extra:
        raise Invalid(f"unknown field {extra[0][:40]!r}; a visit has {', '.join(_FIELDS)}",
                      extra[0][:40], code="unknown_field")
    household = body.get("household")
    if household is None:
        raise Invalid("household is required (its code)", "household", code="missing")
    if not isinstance(household, str) or not household.strip() or len(household) > 40:
        raise Invalid("household must be a household code (at most 40 characters)",
                      "household", code="invalid_type")
    t = parse_time(body.get("visited_at"), "visited_at").astimezone(UTC)
    if t - now > timedelta(seconds=skew_s):
        raise Invalid(f"visited_at is in the future (more than {skew_s:g} s ahead of the "
                      "server's clock)", "visited_at", code="future_time")
    kind = body.get("kind")
    if kind not in KINDS:
        raise Invalid(f"kind must be one of {', '.join(KINDS)}, not {repr(kind)[:40]}",
                      "kind", code="missing" if kind is None else "invalid_choice")
    note = body.get("note", "")
    if not isinstance(note, str):
        raise Invalid("note must be a string", "note", code="invalid_type")
    if len(note) > MAX_NOTE:
        raise Invalid(f"note is {len(note)} characters long; the limit is {MAX_NOTE}", "note",
                      code="too_long")
    if "\x00" in note:  # PostgreSQL cannot store it, and no person typed it
        raise Invalid("note contains a NUL character", "note", code="invalid_text")
    return NewVisit(household, t, kind, note)


@dataclass(frozen=True)
class Check:
    """What the trail says about a visit."""

    verified: bool
    reason: str | None  # None, "no_fix", "too_far"
    distance_m: float | None  # from the fix nearest in time to the household
    fix_offset_s: float | None  # that fix's recorded_at minus visited_at


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def check_visit(conn: sa.Connection, code: str, lon: float, lat: float, at: datetime,
                settings: dict[str, Any]) -> Check:
    """Verify a visit at (`lon`, `lat`) at `at` against the worker's fix nearest in time:
    two index probes (the last fix before, the first after) on (worker, recorded_at)."""
    window = timedelta(seconds=settings["VISIT_FIX_WINDOW_S"])
    p = worker_positions.c
    base = sa.select(p.lon, p.lat, p.recorded_at).where(p.worker_code == code, _USABLE)
    found = [conn.execute(base.where(p.recorded_at <= at, p.recorded_at >= at - window)
                          .order_by(p.recorded_at.desc()).limit(1)).first(),
             conn.execute(base.where(p.recorded_at > at, p.recorded_at <= at + window)
                          .order_by(p.recorded_at).limit(1)).first()]
    fixes = [(f.lon, f.lat, (_aware(f.recorded_at) - at).total_seconds())
             for f in found if f is not None]
    if not fixes:
        return Check(False, "no_fix", None, None)
    fx, fy, offset = min(fixes, key=lambda f: abs(f[2]))
    metres = round(distance_m(fx, fy, lon, lat), 1)
    ok = metres <= settings["VISIT_RADIUS_M"]
    return Check(ok, None if ok else "too_far", metres, offset)


def _insert(conn: sa.Connection, table: sa.Table):
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def remember_visit(conn: sa.Connection, household: str, at: datetime, verified: bool) -> None:
    """Move the household's last visit (and last verified visit) forward to `at`, never
    back: a visit recorded late leaves a newer one standing."""
    hv = household_visits.c
    ins = _insert(conn, household_visits).values(
        household_code=household, last_visit_at=at, last_verified_at=at if verified else None)
    new = ins.excluded
    conn.execute(ins.on_conflict_do_update(index_elements=["household_code"], set_={
        "last_visit_at": sa.case((new.last_visit_at > hv.last_visit_at, new.last_visit_at),
                                 else_=hv.last_visit_at),
        "last_verified_at": sa.case((hv.last_verified_at.is_(None), new.last_verified_at),
                                    (new.last_verified_at > hv.last_verified_at,
                                     new.last_verified_at),
                                    else_=hv.last_verified_at)}))


def _stored(conn: sa.Connection, code: str, new: NewVisit) -> dict[str, Any] | None:
    row = conn.execute(sa.select(visits).where(
        visits.c.worker_code == code, visits.c.household_code == new.household,
        visits.c.visited_at == new.visited_at)).mappings().first()
    return None if row is None else dict(row)


def record_visit(conn: sa.Connection, vi: VersionIndex, code: str, new: NewVisit, *,
                 scope: Scope, settings: dict[str, Any], now: datetime
                 ) -> tuple[dict[str, Any], bool]:
    """Store a visit once, verified or flagged, with its `worker.visited` event, in the
    caller's transaction; (the visit's row, whether it is new). A household that does not
    exist or lies outside the scope is a 404 alike (the scope does not say what is
    outside it)."""
    worker_row(conn, code)  # 404 unknown_worker
    h = conn.execute(sa.select(households.c.grid_code, households.c.group_code,
                               households.c.geom)
                     .where(households.c.code == new.household)).first()
    if h is None or not scope.covers(vi, h.grid_code):
        raise NotFound(f"no household {new.household[:40]!r} in this token's area",
                       "household", code="unknown_household")
    row = _stored(conn, code, new)
    if row is None:
        check = check_visit(conn, code, h.geom.x, h.geom.y, new.visited_at, settings)
        done = conn.execute(_insert(conn, visits).values(
            worker_code=code, household_code=new.household, visited_at=new.visited_at,
            received_at=now, kind=new.kind, note=new.note, verified=check.verified,
            reason=check.reason, distance_m=check.distance_m,
            fix_offset_s=check.fix_offset_s, grid_code=h.grid_code,
            group_code=h.group_code).on_conflict_do_nothing(
            index_elements=["worker_code", "household_code", "visited_at"]))
        row = _stored(conn, code, new)
        assert row is not None
        if done.rowcount:
            remember_visit(conn, new.household, new.visited_at, check.verified)
            publish(conn, WorkerVisited(
                id=row["id"], code=code, area=h.grid_code, group=h.group_code,
                visit_kind=new.kind, verified=check.verified, reason=check.reason,
                visited_at=new.visited_at.isoformat()))
            return row, True
    if (row["kind"], row["note"]) != (new.kind, new.note):
        raise Conflict("this worker's visit of this household at this time is already "
                       "recorded with another kind or note", "visited_at",
                       code="visit_exists", detail={"id": row["id"]})
    return row, False


def visit_view(row: dict[str, Any]) -> dict[str, Any]:
    """A stored visit as its worker and the command center see it."""
    reason = row["reason"]
    text = None
    if reason == "no_fix":
        text = "no usable fix of this worker near visited_at"
    elif reason == "too_far":
        text = f"the fix nearest in time was {row['distance_m']:.0f} m from the household"
    return {"id": row["id"], "worker": row["worker_code"], "household": row["household_code"],
            "visited_at": _aware(row["visited_at"]).isoformat(),
            "received_at": _aware(row["received_at"]).isoformat(), "kind": row["kind"],
            "note": row["note"], "verified": row["verified"], "reason": reason,
            "reason_text": text, "distance_m": row["distance_m"],
            "fix_offset_s": row["fix_offset_s"], "grid": row["grid_code"],
            "group": row["group_code"]}
