"""Emergency call-outs ("one order", 一声令): one command mobilises every on-duty force of
an area at once, and the center watches who answered and who is on the way.

- **Who is called.** A call-out names an area, or a radius around a point, and the roles
  to call (default: all of `CALLOUT_ROLES`). For an area, a worker matches when it answers
  for an area inside it (its grid, its group, its village…); for a radius, when its current
  position lies within it (a worker with no known position does not match). Of those, the
  ones `online` or `stale` are called: stale phones are often only out of signal for a
  while and get the order when they reconnect; `off_duty` and `offline` workers are not
  called but counted (`not_called`), so the center knows who it could not reach.
- **Scope.** The area (or the point) must lie inside the caller's scope (403), and a
  radius reaching outside it only calls workers who answer for areas inside it.
- **The point** is where to go: given, or for an area without one a point inside it.
  Each acknowledgement records when and how far from the point; "moving towards" compares
  a worker's distance from its position when called with its current one.
- **Events.** One `callout.called` per called worker with the worker's home area (what
  a worker's token is limited to), so the order reaches each one's own stream; one
  `callout.created` with the call-out's area for the centers above; `callout.acked` and
  `callout.closed` follow. Codes only, never names or phones.
"""

from __future__ import annotations

import math
import statistics
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import shapely
import sqlalchemy as sa

from geo_service.auth import Principal
from geo_service.cases.duplicates import distance_m
from geo_service.cases.intake import place
from geo_service.errors import Conflict, Forbidden, Invalid, NotFound
from geo_service.events import (
    CalloutAcked,
    CalloutCalled,
    CalloutClosed,
    CalloutCreated,
    publish,
    publish_all,
)
from geo_service.inputs import finite
from geo_service.lookup import check_point, parse_crs
from geo_service.privacy import person_view
from geo_service.scope import Scope
from geo_service.store.tables import (
    areas,
    callout_targets,
    callouts,
    worker_areas,
    worker_state,
    workers,
)
from geo_service.versions import VersionIndex, valid_in
from geo_service.workers.queries import codes_below
from geo_service.workers.status import status_of

CALLOUT_ROLES = ("militia", "grid_worker", "grid_leader", "liaison_head", "grid_guide")
CALLED_STATUSES = ("online", "stale")
MAX_MESSAGE = 500
MAX_RADIUS_M = 50_000.0  # a pastoral township's reach; wider is a county's area call-out
MOVING_M = 25.0  # closer by more than GPS jitter: on the way
_FIELDS = frozenset({"area", "lon", "lat", "crs", "radius_m", "roles", "message"})
_M_PER_DEG = 111_320.0
MAX_AREAS_IN_QUERY = 20_000  # a county's areas go into the query; a prefecture's need not


@dataclass(frozen=True)
class NewCallout:
    """A call-out as read from the client, before it is placed and its workers found."""

    area: str | None
    x: float | None
    y: float | None
    crs: str
    radius_m: float | None
    roles: tuple[str, ...]
    message: str


def _number(body: dict[str, Any], key: str) -> float:
    return finite(body.get(key), key)


