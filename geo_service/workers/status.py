"""A worker's status is computed from time: online, stale, offline, or off duty.

Nobody has to report "I went silent": the status follows from the age of the last good
fix (`STALE_MIN`, `OFFLINE_H`) and the shift. The service announces a change once (an
event) when a fix, a shift change or the sweep notices it; `worker_state.status` remembers
what was last announced.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from geo_service.events import WorkerStatusChanged, publish
from geo_service.store.tables import worker_areas, worker_state, workers

STATUSES = ("online", "stale", "offline", "off_duty")
# The roles of people in the field (DOMAIN.md), as the roster and the demo name them.
WORKER_ROLES = ("grid_worker", "grid_leader", "grid_guide", "liaison_head", "militia")


def status_of(on_duty: bool, last_fix: datetime | None, now: datetime,
              settings: dict[str, Any]) -> str:
    if not on_duty:
        return "off_duty"
    if last_fix is None:
        return "offline"
    if last_fix.tzinfo is None:
        last_fix = last_fix.replace(tzinfo=UTC)
    age = now - last_fix
    if age >= timedelta(hours=settings["OFFLINE_H"]):
        return "offline"
    if age >= timedelta(minutes=settings["STALE_MIN"]):
        return "stale"
    return "online"


def home_areas(conn: sa.Connection, codes: list[str] | None = None) -> dict[str, str]:
    """The (first) area each worker answers for, by worker code."""
    q = (sa.select(workers.c.code, sa.func.min(worker_areas.c.area_code))
         .join(worker_areas, worker_areas.c.worker_id == workers.c.id)
         .group_by(workers.c.code))
    if codes is not None:
        q = q.where(workers.c.code.in_(codes))
    return dict(conn.execute(q).all())


def announce(conn: sa.Connection, state: dict[str, Any], new_status: str, *, role: str,
             area: str | None, now: datetime) -> dict[str, Any]:
    """Record and publish a status change (the caller writes the rest of the state)."""
    previous = state.get("status")
    state.update(status=new_status, status_at=now)
    t = state.get("recorded_at")
    publish(conn, WorkerStatusChanged(
        code=state["worker_code"], area=area, role=role, status=new_status,
        lon=state.get("lon"), lat=state.get("lat"), grid=state.get("grid_code"),
        recorded_at=t.isoformat() if t else None, previous=previous))
    return state


def sweep_statuses(conn: sa.Connection, settings: dict[str, Any], now: datetime) -> int:
    """Announce every status that time changed (online → stale → offline); returns how
    many. Optimistic like the case sweep: a row changed since it was read is left alone."""
    rows = conn.execute(sa.select(worker_state, workers.c.on_duty, workers.c.role).join(
        workers, workers.c.code == worker_state.c.worker_code)).mappings().all()
    changed = [dict(r) for r in rows
               if status_of(r["on_duty"], r["recorded_at"], now, settings) != r["status"]]
    if not changed:
        return 0
    areas = home_areas(conn, [r["worker_code"] for r in changed])
    n = 0
    for r in changed:
        new = status_of(r["on_duty"], r["recorded_at"], now, settings)
        done = conn.execute(worker_state.update().where(
            worker_state.c.worker_code == r["worker_code"],
            worker_state.c.updated_at == r["updated_at"]).values(
            status=new, status_at=now, updated_at=now)).rowcount
        if done:
            announce(conn, r, new, role=r["role"], area=areas.get(r["worker_code"]), now=now)
            n += 1
    return n


def set_duty(conn: sa.Connection, code: str, on_duty: bool, *, settings: dict[str, Any],
             now: datetime) -> str:
    """Start or end a worker's shift; announces the status it changes. Returns the status."""
    role = conn.execute(sa.select(workers.c.role).where(workers.c.code == code)).scalar()
    conn.execute(workers.update().where(workers.c.code == code).values(on_duty=on_duty))
    row = conn.execute(sa.select(worker_state).where(worker_state.c.worker_code == code)
                       ).mappings().first()
    state = dict(row) if row else {"worker_code": code, "status": None}
    new = status_of(on_duty, state.get("recorded_at"), now, settings)
    if new != state["status"]:
        announce(conn, state, new, role=role, area=home_areas(conn, [code]).get(code), now=now)
        values = {"status": new, "status_at": now, "updated_at": now}
        if row:
            conn.execute(worker_state.update().where(worker_state.c.worker_code == code)
                         .values(**values))
        else:
            conn.execute(worker_state.insert().values(worker_code=code, **values))
    return new
