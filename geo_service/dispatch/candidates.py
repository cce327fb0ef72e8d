"""Who can be sent to a case: available workers of its owning area, its own team first.

"Small matters stay in the grid": the workers who answer for the case's grid (or one of
its ten-household groups) come first, nearest first; then every other available worker
who answers for an area inside the level that owns the case (and the caller's scope),
nearest first. Available means on duty with a fix younger than `STALE_MIN` (`online`).

Automatic assignment follows the same order and takes the first: the nearest online
member of the grid's own team, else the nearest online worker inside the owning level's
area, else nobody (409 `no_worker_available`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from geo_service.cases.model import OPEN
from geo_service.dispatch.live import LivePositions, as_utc
from geo_service.errors import Conflict
from geo_service.privacy import person_view
from geo_service.scope import Scope
from geo_service.store.tables import reports, worker_state, workers
from geo_service.versions import VersionIndex
from geo_service.workers.queries import codes_below
from geo_service.workers.status import status_of

MAX_CANDIDATES = 200


@dataclass(frozen=True)
class Pick:
    code: str
    distance_m: float
    own_team: bool


def team_areas(vi: VersionIndex, row: dict[str, Any]) -> list[str]:
    """The case's grid and its groups: whoever answers for one of them is its own team."""
    grid = row["grid_code"]
    return sorted(codes_below(vi, grid)) if grid and grid in vi.areas else []


def rank(live: LivePositions, vi: VersionIndex, row: dict[str, Any], *, scope: Scope,
         now: datetime, settings: dict[str, Any], limit: int) -> list[Pick]:
    """Available workers for a case in the order of the rule (module docstring), from
    this process's live index; at most `limit`, the whole own team first."""
    owner = Scope(row["owner_code"])
    lon, lat = row["lon"], row["lat"]
    memo: dict[str, bool] = {}

    def inside(area: str) -> bool:
        ok = memo.get(area)
        if ok is None:
            ok = memo[area] = owner.covers(vi, area) and scope.covers(vi, area)
        return ok

    def answers_here(code: str) -> bool:
        return any(inside(a) for a in live.areas_of(code))

    fresh = (now - timedelta(minutes=settings["STALE_MIN"])).timestamp()
    index = live.current(settings["DISPATCH_REFRESH_S"])
    with live.lock:
        team = [(c, m) for c, m in index.distances(live.members(team_areas(vi, row)), lon,
                                                    lat, fresh_since=fresh)
                if answers_here(c)][:limit]
        mine = {c for c, _ in team}
        others = index.nearest(lon, lat, limit - len(team), fresh_since=fresh,
                               accept=lambda c: c not in mine and answers_here(c))
    return [Pick(c, m, True) for c, m in team] + [Pick(c, m, False) for c, m in others]


def describe(conn: sa.Connection, picks: list[Pick], *, role: str, now: datetime,
             settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The picks as a dispatcher sees them (role, current grid, open cases, minutes since
    the last fix, name and phone per role); a pick the store says is no longer online
    (this process's copy lags by up to `DISPATCH_REFRESH_S`) is left out."""
    if not picks:
        return []
    codes = [p.code for p in picks]
    found = {r.code: r for r in conn.execute(
        sa.select(workers.c.code, workers.c.name, workers.c.role, workers.c.phone,
                  workers.c.on_duty, worker_state.c.grid_code, worker_state.c.recorded_at)
        .outerjoin(worker_state, worker_state.c.worker_code == workers.c.code)
        .where(workers.c.code.in_(codes)))}
    load = open_counts(conn, codes)
    out = []
    for p in picks:
        r = found.get(p.code)
        if r is None or r.recorded_at is None:
            continue
        last = as_utc(r.recorded_at)
        if status_of(r.on_duty, last, now, settings) != "online":
            continue
        out.append({"code": p.code, "role": r.role, **person_view(r.name, r.phone, role),
                    "grid": r.grid_code, "distance_m": round(p.distance_m, 1),
                    "own_team": p.own_team, "open_cases": load.get(p.code, 0),
                    "minutes_since_fix": round((now - last).total_seconds() / 60, 1)})
    return out


def open_counts(conn: sa.Connection, codes: list[str]) -> dict[str, int]:
    """Open cases assigned to each worker (closed ones are done)."""
    return dict(conn.execute(
        sa.select(reports.c.assigned_worker, sa.func.count())
        .where(reports.c.assigned_worker.in_(codes), reports.c.status.in_(sorted(OPEN)))
        .group_by(reports.c.assigned_worker)).all())


def choose(conn: sa.Connection, live: LivePositions, vi: VersionIndex,
           row: dict[str, Any], *, scope: Scope, now: datetime, settings: dict[str, Any]
           ) -> dict[str, Any]:
    """The worker automatic assignment sends (the rule in the module docstring), as
    `describe` shows it plus the rule that chose it; 409 `no_worker_available`."""
    picks = rank(live, vi, row, scope=scope, now=now, settings=settings, limit=5)
    for found in describe(conn, picks, role="dispatcher", now=now, settings=settings):
        return {"code": found["code"], "distance_m": found["distance_m"],
                "rule": "own_team" if found["own_team"] else "nearest"}
    raise Conflict(f"no worker is available for report {row['id']}: nobody who answers for "
                   f"an area under {row['owner_level']} {row['owner_code']} is on duty with "
                   f"a fix from the last {settings['STALE_MIN']:g} minutes", "worker",
                   code="no_worker_available")