def read_callout(body: Any) -> NewCallout:
    """Check a call-out as sent; 400 naming the field for anything wrong."""
    if not isinstance(body, dict):
        raise Invalid('expected a JSON object: {"area"} or {"lon", "lat", "radius_m"}, '
                      'with "message" and optional "roles"', "body", code="invalid_body")
    extra = sorted(set(body) - _FIELDS)
    if extra:
        raise Invalid(f"unknown field {extra[0][:40]!r}; a call-out has "
                      f"{', '.join(sorted(_FIELDS))}", extra[0][:40], code="unknown_field")
    message = body.get("message")
    if not isinstance(message, str) or not message.strip():
        raise Invalid("message is required: what the called workers are to do", "message",
                      code="missing")
    if len(message) > MAX_MESSAGE:
        raise Invalid(f"message is {len(message)} characters long; the limit is "
                      f"{MAX_MESSAGE}", "message", code="too_long")
    if "\x00" in message:
        raise Invalid("message contains a NUL character", "message", code="invalid_text")
    roles = body.get("roles", list(CALLOUT_ROLES))
    if (not isinstance(roles, list) or not roles
            or not all(isinstance(r, str) and r in CALLOUT_ROLES for r in roles)
            or len(set(roles)) != len(roles)):
        raise Invalid(f"roles must be a list of distinct roles from {', '.join(CALLOUT_ROLES)}",
                      "roles", code="invalid_choice")
    area = body.get("area")
    if area is not None and (not isinstance(area, str) or not area or len(area) > 32):
        raise Invalid("area must be an area code", "area", code="invalid_area")
    has_point = "lon" in body or "lat" in body
    x = _number(body, "lon") if has_point else None
    y = _number(body, "lat") if has_point else None
    radius = None
    if area is None:
        if not has_point or "radius_m" not in body:
            raise Invalid('give an "area", or a point ("lon", "lat") and "radius_m"',
                          "area", code="missing")
        radius = _number(body, "radius_m")
        if not 1 <= radius <= MAX_RADIUS_M:
            raise Invalid(f"radius_m must be from 1 to {MAX_RADIUS_M:g} metres", "radius_m",
                          code="invalid_number")
    elif "radius_m" in body:
        raise Invalid("an area call-out has no radius_m (a point with an area is where "
                      "to go)", "radius_m", code="invalid_body")
    return NewCallout(area, x, y, parse_crs(body.get("crs")), radius, tuple(roles), message)


def _candidates(conn: sa.Connection, roles: tuple[str, ...], near: tuple[float, float, float]
                | None, inside: frozenset[str] | None = None) -> dict[str, dict[str, Any]]:
    """Workers of these roles with their areas and current position; with `near` (lon,
    lat, metres) only those whose position lies in its box (the exact test follows); with
    `inside` only those answering for one of these areas (all their areas listed)."""
    q = (sa.select(workers.c.code, workers.c.role, workers.c.on_duty, worker_areas.c.area_code,
                   worker_state.c.lon, worker_state.c.lat, worker_state.c.recorded_at)
         .join(worker_areas, worker_areas.c.worker_id == workers.c.id)
         .outerjoin(worker_state, worker_state.c.worker_code == workers.c.code)
         .where(workers.c.role.in_(roles)))
    if inside is not None and len(inside) <= MAX_AREAS_IN_QUERY:  # else: filtered after
        q = q.where(workers.c.id.in_(sa.select(worker_areas.c.worker_id).where(
            worker_areas.c.area_code.in_(sorted(inside)))))
    if near is not None:
        lon, lat, r = near
        dlat = r / _M_PER_DEG
        dlon = r / (_M_PER_DEG * max(math.cos(math.radians(lat)), 0.01))
        q = q.where(worker_state.c.lon.between(lon - dlon, lon + dlon),
                    worker_state.c.lat.between(lat - dlat, lat + dlat))
    found: dict[str, dict[str, Any]] = {}
    for r in conn.execute(q):
        w = found.setdefault(r.code, {"code": r.code, "role": r.role, "on_duty": r.on_duty,
                                      "lon": r.lon, "lat": r.lat,
                                      "recorded_at": r.recorded_at, "areas": []})
        w["areas"].append(r.area_code)
    return found


def _area_point(conn: sa.Connection, vi: VersionIndex, code: str) -> tuple[float, float]:
    geom = conn.execute(sa.select(areas.c.geom).where(
        valid_in(vi.version), areas.c.code == code)).scalar_one()
    p = shapely.point_on_surface(geom)
    return p.x, p.y


