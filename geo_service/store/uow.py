"""The unit of work: one transaction around a piece of work, and what it produced.

Domain functions take a connection and never open a transaction of their own; the caller
opens one here. Events the work published are in the outbox when it commits, and only
then are in-process listeners told.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa

from geo_service.events import Event, notify, take_pending


@dataclass
class UnitOfWork:
    """One transaction and what it produced: `conn` for the domain functions, and after
    the commit the events they published."""

    conn: sa.Connection
    events: list[Event] = field(default_factory=list)


@contextmanager
def unit_of_work(engine: sa.Engine, *, commit: bool = True) -> Iterator[UnitOfWork]:
    """Open the one transaction of a piece of work; commit it when the block ends (roll it
    back on an exception, or always with `commit=False`: a dry run). Events were written
    to the outbox inside the transaction; listeners hear of them only after the commit."""
    with engine.connect() as conn:
        uow = UnitOfWork(conn)
        tx = conn.begin()
        if conn.dialect.name == "sqlite":
            # Take the write lock now: a deferred transaction that reads, then writes after
            # another writer committed, fails at once ("database is locked") instead of
            # waiting its turn. Work is short, so waiting is the right thing.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            with tx:
                yield uow
                if not commit:
                    tx.rollback()
        finally:
            published = take_pending(conn, tx)
    if commit:
        uow.events = published
        notify(published)
