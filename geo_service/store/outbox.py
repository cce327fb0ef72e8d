"""The outbox: every event, durable, in commit order, for the stream and other systems.

Ids are monotonic and, on PostgreSQL, committed in id order: a transaction that appends
takes a transaction-level advisory lock first, so a reader that asks "after id N" never
skips an event committed late with a smaller id. (SQLite serialises writers anyway.)
On PostgreSQL the same statement sends `pg_notify(CHANNEL)`, which the server delivers at
commit (and never on rollback): every process listening (`live.hub`) wakes at once, on
this instance or another one on the same database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from geo_service.store.prepared import Prepared
from geo_service.store.tables import outbox

_LOCK = 7_231_001  # the advisory lock key for outbox writers
CHANNEL = "geo_outbox"  # LISTEN/NOTIFY channel: "the outbox has new rows"
_INSERT = outbox.insert()  # built once: every change appends (building costs ~60 µs)
_APPEND = Prepared(_INSERT)  # one row: on the driver's cursor (see `store.prepared`)


def append(conn: sa.Connection, kind: str, area_code: str | None,
           payload: dict[str, Any]) -> int:
    """Append one event in the caller's transaction; returns its id."""
    if conn.dialect.name == "postgresql":
        # One round trip; a transaction's identical notifications are delivered once.
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k), pg_notify(:c, '')"),
                     {"k": _LOCK, "c": CHANNEL})
    return _APPEND.insert(conn, {"at": datetime.now(UTC), "kind": kind,
                                 "area_code": area_code, "payload": payload})


def append_many(conn: sa.Connection, events: list[tuple[str, str | None, dict[str, Any]]]
                ) -> None:
    """Append (kind, area_code, payload) events in the caller's transaction, in order, in
    one statement (executemany): a call-out's thousand orders without a thousand round
    trips."""
    if not events:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k), pg_notify(:c, '')"),
                     {"k": _LOCK, "c": CHANNEL})
    now = datetime.now(UTC)
    conn.execute(_INSERT, [{"at": now, "kind": k, "area_code": a, "payload": p}
                                   for k, a, p in events])


def read_after(conn: sa.Connection, after: int, limit: int = 1000) -> list[dict[str, Any]]:
    """Events with an id above `after`, oldest first."""
    rows = conn.execute(sa.select(outbox).where(outbox.c.id > after)
                        .order_by(outbox.c.id).limit(limit))
    return [dict(r._mapping) for r in rows]


def last_id(conn: sa.Connection) -> int:
    """The newest event's id (0 for an empty outbox): where a new stream starts."""
    return conn.execute(sa.select(sa.func.coalesce(sa.func.max(outbox.c.id), 0))).scalar_one()


def prune(conn: sa.Connection, older_than: timedelta) -> int:
    """Delete events older than `older_than`; returns how many."""
    cutoff = datetime.now(UTC) - older_than
    return conn.execute(outbox.delete().where(outbox.c.at < cutoff)).rowcount


def first_id(conn: sa.Connection) -> int | None:
    """The oldest kept event's id (None: the outbox is empty)."""
    return conn.execute(sa.select(sa.func.min(outbox.c.id))).scalar()


def prune_events(conn: sa.Connection, settings: dict[str, Any], now: datetime) -> int:
    """The sweep's part: forget events older than `EVENT_DAYS`, but never the newest one
    (on SQLite a new row would otherwise take a freed id, and a stream resuming "after"
    it would skip the new events). Returns how many."""
    cutoff = now - timedelta(days=settings["EVENT_DAYS"])
    newest = sa.select(sa.func.max(outbox.c.id)).scalar_subquery()
    return conn.execute(outbox.delete().where(outbox.c.at < cutoff, outbox.c.id < newest)
                        ).rowcount