def issue_callout(conn: sa.Connection, vi: VersionIndex, new: NewCallout, *,
                  actor: Principal, scope: Scope, settings: dict[str, Any],
                  now: datetime) -> str:
    """Find the workers a call-out reaches, store it with them and publish the order to
    each (see the module's docstring); returns its id."""
    if new.area is not None:
        if new.area not in vi.areas:
            raise NotFound(f"no area {new.area!r} in version {vi.version}", "area",
                           code="unknown_area")
        scope.require(vi, new.area, "area")
    if new.x is not None and new.y is not None:
        at = place(vi, new.x, new.y, new.crs, scope)  # 422 unreadable, 403 outside scope
        lon, lat, home = at.lon, at.lat, new.area or at.codes[at.owner_level]
    elif new.area is not None:
        (lon, lat), home = _area_point(conn, vi, new.area), new.area
    else:
        raise Invalid("a call-out needs an area or a point", "area", code="missing")
    inside = codes_below(vi, new.area) if new.area else (
        codes_below(vi, scope.area) if scope.area else None)
    found = _candidates(conn, new.roles, (lon, lat, new.radius_m) if new.radius_m else None,
                        inside)
    called: list[dict[str, Any]] = []
    not_called = {"off_duty": 0, "offline": 0}
    for w in found.values():
        if inside is not None and not any(a in inside for a in w["areas"]):
            continue
        t = w["recorded_at"]
        t = t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t
        d = distance_m(lon, lat, w["lon"], w["lat"]) if t is not None else None
        if new.radius_m is not None and (d is None or d > new.radius_m):
            continue
        status = status_of(w["on_duty"], t, now, settings)
        if status in CALLED_STATUSES:
            called.append({**w, "status": status, "distance": d})
        else:
            not_called[status] += 1
    cid = str(uuid.uuid4())
    conn.execute(callouts.insert().values(
        id=cid, created_at=now, created_by=actor.name, area_code=home, lon=lon, lat=lat,
        radius_m=new.radius_m, roles=list(new.roles), message=new.message,
        not_called=not_called, boundary_version=vi.version))
    called.sort(key=lambda w: w["code"])
    if called:
        conn.execute(callout_targets.insert(), [
            {"callout_id": cid, "worker_code": w["code"], "area_code": min(w["areas"]),
             "status": w["status"], "notified_at": now, "call_lon": w["lon"],
             "call_lat": w["lat"], "call_distance_m": w["distance"]} for w in called])
    publish(conn, CalloutCreated(id=cid, area=home, lon=lon, lat=lat, radius_m=new.radius_m,
                                 roles=new.roles, message=new.message, called=len(called)))
    publish_all(conn, [CalloutCalled(id=cid, area=min(w["areas"]), worker=w["code"],
                                     callout_area=home, lon=lon, lat=lat,
                                     radius_m=new.radius_m, message=new.message)
                       for w in called])
    return cid


