"""`store.prepared`: the hot statements on the driver's cursor store, read and fail exactly
as `conn.execute` would (SQLite and PostGIS)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from geo_service.store.prepared import Prepared
from geo_service.store.tables import outbox

AT = datetime(2026, 11, 30, 5, 40, 12, 345678, tzinfo=UTC)
ROW = {"at": AT, "kind": "report.created", "area_code": None,
       "payload": {"名称": "甲村", "n": 3, "nested": [1.5, None, True]}}


def stored(conn: sa.Connection, rid: int) -> dict:
    row = dict(conn.execute(sa.select(outbox).where(outbox.c.id == rid)).one()._mapping)
    row["at"] = row["at"].replace(tzinfo=row["at"].tzinfo or UTC)  # SQLite keeps it naive
    del row["id"]
    return row


def test_an_insert_stores_what_conn_execute_stores_and_returns_its_key(engine) -> None:
    with engine.begin() as conn:
        ours = Prepared(outbox.insert()).insert(conn, ROW)
        theirs = conn.execute(outbox.insert(), ROW).inserted_primary_key[0]
        assert isinstance(ours, int) and theirs == ours + 1
        assert stored(conn, ours) == stored(conn, theirs) == ROW


def test_an_insert_that_does_nothing_on_conflict_returns_none(engine) -> None:
    def insert(dialect: sa.Dialect) -> sa.Insert:
        module = {"sqlite": sqlite, "postgresql": postgresql}[dialect.name]
        return module.insert(outbox).on_conflict_do_nothing(index_elements=[outbox.c.id])

    statement = Prepared(insert)
    with engine.begin() as conn:
        assert statement.insert(conn, {**ROW, "id": 7}) == 7
        assert statement.insert(conn, {**ROW, "id": 7, "kind": "other"}) is None
        assert statement.insert(conn, {**ROW, "id": 8}) == 8
        assert conn.execute(sa.select(outbox.c.id, outbox.c.kind).order_by(outbox.c.id)
                            ).all() == [(7, "report.created"), (8, "report.created")]


def test_a_failed_statement_raises_sqlalchemys_error_and_nothing_stays(engine) -> None:
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        Prepared(outbox.insert()).insert(conn, ROW)
        Prepared(outbox.insert()).insert(conn, {**ROW, "kind": None})  # NOT NULL
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar() == 0


def test_a_select_with_constants_reads_rows_and_wants_every_parameter(engine) -> None:
    latest = Prepared(sa.select(outbox.c.id, outbox.c.kind)
                      .where(outbox.c.at >= sa.bindparam("since")).order_by(outbox.c.id)
                      .limit(2))  # the LIMIT is a bound constant
    with engine.begin() as conn:
        ids = [Prepared(outbox.insert()).insert(conn, {**ROW, "kind": f"k{i}"})
               for i in range(3)]
        assert latest.rows(conn, {"since": AT}) == [(ids[0], "k0"), (ids[1], "k1")]
        assert latest.rows(conn, {"since": datetime(2027, 1, 1, tzinfo=UTC)}) == []
        with pytest.raises(ValueError, match="since"):
            latest.rows(conn, {})


def test_it_begins_the_connections_transaction_as_conn_execute_would(engine) -> None:
    with engine.connect() as conn:
        kept = Prepared(outbox.insert()).insert(conn, ROW)
        conn.commit()
        dropped = Prepared(outbox.insert()).insert(conn, ROW)  # never committed
    with engine.connect() as conn:
        assert conn.execute(sa.select(outbox.c.id)).scalars().all() == [kept]
        assert dropped != kept
