"""Recording a worker's fixes: the trail, the current position, the dwell rule, patrol.

Phones send late, out of order and twice. Every readable fix goes into the trail once
(the same `recorded_at` again is the same fix); a fix older than the current position is
kept as `late` and never moves it backwards; a fix with absurd accuracy or an impossible
speed from the current position is kept, flagged, and not used. Good fixes, oldest first,
move the current position, drive the dwell rule (a worker is "in" a grid after staying
`DWELL_S` seconds, so jitter along a boundary does not flap) and add patrol time and
distance per local day and grid. All of it in the caller's transaction, with its events.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from geo_service.cases.duplicates import distance_m
from geo_service.cases.records import utc_times
from geo_service.cases.sla import local_day
from geo_service.errors import NotFound
from geo_service.events import WorkerEnteredGrid, WorkerMoved, publish
from geo_service.store.tables import patrol_days, worker_positions, worker_state, workers
from geo_service.workers.fixes import Batch, Fix
from geo_service.workers.status import announce, home_areas, status_of


@dataclass
class Recorded:
    """What a batch did: counts, the fixes flagged (by index and why), the state after."""

    stored: int = 0
    duplicates: int = 0
    flagged: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    status: str = "offline"


def _insert(conn: sa.Connection, table: sa.Table):
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def worker_row(conn: sa.Connection, code: str) -> dict[str, Any]:
    row = conn.execute(sa.select(workers.c.code, workers.c.role, workers.c.on_duty)
                       .where(workers.c.code == code)).mappings().first()
    if row is None:
        raise NotFound(f"no worker {code[:40]!r}", "code", code="unknown_worker")
    return dict(row)


def locked_state(conn: sa.Connection, code: str, now: datetime) -> dict[str, Any]:
    """The worker's state row, created if new and locked for this transaction (PostgreSQL:
    two batches of one worker at once apply one after the other; SQLite's writer lock
    does that already)."""
    conn.execute(_insert(conn, worker_state).values(
        worker_code=code, status="offline", status_at=now, updated_at=now
    ).on_conflict_do_nothing(index_elements=["worker_code"]))
    row = conn.execute(sa.select(worker_state).where(worker_state.c.worker_code == code)
                       .with_for_update()).mappings().one()
    state = utc_times(dict(row))
    for k in ("recorded_at", "status_at", "candidate_since"):
        if state[k] is not None and state[k].tzinfo is None:
            state[k] = state[k].replace(tzinfo=now.tzinfo)
    return state


def _judge(fix: Fix, current: tuple[float, float, datetime] | None,
           settings: dict[str, Any]) -> str | None:
    """Why a fix is not to become the current position (None: it is good)."""
    if current is not None and fix.recorded_at <= current[2]:
        return "late"
    if fix.accuracy_m is not None and fix.accuracy_m > settings["MAX_ACCURACY_M"]:
        return "inaccurate"
    if current is not None:
        seconds = (fix.recorded_at - current[2]).total_seconds()
        metres = distance_m(current[0], current[1], fix.lon, fix.lat)
        if metres / seconds * 3.6 > settings["MAX_SPEED_KMH"]:
            return "too_fast"
    return None


def record_fixes(conn: sa.Connection, code: str, batch: Batch, *, settings: dict[str, Any],
                 now: datetime) -> Recorded:
    """Store a batch of one worker's fixes (see the module's docstring)."""
    worker = worker_row(conn, code)
    state = locked_state(conn, code, now)
    out = Recorded()
    times = [f.recorded_at for f in batch.fixes]
    known = set()
    if times:
        known = {t if t.tzinfo else t.replace(tzinfo=now.tzinfo) for t in conn.execute(
            sa.select(worker_positions.c.recorded_at).where(
                worker_positions.c.worker_code == code,
                worker_positions.c.recorded_at.in_(times))).scalars()}
    fresh = [f for f in batch.fixes if f.recorded_at not in known]
    out.duplicates = len(batch.fixes) - len(fresh) + batch.repeated
    current = ((state["lon"], state["lat"], state["recorded_at"])
               if state["recorded_at"] is not None else None)
    patrol: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    entered: list[tuple[str | None, str | None, Fix]] = []
    rows = []
    moved = None
    for fix in fresh:
        flag = _judge(fix, current, settings)
        rows.append({"worker_code": code, "recorded_at": fix.recorded_at, "received_at": now,
                     "lon": fix.lon, "lat": fix.lat, "accuracy_m": fix.accuracy_m,
                     "speed": fix.speed, "heading": fix.heading, "grid_code": fix.grid,
                     "flag": flag})
        if flag:
            out.flagged.append({"index": fix.index, "flag": flag})
            continue
        if current is not None:
            gap = (fix.recorded_at - current[2]).total_seconds()
            if gap <= settings["PATROL_MAX_GAP_S"]:
                day = local_day(fix.recorded_at, settings["TIMEZONE"])
                acc = patrol[day, state["dwell_grid"] or ""]
                acc[0] += gap if state["dwell_grid"] else 0.0
                acc[1] += distance_m(current[0], current[1], fix.lon, fix.lat)
        change = _dwell(state, fix, settings)
        if change:
            entered.append((*change, fix))
            if fix.grid:
                patrol[local_day(fix.recorded_at, settings["TIMEZONE"]), fix.grid]
        current = (fix.lon, fix.lat, fix.recorded_at)
        moved = fix
    if rows:
        conn.execute(_insert(conn, worker_positions).on_conflict_do_nothing(
            index_elements=["worker_code", "recorded_at"]), rows)
    out.stored = len(rows)
    if moved is not None:
        state.update(lon=moved.lon, lat=moved.lat, recorded_at=moved.recorded_at,
                     accuracy_m=moved.accuracy_m, grid_code=moved.grid)
    for (day, grid), (inside, metres) in patrol.items():
        ins = _insert(conn, patrol_days).values(worker_code=code, day=day, grid_code=grid,
                                                inside_s=inside, distance_m=metres)
        conn.execute(ins.on_conflict_do_update(
            index_elements=["worker_code", "day", "grid_code"],
            set_={"inside_s": patrol_days.c.inside_s + ins.excluded.inside_s,
                  "distance_m": patrol_days.c.distance_m + ins.excluded.distance_m}))
    area = home_areas(conn, [code]).get(code)
    common = {"code": code, "area": area, "role": worker["role"]}
    out.status = status_of(worker["on_duty"], state["recorded_at"], now, settings)
    if out.status != state["status"]:
        announce(conn, state, out.status, role=worker["role"], area=area, now=now)
    if moved is not None:
        publish(conn, WorkerMoved(**common, status=out.status, lon=moved.lon, lat=moved.lat,
                                  grid=moved.grid, recorded_at=moved.recorded_at.isoformat()))
    for left, to, fix in entered:
        publish(conn, WorkerEnteredGrid(**common, status=out.status, lon=fix.lon, lat=fix.lat,
                                        grid=to, recorded_at=fix.recorded_at.isoformat(),
                                        left=left))
    state["updated_at"] = now
    conn.execute(worker_state.update().where(worker_state.c.worker_code == code).values(
        **{k: v for k, v in state.items() if k != "worker_code"}))
    out.state = state
    return out


def _dwell(state: dict[str, Any], fix: Fix, settings: dict[str, Any]
           ) -> tuple[str | None, str | None] | None:
    """Advance the dwell rule by one good fix; (left, entered) when the grid changed."""
    here = fix.grid
    if here == state["dwell_grid"] and state["recorded_at"] is not None:
        state.update(candidate_grid=None, candidate_since=None)
        return None
    if state["candidate_since"] is None or here != state["candidate_grid"]:
        state.update(candidate_grid=here, candidate_since=fix.recorded_at)
    if fix.recorded_at - state["candidate_since"] >= timedelta(seconds=settings["DWELL_S"]):
        left = state["dwell_grid"]
        state.update(dwell_grid=here, candidate_grid=None, candidate_since=None)
        return (left, here) if left != here else None
    return None


def prune_trails(conn: sa.Connection, settings: dict[str, Any], now: datetime) -> int:
    """Forget fixes older than `TRAIL_DAYS`; returns how many."""
    cutoff = now - timedelta(days=settings["TRAIL_DAYS"])
    return conn.execute(worker_positions.delete().where(
        worker_positions.c.recorded_at < cutoff)).rowcount