def _aware(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def _row(conn: sa.Connection, cid: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(callouts).where(callouts.c.id == cid[:36])).mappings().first()
    return None if row is None else dict(row)


def _is_target(conn: sa.Connection, cid: str, code: str | None) -> bool:
    return bool(code) and conn.execute(sa.select(callout_targets.c.worker_code).where(
        callout_targets.c.callout_id == cid, callout_targets.c.worker_code == code)
    ).first() is not None


def _callout(conn: sa.Connection, vi: VersionIndex, cid: str, *, scope: Scope,
             actor: Principal) -> dict[str, Any]:
    """The call-out `cid` as the caller may see it: inside its scope, or one that called
    the caller's own worker; 404 otherwise, as if it did not exist."""
    row = _row(conn, cid)
    if row is None or not (scope.covers(vi, row["area_code"])
                           or _is_target(conn, row["id"], actor.worker_code)):
        raise NotFound(f"no call-out {cid[:40]!r}", "id", code="unknown_callout")
    return row


def acknowledge(conn: sa.Connection, vi: VersionIndex, cid: str, body: Any, *,
                actor: Principal, scope: Scope, now: datetime) -> dict[str, Any]:
    """Record a called worker's acknowledgement (its own token, or an admin naming
    `worker`), with an optional position (else its current one). A second one changes
    nothing and answers the first. A worker the call-out did not call gets 403
    `not_called` (it may act only on orders it received)."""
    if not isinstance(body, dict) or set(body) - {"worker", "lon", "lat", "crs"}:
        raise Invalid('expected {"lon", "lat", "crs"} (all optional; an admin adds '
                      '"worker")', "body", code="invalid_body")
    code = body.get("worker", actor.worker_code)
    if actor.role != "admin" and (not actor.worker_code or code != actor.worker_code):
        raise Forbidden(f"this token belongs to worker {actor.worker_code or 'none'}, not "
                        f"{str(code)[:40]}", "worker")
    if not isinstance(code, str) or not code:
        raise Invalid("worker is required: the code of the worker acknowledging", "worker",
                      code="missing")
    if ("lon" in body) != ("lat" in body):
        raise Invalid("give both lon and lat, or neither", "lon" if "lat" in body else "lat",
                      code="missing")
    row = _row(conn, cid) if actor.role != "admin" else _callout(conn, vi, cid, scope=scope,
                                                                  actor=actor)
    if row is None:
        raise NotFound(f"no call-out {cid[:40]!r}", "id", code="unknown_callout")
    where = (callout_targets.c.callout_id == row["id"], callout_targets.c.worker_code == code)
    target = conn.execute(sa.select(callout_targets).where(*where)).mappings().first()
    if target is None:
        raise Forbidden(f"call-out {row['id']} did not call worker {code[:40]}", "worker",
                        code="not_called")
    if target["acked_at"] is None and row["closed_at"] is not None:
        raise Conflict(f"call-out {row['id']} is closed", "id", code="callout_closed")
    lon: float | None = None
    lat: float | None = None
    if "lon" in body:
        lon, lat = check_point(vi, _number(body, "lon"), _number(body, "lat"),
                               parse_crs(body.get("crs")))
    else:
        here = conn.execute(sa.select(worker_state.c.lon, worker_state.c.lat).where(
            worker_state.c.worker_code == code)).first()
        if here is not None:
            lon, lat = here
    d = None if lon is None or lat is None else distance_m(row["lon"], row["lat"], lon, lat)
    done = conn.execute(callout_targets.update().where(
        *where, callout_targets.c.acked_at.is_(None)).values(
        acked_at=now, ack_lon=lon, ack_lat=lat, ack_distance_m=d)).rowcount
    if done:
        target = conn.execute(sa.select(callout_targets).where(*where)).mappings().one()
        ack = _ack(target)
        publish(conn, CalloutAcked(id=row["id"], area=target["area_code"], worker=code,
                                   seconds=ack["ack_seconds"], distance_m=ack["ack_distance_m"]))
    return {"id": row["id"], "worker": code, "first": bool(done), **_ack(target)}


def _ack(t: Any) -> dict[str, Any]:
    at = _aware(t["acked_at"])
    return {"acked_at": at.isoformat() if at else None,
            "ack_seconds": None if at is None else round(
                (at - _aware(t["notified_at"])).total_seconds(), 1),
            "ack_distance_m": None if t["ack_distance_m"] is None
            else round(t["ack_distance_m"], 1)}


def close_callout(conn: sa.Connection, vi: VersionIndex, cid: str, *, actor: Principal,
                  scope: Scope, now: datetime) -> None:
    """Stand the call-out down (once; closing it again changes nothing)."""
    row = _callout(conn, vi, cid, scope=scope, actor=actor)
    if conn.execute(callouts.update().where(callouts.c.id == row["id"],
                                            callouts.c.closed_at.is_(None))
                    .values(closed_at=now)).rowcount:
        publish(conn, CalloutClosed(id=row["id"], area=row["area_code"]))


def _brief(vi: VersionIndex, row: dict[str, Any]) -> dict[str, Any]:
    info = vi.areas.get(row["area_code"])
    closed = _aware(row["closed_at"])
    return {"id": row["id"], "created_at": _aware(row["created_at"]).isoformat(),
            "created_by": row["created_by"],
            "area": {"code": row["area_code"], "name": info.name if info else None,
                     "level": info.level if info else None},
            "lon": row["lon"], "lat": row["lat"], "radius_m": row["radius_m"],
            "roles": list(row["roles"]), "message": row["message"],
            "open": closed is None, "closed_at": closed.isoformat() if closed else None}


def callout_view(conn: sa.Connection, vi: VersionIndex, cid: str, *, actor: Principal,
                 scope: Scope, settings: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Who was called, who acknowledged and how fast, who is moving towards the point
    (closer now than when called, by the current position), with counts. Workers outside
    the caller's scope are counted but not listed; names and phones as its role may see."""
    row = _callout(conn, vi, cid, scope=scope, actor=actor)
    rows = conn.execute(
        sa.select(callout_targets, workers.c.name, workers.c.role, workers.c.phone,
                  workers.c.on_duty, worker_state.c.lon, worker_state.c.lat,
                  worker_state.c.recorded_at)
        .join(workers, workers.c.code == callout_targets.c.worker_code)
        .outerjoin(worker_state, worker_state.c.worker_code == callout_targets.c.worker_code)
        .where(callout_targets.c.callout_id == row["id"])
        .order_by(callout_targets.c.worker_code)).mappings().all()
    called_at = _aware(row["created_at"])
    targets, seconds, moving, acked = [], [], 0, 0
    for r in rows:
        t = _aware(r["recorded_at"])
        now_m = distance_m(row["lon"], row["lat"], r["lon"], r["lat"]) if t else None
        then_m = r["call_distance_m"]
        towards = bool(t is not None and t > called_at and then_m is not None
                       and now_m is not None and now_m < then_m - MOVING_M)
        moving += towards
        ack = _ack(r)
        if ack["acked_at"] is not None:
            acked += 1
            seconds.append(ack["ack_seconds"])
        if not (scope.covers(vi, r["area_code"]) or r["worker_code"] == actor.worker_code):
            continue
        targets.append({
            "code": r["worker_code"], "role": r["role"], "area": r["area_code"],
            **person_view(r["name"], r["phone"], actor.role),
            "status_when_called": r["status"],
            "status": status_of(r["on_duty"], t, now, settings),
            "acked": ack["acked_at"] is not None, **ack,
            "distance_when_called_m": None if then_m is None else round(then_m, 1),
            "distance_now_m": None if now_m is None else round(now_m, 1),
            "moving_towards": towards})
    return {**_brief(vi, row), "targets": targets, "counts": {
        "called": len(rows), "acked": acked, "moving_towards": moving,
        "median_ack_s": round(statistics.median(seconds), 1) if seconds else None,
        "not_called": dict(row["not_called"])}}


def list_callouts(conn: sa.Connection, vi: VersionIndex, *, actor: Principal, scope: Scope,
                  open_only: bool | None, limit: int) -> list[dict[str, Any]]:
    """Call-outs the caller may see (in its scope, or calling its own worker), newest
    first, with how many were called and acknowledged."""
    q = sa.select(callouts).order_by(callouts.c.created_at.desc(), callouts.c.id)
    if open_only is not None:
        q = q.where(callouts.c.closed_at.is_(None) if open_only
                    else callouts.c.closed_at.is_not(None))
    mine: set[str] = set()
    if actor.worker_code:
        mine = set(conn.execute(sa.select(callout_targets.c.callout_id).where(
            callout_targets.c.worker_code == actor.worker_code)).scalars())
    rows = []
    for r in conn.execute(q).mappings():
        if scope.covers(vi, r["area_code"]) or r["id"] in mine:
            rows.append(dict(r))
            if len(rows) == limit:
                break
    counts: dict[str, tuple[int, int]] = {}
    if rows:
        counts = {cid: (n, a) for cid, n, a in conn.execute(
            sa.select(callout_targets.c.callout_id, sa.func.count(),
                      sa.func.count(callout_targets.c.acked_at))
            .where(callout_targets.c.callout_id.in_([r["id"] for r in rows]))
            .group_by(callout_targets.c.callout_id))}
    return [{**_brief(vi, r), "called": counts.get(r["id"], (0, 0))[0],
             "acked": counts.get(r["id"], (0, 0))[1]} for r in rows]
