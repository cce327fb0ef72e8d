"""The sweep: overdue cases climb one level, with the reason recorded.

Runs as `geo-service sweep` (cron-able) and periodically inside the server. Each case is
escalated by an optimistic update at the version the sweep read, so two sweeps running
at once (two servers, cron and a server) escalate a case once: the second finds the
version moved and leaves it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from geo_service.cases.model import ACTIVE, rank
from geo_service.cases.records import record_step, update_report, utc_times
from geo_service.cases.sla import due_at
from geo_service.cases.workflow import escalation
from geo_service.errors import Conflict
from geo_service.events import ReportOverdue
from geo_service.store.tables import reports

SWEEP_ACTOR = "sweep"


def overdue_cases(conn: sa.Connection, now: datetime, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(reports).where(
        reports.c.status.in_(sorted(ACTIVE)), reports.c.due_at < now)
        .order_by(reports.c.due_at).limit(limit))
    return [utc_times(dict(r._mapping)) for r in rows]


def escalate_overdue(conn: sa.Connection, settings: dict[str, Any], now: datetime, *,
                     limit: int = 1000) -> int:
    """Escalate up to `limit` overdue cases one level each; returns how many changed.
    A case the prefecture owns cannot climb: its deadline is renewed and the overdue
    event says so again (supervision, 督办), once per deadline rather than per sweep."""
    changed = 0
    for row in overdue_cases(conn, now, limit):
        late = f"overdue since {row['due_at'].isoformat(timespec='minutes')}"
        if rank(row["owner_level"]) == 0:
            changes = {"due_at": due_at(settings, row["class"], row["severity"], now)}
            note = f"{late}; the prefecture owns it: supervision"
        else:
            changes = {"status": "escalated", **escalation(row, settings, now)}
            note = f"{late}: escalated to {changes['owner_level']} {changes['owner_code']}"
        try:
            new = update_report(conn, row, {**changes, "updated_at": now})
        except Conflict:
            continue  # another sweep or a person changed it since we read it
        record_step(conn, new, ReportOverdue, actor=SWEEP_ACTOR, action="escalate"
                    if new["status"] == "escalated" and new["owner_level"] != row["owner_level"]
                    else "supervise", previous=row["status"], now=now, note=note,
                    overdue=True)
        changed += 1
    return changed
