"""The per-process fan-out hub: one background thread reads new outbox rows once and hands
them to every open event stream of this process.

Why one thread: a hundred walls on one worker must not run a hundred queries per poll.
The hub reads each new event once; a stream only waits on its own queue (no CPU while
idle). A stream's filter may choose from a whole batch at once with work shared by every
stream of the batch (`live.stream.Visible` sorts the batch by scope area once), so a
call-out of 1,000 orders to 1,000 phones costs the hub ~15 ms, not a million tests.
On PostgreSQL the hub LISTENs on `outbox.CHANNEL` over its own connection: the writer's
`pg_notify` is delivered at commit, so an event written by any process of any instance
on the same database wakes every hub at once. Polling every `STREAM_POLL_S` stays as the
safety net (a lost LISTEN connection) and is all SQLite has.

A subscriber's queue is bounded: one that falls `max_behind` events behind is dropped (its
stream ends; the client reconnects with Last-Event-ID and replays from the outbox), so
one stuck client never holds the hub or the process's memory.

Fork-safe: the thread and the LISTEN connection start lazily with the first subscriber,
in the process that serves it (a gunicorn worker, never the master), and stop with the
last one; after a fork the child starts empty.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from geo_service.store import outbox

log = logging.getLogger(__name__)

LISTEN_RETRY_S = 10.0  # after a failed LISTEN connection, poll this long before retrying
Row = dict[str, Any]  # an outbox row: id, at, kind, area_code, payload


class Subscription:
    """One stream's bounded queue of the outbox rows it wants, in id order."""

    def __init__(self, wants: Callable[[Row], bool], start: int, max_behind: int) -> None:
        self.wants = wants
        self.start = start  # the hub's cursor when it subscribed: rows after it arrive here
        self.max_behind = max_behind
        self.dropped = False  # fell behind, or the process is shutting down: end the stream
        self._rows: deque[Row] = deque()
        self._ready = threading.Condition()

    def offer(self, rows: list[Row], shared: dict[Any, Any] | None = None) -> bool:
        """Queue the wanted ones of `rows` (hub thread); False when this subscriber is
        now dropped. A filter with a `pick(rows, shared)` method chooses from the whole
        batch at once, with `shared` the same dict for every subscriber of this batch
        (see `live.stream.Visible`); any other is asked row by row."""
        try:
            pick = getattr(self.wants, "pick", None)
            mine = (pick(rows, {} if shared is None else shared) if pick is not None
                    else [r for r in rows if self.wants(r)])
        except Exception:  # a filter that fails must not stop the other streams
            log.exception("event stream filter failed; dropping the stream")
            mine, self.dropped = [], True
        with self._ready:
            if len(self._rows) + len(mine) > self.max_behind:
                self.dropped = True
            if self.dropped:
                self._rows.clear()
            else:
                self._rows.extend(mine)
            self._ready.notify()
        return not self.dropped

    def end(self) -> None:
        with self._ready:
            self.dropped = True
            self._ready.notify()

    def take(self, timeout: float) -> list[Row]:
        """The rows queued so far, waiting up to `timeout` seconds for one; empty on
        timeout or when dropped."""
        with self._ready:
            self._ready.wait_for(lambda: self._rows or self.dropped, timeout)
            rows = list(self._rows)
            self._rows.clear()
            return rows


class Hub:
    def __init__(self, engine: sa.Engine, poll_s: float, *, max_behind: int = 10_000,
                 page: int = 1_000) -> None:
        self.engine, self.poll_s = engine, poll_s
        self.max_behind, self.page = max_behind, page
        self.listens = engine.dialect.name == "postgresql"
        self._reset()
        me = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: (h := me()) is not None and h._reset())

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._subs: set[Subscription] = set()
        self._cursor = 0
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._retry_at = 0.0

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def subscribe(self, wants: Callable[[Row], bool]) -> Subscription:
        """A new subscription; `start` is the id after which it receives rows (the
        current end of the outbox when the hub was idle)."""
        with self._lock:
            if self._thread is None:
                with self.engine.connect() as conn:
                    self._cursor = outbox.last_id(conn)
                self._thread = threading.Thread(target=self._run, name="geo-event-hub",
                                                daemon=True)
                self._thread.start()
            sub = Subscription(wants, self._cursor, self.max_behind)
            self._subs.add(sub)
            return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    def close(self) -> None:
        """End every stream (the process is shutting down: clients reconnect elsewhere)
        and let the thread stop."""
        with self._lock:
            subs, self._subs = list(self._subs), set()
        for sub in subs:
            sub.end()
        self._wake.set()

    def join(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        listener: Any = None
        try:
            while True:
                if self.listens and listener is None and time.monotonic() >= self._retry_at:
                    listener = self._listen()  # before reading: no commit falls between
                    if listener is None:
                        self._retry_at = time.monotonic() + LISTEN_RETRY_S
                try:
                    self._deliver()
                except sa.exc.SQLAlchemyError:
                    log.exception("event hub: reading the outbox failed; retrying")
                with self._lock:
                    if not self._subs:
                        self._thread = None
                        return
                listener = self._wait(listener)
        finally:
            if listener is not None:
                listener.close()

    def _deliver(self) -> None:
        while True:
            with self.engine.connect() as conn:
                rows = outbox.read_after(conn, self._cursor, self.page)
            if not rows:
                return
            shared: dict[Any, Any] = {}  # the filters' work on this batch, done once
            with self._lock:  # atomic with the cursor: a new subscriber starts after them
                for sub in list(self._subs):
                    if not sub.offer(rows, shared):
                        self._subs.discard(sub)
                self._cursor = rows[-1]["id"]
            if len(rows) < self.page:
                return

    def _wait(self, listener: Any) -> Any:
        """Until NOTIFY (PostgreSQL), `close`, or `poll_s`; returns the listener, or None
        when it broke (the next round reconnects; polling goes on meanwhile)."""
        if listener is None:
            self._wake.wait(self.poll_s)
            self._wake.clear()
            return None
        deadline = time.monotonic() + self.poll_s
        try:  # in short slices, so that `close` is heard soon even with a long poll_s
            while not self._wake.is_set() and (left := deadline - time.monotonic()) > 0:
                if any(True for _ in listener.notifies(timeout=min(left, 0.5),
                                                       stop_after=1)):
                    break
            self._wake.clear()
            return listener
        except Exception:  # any failure of the connection: poll, reconnect later
            log.warning("event hub: the LISTEN connection failed; polling until it is back")
            listener.close()
            return None

    def _listen(self) -> Any:
        import psycopg

        url = self.engine.url.set(drivername="postgresql")
        try:
            conn = psycopg.connect(url.render_as_string(hide_password=False),
                                   autocommit=True, connect_timeout=5)
            conn.execute(f"LISTEN {outbox.CHANNEL}")
            return conn
        except psycopg.Error as err:
            log.warning("event hub: cannot LISTEN (%s); polling", err)
            return None
