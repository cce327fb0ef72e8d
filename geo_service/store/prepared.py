"""The statements every report runs, on the driver's own cursor.

`conn.execute` spends about 30 µs per statement on its own machinery (the compiled
cache's lookup, the execution context, events, the result object) on top of the driver.
Intake reads once and writes three rows per report, the writes while it holds SQLite's
one write lock, which the other workers wait for (BENCHMARKS.md: intake 10-15 % faster
without it). A `Prepared` statement is compiled by SQLAlchemy once per
dialect (and set of columns, for an insert), its values converted by the columns' own
types (the same bind processors `conn.execute` applies), and executed on the
connection's DBAPI cursor in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from typing import Any, NamedTuple

import sqlalchemy as sa

# (name in the SQL, key in the parameters, the type's conversion); a constant has no key
# and a conversion that returns it
_Bind = tuple[str, str | None, Callable[[Any], Any] | None]


class _Compiled(NamedTuple):
    sql: str
    binds: list[_Bind]
    positional: bool
    returning: bool  # the new row's key comes back as a row (PostgreSQL)
    key: str | None  # the primary key's column, when the row gives its value


class Prepared:
    """An INSERT of one row at a time (optionally `ON CONFLICT DO NOTHING`; a function
    of the dialect for that), or a SELECT whose columns need no conversion on the way
    back (text and numbers)."""

    def __init__(self, statement: sa.Executable | Callable[[sa.Dialect], sa.Insert]
                 ) -> None:
        self._statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}

    def _compile(self, dialect: sa.Dialect, keys: tuple[str, ...]) -> _Compiled:
        stmt = self._statement if isinstance(self._statement, sa.Executable) else \
            self._statement(dialect)
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
        names = compiled.positiontup if compiled.positional else list(compiled.binds)
        binds = []
        for name in names or ():
            bind = compiled.binds[name]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.key in keys:
                binds.append((name, bind.key, process))
            elif bind.callable is None and bind.value is not None:  # a LIMIT's, say
                value = process(bind.value) if process else bind.value
                binds.append((name, None, lambda _, v=value: v))
            else:  # (an insert's Python-side default, which conn.execute would run)
                raise ValueError(f"no value for {bind.key!r}")
        table = getattr(stmt, "table", None)  # an insert's: its key, when the row gives it
        key = next((c.key for c in table.primary_key if c.key in keys), None) \
            if table is not None else None
        return _Compiled(compiled.string, binds, compiled.positional,
                         bool(compiled.effective_returning), key)

    def _run(self, conn: sa.Connection, params: dict[str, Any], cursor: Any) -> _Compiled:
        """Execute on `cursor`; the statement as compiled for `conn`."""
        if not conn.in_transaction():  # begin as conn.execute would (its `commit` is ours)
            conn.begin()
        key = (conn.dialect.name, tuple(params))
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = self._compile(conn.dialect, key[1])
        sql, binds, positional = found.sql, found.binds, found.positional
        get = params.get
        values: Any = [p(get(k)) if p else get(k) for _, k, p in binds] if positional else {
            name: p(get(k)) if p else get(k) for name, k, p in binds}
        dbapi = conn.dialect.loaded_dbapi
        try:
            cursor.execute(sql, values)
        except dbapi.Error as err:
            # What conn.execute raises: SQLAlchemy's own exception for the driver's, and
            # a connection that the error says is gone is not handed out again.
            if conn.dialect.is_disconnect(err, conn.connection.dbapi_connection, cursor):
                conn.invalidate(err)
            raise sa.exc.DBAPIError.instance(sql, values, err, dbapi.Error,
                                             dialect=conn.dialect) from err
        return found

    def insert(self, conn: sa.Connection, row: dict[str, Any]) -> int | None:
        """Insert `row` in `conn`'s transaction: the new row's primary key, or None when
        nothing was written (a conflict the statement does nothing on)."""
        with closing(conn.connection.dbapi_connection.cursor()) as cursor:
            done = self._run(conn, row, cursor)
            if done.returning:
                got = cursor.fetchone()
                return None if got is None else got[0]
            if not cursor.rowcount:
                return None
            return row[done.key] if done.key else cursor.lastrowid  # (SQLite, not given)

    def rows(self, conn: sa.Connection, params: dict[str, Any]) -> list[tuple]:
        """The rows of a SELECT, as the driver returns them."""
        with closing(conn.connection.dbapi_connection.cursor()) as cursor:
            self._run(conn, params, cursor)
            return cursor.fetchall()
