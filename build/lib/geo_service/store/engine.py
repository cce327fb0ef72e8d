"""The store's engine: one SQLAlchemy engine per app, SQLite tuned for a service, and the
schema by Alembic (migrated once per deployment, checked by every process)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> sa.Engine:
    """An engine; SQLite gets WAL (readers never block the writer) and foreign keys."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class SchemaNotCurrent(RuntimeError):
    """The store's schema is not the one this code expects: `geo-service migrate` first."""


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: sa.Engine) -> None:
    """Bring the schema to the newest migration (idempotent). Run once per deployment
    (`geo-service migrate`, or `serve` before it forks), never by every worker at once."""
    cfg = _config()
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:  # batch migrations rebuild tables that others reference: check at the end
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # (a no-op inside a transaction)
            conn.commit()
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError("a migration left rows whose references are broken")
        finally:
            if sqlite:
                conn.rollback()
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def check_current(engine: sa.Engine) -> None:
    """SchemaNotCurrent, telling the operator what to run, unless the schema is at head."""
    heads = set(ScriptDirectory.from_config(_config()).get_heads())
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if current != heads:
        at = ", ".join(sorted(current)) or "empty"
        raise SchemaNotCurrent(
            f"the database schema is at {at}, this code needs {', '.join(sorted(heads))}: "
            "run `geo-service migrate` (with the same GEO_DATABASE_URL) first")
