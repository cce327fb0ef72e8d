"""The store: one SQLAlchemy engine per app, schema by Alembic, SQLite tuned for a service,
and the unit of work that owns a transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from .events import Event, notify, take_pending

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> sa.Engine:
    """An engine; SQLite gets WAL (readers never block the writer) and foreign keys."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
            cur = dbapi_conn.cursor()
            if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def upgrade(engine: sa.Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


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
