"""Reading and writing report rows and their history; every change goes through here.

A change is one optimistic update (`WHERE version = seen`), one row of the report's
history and one event in the outbox, in the caller's transaction: two writers who saw
the same version cannot both win, and the history and the stream never disagree with
the row.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from geo_service.errors import Conflict, NotFound
from geo_service.events import ReportEvent, publish
from geo_service.store.prepared import Prepared
from geo_service.store.tables import report_events, reports

_TIMES = ("occurred_at", "received_at", "updated_at", "due_at", "accepted_at", "closed_at")


def utc_times(row: dict[str, Any]) -> dict[str, Any]:
    """SQLite hands stored UTC times back without their offset: put it back."""
    for k in _TIMES:
        t = row.get(k)
        if t is not None and t.tzinfo is None:
            row[k] = t.replace(tzinfo=UTC)
    return row


def home_area(row: dict[str, Any]) -> str:
    """Where a report lies in the tree: its grid, or (in no grid) the township it was routed
    to. The scope policy and the stream decide by this."""
    return row["grid_code"] or row["township_code"] or row["owner_code"]


# Built once: intake runs these for every report, and building a statement costs more than
# running it (SQLAlchemy caches the compiled form, not the construction).
_BY_ID = sa.select(reports).where(reports.c.id == sa.bindparam("report_id"))
_INSERT = reports.insert()
_INSERT_STEP = Prepared(report_events.insert())
# A new report: nothing (rowcount 0) when its id is taken, instead of an IntegrityError,
# which would fail a shared transaction (`uow.group_commit`) and, on PostgreSQL, the rest
# of the transaction. Same SQL on both stores (`INSERT ... ON CONFLICT (id) DO NOTHING`).
_INSERT_NEW = Prepared(lambda dialect: {"sqlite": sqlite, "postgresql": postgresql}[
    dialect.name].insert(reports).on_conflict_do_nothing(index_elements=[reports.c.id]))
_EMPTY = {c.name: None for c in reports.columns}


def report_row(conn: sa.Connection, report_id: str) -> dict[str, Any] | None:
    if len(report_id) == 36:  # a UUID in any case or form names the same report
        with contextlib.suppress(ValueError):
            report_id = str(uuid.UUID(report_id))
    row = conn.execute(_BY_ID, {"report_id": report_id}).first()
    return utc_times(dict(row._mapping)) if row else None


def require_report(conn: sa.Connection, report_id: str) -> dict[str, Any]:
    row = report_row(conn, report_id)
    if row is None:
        raise NotFound(f"no report {report_id[:40]!r}", "id", code="unknown_report")
    return row


def insert_report(conn: sa.Connection, row: dict[str, Any]) -> dict[str, Any]:
    seq = conn.execute(_INSERT, row).inserted_primary_key[0]
    return utc_times({**_EMPTY, **row, "seq": seq})


def insert_new_report(conn: sa.Connection, row: dict[str, Any]) -> dict[str, Any] | None:
    """`insert_report`, or None (and nothing written) when a report holds its id."""
    seq = _INSERT_NEW.insert(conn, row)
    if seq is None:
        return None
    return utc_times({**_EMPTY, **row, "seq": seq})


def update_report(conn: sa.Connection, row: dict[str, Any], changes: dict[str, Any]
                  ) -> dict[str, Any]:
    """Apply `changes` if the report is still at the version in `row`; 409
    `stale_version` otherwise. Returns the new row (version + 1)."""
    changes = {**changes, "version": row["version"] + 1}
    done = conn.execute(reports.update().where(
        reports.c.seq == row["seq"], reports.c.version == row["version"]).values(**changes))
    if done.rowcount != 1:
        current = conn.execute(sa.select(reports.c.version).where(
            reports.c.seq == row["seq"])).scalar()
        raise Conflict(f"report {row['id']} changed meanwhile (now version {current}, you "
                       f"sent {row['version']}): reload it and decide again", "version",
                       code="stale_version", detail={"current_version": current})
    return {**row, **changes}


def record_step(conn: sa.Connection, row: dict[str, Any], event: type[ReportEvent], *,
                actor: str, action: str, previous: str | None, now: datetime,
                note: str = "", overdue: bool = False) -> None:
    """Append the step that produced `row` to its history, and its event to the outbox."""
    _INSERT_STEP.insert(conn, {
        "report_seq": row["seq"], "at": now, "actor": actor, "action": action,
        "from_status": previous, "to_status": row["status"], "owner_level": row["owner_level"],
        "owner_code": row["owner_code"], "version": row["version"], "note": note})
    publish(conn, event(
        id=row["id"], area=home_area(row), status=row["status"],
        previous=previous, action=action, version=row["version"],
        owner_level=row["owner_level"], owner_code=row["owner_code"],
        report_class=row["class"], subtype=row["subtype"], severity=row["severity"],
        lon=row["lon"], lat=row["lat"], overdue=overdue, note=note[:200],
        worker=row.get("assigned_worker")))


def history(conn: sa.Connection, seq: int) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(report_events).where(report_events.c.report_seq == seq)
                        .order_by(report_events.c.id))
    out = []
    for r in rows:
        d = dict(r._mapping)
        if d["at"].tzinfo is None:
            d["at"] = d["at"].replace(tzinfo=UTC)
        del d["report_seq"]
        out.append(d)
    return out
