"""Finding workers: who, where, in which status, as each role and scope may see them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import shapely
import sqlalchemy as sa

from geo_service.errors import Invalid, NotFound
from geo_service.privacy import person_view
from geo_service.scope import Scope
from geo_service.store.tables import (
    patrol_days,
    worker_areas,
    worker_positions,
    worker_state,
    workers,
)
from geo_service.versions import VersionIndex
from geo_service.workers.status import STATUSES, WORKER_ROLES, status_of

MAX_TRAIL = 20_000
_M_PER_DEG = 111_320.0


def codes_below(vi: VersionIndex, area: str) -> frozenset[str]:
    """The area and every area below it in this version (once per version and area): a
    walk down from it, over the children of each area (listed once per version). Asking
    every area's chain instead cost ~0.1 s per area asked, and every phone token is
    limited to its own area: 12,668 phones starting their shifts cost the server ~20
    minutes of CPU in it."""
    key = ("below", area)
    found = vi.memo.get(key)
    if found is None:
        children = vi.memo.get(("children",))
        if children is None:
            kids: dict[str, list[str]] = {}
            for c, info in vi.areas.items():
                if info.parent_code is not None:
                    kids.setdefault(info.parent_code, []).append(c)
            children = vi.memo[("children",)] = kids
        out: set[str] = set()
        todo = [area] if area in vi.areas else []
        while todo:
            c = todo.pop()
            if c not in out:
                out.add(c)
                todo.extend(children.get(c, ()))
        found = vi.memo[key] = frozenset(out)
    return found


def _aware(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def find_workers(conn: sa.Connection, vi: VersionIndex, *, scope: Scope, role: str,
                 now: datetime, settings: dict[str, Any], area: str | None = None,
                 status: str | None = None, worker_role: str | None = None,
                 code: str | None = None, located: bool = False) -> list[dict[str, Any]]:
    """Workers who answer for an area inside `area` and the scope, with their current
    position and status; names and phones as `role` may see them. `located`: only those
    with a position (a map draws no others)."""
    if status is not None and status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}", "status",
                      code="invalid_choice")
    if worker_role is not None and worker_role not in WORKER_ROLES:  # else an empty list
        raise Invalid(f"role must be one of {', '.join(WORKER_ROLES)}, got "
                      f"{worker_role[:40]!r}", "role", code="invalid_choice")
    wanted: list[frozenset[str]] = []
    if area is not None:
        scope.require(vi, vi.area(area).code, "area")
        wanted.append(codes_below(vi, area))
    if scope.area is not None:
        wanted.append(codes_below(vi, scope.area))
    q = (sa.select(workers.c.code, workers.c.name, workers.c.role, workers.c.phone,
                   workers.c.on_duty, worker_areas.c.area_code, worker_state.c.lon,
                   worker_state.c.lat, worker_state.c.recorded_at, worker_state.c.grid_code,
                   worker_state.c.accuracy_m, worker_state.c.dwell_grid)
         .join(worker_areas, worker_areas.c.worker_id == workers.c.id)
         .outerjoin(worker_state, worker_state.c.worker_code == workers.c.code)
         .order_by(workers.c.code, worker_areas.c.area_code))
    if worker_role is not None:
        q = q.where(workers.c.role == worker_role)
    if code is not None:
        q = q.where(workers.c.code == code)
    if located:
        q = q.where(worker_state.c.recorded_at.is_not(None))
    found: dict[str, dict[str, Any]] = {}
    for r in conn.execute(q).mappings():
        entry = found.get(r["code"])
        if entry is None:
            t = _aware(r["recorded_at"])
            entry = found[r["code"]] = {
                "code": r["code"], "role": r["role"], "areas": [],
                **person_view(r["name"], r["phone"], role), "on_duty": r["on_duty"],
                "status": status_of(r["on_duty"], t, now, settings),
                "position": None if t is None else {
                    "lon": r["lon"], "lat": r["lat"], "recorded_at": t.isoformat(),
                    "age_s": round((now - t).total_seconds()), "grid": r["grid_code"],
                    "accuracy_m": r["accuracy_m"], "in_grid": r["dwell_grid"]}}
        entry["areas"].append(r["area_code"])
    out = [w for w in found.values()
           if all(any(a in allowed for a in w["areas"]) for allowed in wanted)
           and (status is None or w["status"] == status)]
    return out


def get_worker(conn: sa.Connection, vi: VersionIndex, code: str, **kw: Any) -> dict[str, Any]:
    """One worker; outside the scope it does not exist (404)."""
    found = find_workers(conn, vi, code=code, **kw)
    if not found:
        raise NotFound(f"no worker {code[:40]!r}", "code", code="unknown_worker")
    return found[0]


def trail(conn: sa.Connection, code: str, since: datetime, until: datetime,
          simplify_m: float) -> dict[str, Any]:
    """The worker's good fixes in [since, until) as a GeoJSON LineString Feature, simplified
    so no point moves more than `simplify_m` metres (0: every fix); flagged fixes are
    counted, not drawn."""
    rows = conn.execute(
        sa.select(worker_positions.c.lon, worker_positions.c.lat,
                  worker_positions.c.recorded_at, worker_positions.c.flag)
        .where(worker_positions.c.worker_code == code,
               worker_positions.c.recorded_at >= since, worker_positions.c.recorded_at < until)
        .order_by(worker_positions.c.recorded_at).limit(MAX_TRAIL + 1)).all()
    good = [r for r in rows[:MAX_TRAIL] if r.flag is None]
    coords = [(r.lon, r.lat) for r in good]
    if simplify_m > 0 and len(coords) > 2:
        line = shapely.LineString(coords)
        coords = list(shapely.simplify(line, simplify_m / _M_PER_DEG).coords)
    first, last = (_aware(good[0].recorded_at), _aware(good[-1].recorded_at)) if good else (
        None, None)
    return {"type": "Feature", "id": code,
            "geometry": {"type": "LineString", "coordinates": [list(c) for c in coords]}
            if len(coords) >= 2 else None,
            "properties": {"worker": code, "fixes": len(good),
                           "flagged": sum(r.flag is not None for r in rows[:MAX_TRAIL]),
                           "points": len(coords), "truncated": len(rows) > MAX_TRAIL,
                           "from": first.isoformat() if first else None,
                           "to": last.isoformat() if last else None}}


def own_grids(vi: VersionIndex, areas: list[str]) -> set[str]:
    """The grids a worker answers for: its grids, its groups' grids, and every grid below
    a village or township it answers for (a grid guide's, a militia's)."""
    out: set[str] = set()
    for code in areas:
        info = vi.areas.get(code)
        if info is None:
            continue
        if info.level == "grid":
            out.add(code)
        elif info.level == "group" and info.parent_code:
            out.add(info.parent_code)
        else:
            out |= {c for c in codes_below(vi, code) if vi.areas[c].level == "grid"}
    return out


def patrol_report(conn: sa.Connection, vi: VersionIndex, *, scope: Scope, area: str | None,
                  day: str, role: str, now: datetime, settings: dict[str, Any]
                  ) -> dict[str, Any]:
    """Patrol on one local day: per worker, minutes inside their own grid(s), the grids
    they were in, metres walked; per grid inside the area, whether its team was in it."""
    team = find_workers(conn, vi, scope=scope, role=role, now=now, settings=settings,
                        area=area)
    by_code = {w["code"]: w for w in team}
    # The day's rows, the team's kept here: an IN list of the whole team was one bound
    # parameter per worker (12,661 in the demo; SQLite takes at most 32,766, PostgreSQL
    # 65,535).
    rows = [r for r in conn.execute(sa.select(patrol_days).where(patrol_days.c.day == day))
            if r.worker_code in by_code] if by_code else []
    per_worker: dict[str, dict[str, Any]] = {}
    visited: set[str] = set()
    for r in rows:
        w = by_code[r.worker_code]
        own = own_grids(vi, w["areas"])
        p = per_worker.setdefault(r.worker_code, {
            "code": r.worker_code, "role": w["role"], "areas": w["areas"],
            "minutes_in_own_grids": 0.0, "grids": [], "distance_m": 0.0})
        p["distance_m"] += r.distance_m
        if r.grid_code:
            p["grids"].append(r.grid_code)
            if r.grid_code in own:
                p["minutes_in_own_grids"] += r.inside_s / 60
                visited.add(r.grid_code)
    grids = [c for c, info in vi.areas.items() if info.level == "grid"
             and (area is None or c in codes_below(vi, area))
             and scope.covers(vi, c)]
    for p in per_worker.values():
        p["minutes_in_own_grids"] = round(p["minutes_in_own_grids"], 1)
        p["distance_m"] = round(p["distance_m"], 1)
    return {"day": day, "area": area or scope.area,
            "workers": sorted(per_worker.values(), key=lambda p: p["code"]),
            "grids": [{"code": g, "visited_by_team": g in visited} for g in sorted(grids)],
            "grids_visited": sum(g in visited for g in grids), "grids_total": len(grids)}


def workforce(conn: sa.Connection, vi: VersionIndex, *, scope: Scope, area: str | None,
              day: str, now: datetime, settings: dict[str, Any]) -> dict[str, int]:
    """The wall's worker figures for an area: workers, on duty, online now, and grids
    whose own team was in them on `day`. Reads codes and times only (no names)."""
    below = codes_below(vi, area or scope.area) if (area or scope.area) else None
    rows = conn.execute(
        sa.select(workers.c.code, workers.c.on_duty, worker_areas.c.area_code,
                  worker_state.c.recorded_at)
        .join(worker_areas, worker_areas.c.worker_id == workers.c.id)
        .outerjoin(worker_state, worker_state.c.worker_code == workers.c.code)).all()
    mine: dict[str, list[str]] = {}
    on_duty: set[str] = set()
    online: set[str] = set()
    for code, duty, area_code, t in rows:
        if below is not None and area_code not in below:
            continue
        mine.setdefault(code, []).append(area_code)
        if duty:
            on_duty.add(code)
            if status_of(True, _aware(t), now, settings) == "online":
                online.add(code)
    visited: set[str] = set()
    owned: dict[str, set[str]] = {}
    if mine:
        for code, grid in conn.execute(sa.select(patrol_days.c.worker_code, patrol_days.c.grid_code)
                                       .where(patrol_days.c.day == day,
                                              patrol_days.c.grid_code != "")):
            if code in mine:
                if code not in owned:
                    owned[code] = own_grids(vi, mine[code])
                if grid in owned[code]:
                    visited.add(grid)
    grids = sum(1 for c, info in vi.areas.items()
                if info.level == "grid" and (below is None or c in below))
    return {"workers_total": len(mine), "workers_on_duty": len(on_duty),
            "workers_online": len(online), "grids_visited_today": len(visited),
            "grids_total": grids}
