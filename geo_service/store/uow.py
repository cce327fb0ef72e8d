"""The unit of work: one transaction around a piece of work, and what it produced.

Domain functions take a connection and never open a transaction of their own; the caller
opens one here. Events the work published are in the outbox when it commits, and only
then are in-process listeners told.

SQLite has one writer at a time. A writer that finds the database locked sleeps in
SQLite's busy handler (1, 2, 5, 10 … ms) and polls, so under load the lock sat free while
the next writer slept; units of work on a SQLite file therefore queue for `WriteLock`
first (a thread lock in each process, a `flock` across processes), which wakes the next
writer the moment the last one commits. `BEGIN IMMEDIATE` then finds the database free,
and the busy handler only still serves writers outside units of work.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from geo_service.events import Event, notify, take_pending

T = TypeVar("T")


@dataclass
class UnitOfWork:
    """One transaction and what it produced: `conn` for the domain functions, and after
    the commit the events they published."""

    conn: sa.Connection
    events: list[Event] = field(default_factory=list)


class WriteLock:
    """The right to write one SQLite file, handed from writer to writer without polling.

    Threads of a process queue on a `threading.Lock`; the one holding it takes an
    exclusive `flock` on `<database>-writelock` beside the file, which the kernel hands
    to the next process's writer when this one lets go. Like a lock wait on PostgreSQL it
    has no time limit: a writer waits for the transaction before it however long that
    takes (a boundary publish, say). Reentrant per thread: a unit of work opened inside
    another one on the same thread does not wait for itself (SQLite then refuses its
    second connection's write as before)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(f"{path}-writelock")
        self._pid = -1
        self._local = threading.local()
        self._setup = threading.Lock()

    def _thread_lock(self) -> threading.Lock:
        """This process's thread lock: a forked child gets a fresh one (its parent's may
        have been held at the fork)."""
        pid = os.getpid()
        if self._pid != pid:
            with self._setup:
                if self._pid != pid:
                    self._lock = threading.Lock()
                    self._pid = pid
        return self._lock

    @contextmanager
    def held(self) -> Iterator[None]:
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield
            finally:
                self._local.depth = depth
            return
        with self._thread_lock():
            # Opened per writer (a few µs): nothing stays open per database, and a child
            # forked meanwhile never shares the open file, whose lock `flock` is.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # the GIL is released while it waits
                self._local.depth = 1
                try:
                    yield
                finally:
                    self._local.depth = 0
            finally:
                os.close(fd)  # and with it the lock


_write_locks: dict[str, WriteLock] = {}
_engine_locks: weakref.WeakKeyDictionary[sa.Engine, WriteLock | None] = (
    weakref.WeakKeyDictionary())
_registry = threading.Lock()


def write_lock(engine: sa.Engine) -> WriteLock | None:
    """The write lock of the engine's SQLite file; None for other stores (and for SQLite
    in memory, where every connection is a database of its own)."""
    try:
        return _engine_locks[engine]
    except KeyError:
        pass
    found = None
    db = engine.url.database
    if engine.dialect.name == "sqlite" and db and db != ":memory:" and not db.startswith(
            "file:"):
        path = str(Path(db).resolve())  # one lock per file, however the URL names it
        with _registry:
            found = _write_locks.setdefault(path, WriteLock(Path(path)))
    _engine_locks[engine] = found
    return found


@contextmanager
def unit_of_work(engine: sa.Engine, *, commit: bool = True) -> Iterator[UnitOfWork]:
    """Open the one transaction of a piece of work; commit it when the block ends (roll it
    back on an exception, or always with `commit=False`: a dry run). Events were written
    to the outbox inside the transaction; listeners hear of them only after the commit.

    On SQLite the write lock is taken before the transaction begins and held until it
    ended: keep reads that need no lock (placing a report, say) outside."""
    lock = write_lock(engine)
    # The pool's check-out and its reset on return stay outside the lock: only the
    # transaction holds it.
    with engine.connect() as conn, (lock.held() if lock else _nothing()):
        uow = UnitOfWork(conn)
        tx = conn.begin()
        if conn.dialect.name == "sqlite":
            # Take SQLite's own lock now: a deferred transaction that reads, then writes
            # after another writer committed, fails at once ("database is locked")
            # instead of waiting its turn. Writers outside units of work still may hold
            # it; for them the busy handler waits.
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


@contextmanager
def _nothing() -> Iterator[None]:
    yield


class _Work:
    __slots__ = ("done", "error", "value", "work")

    def __init__(self, work: Callable[[sa.Connection], Any]) -> None:
        self.work = work
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None


class GroupCommit:
    """Units of work of many threads of one process, committed together: see
    `group_commit`. One per engine and process."""

    MAX_BATCH = 64

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._cond = threading.Condition()
        self._queue: deque[_Work] = deque()

    def run(self, work: Callable[[sa.Connection], T]) -> T:
        mine = _Work(work)
        with self._cond:
            self._queue.append(mine)
            # The oldest waiting work leads: its thread writes every work queued by then.
            while not mine.done and self._queue[0] is not mine:
                self._cond.wait()
            batch = [] if mine.done else [
                self._queue[k] for k in range(min(len(self._queue), self.MAX_BATCH))]
        if batch:
            try:
                self._write(batch)
            finally:
                with self._cond:
                    for item in batch:
                        if not item.done:  # only if the leader itself was interrupted
                            item.error = RuntimeError("the group commit was interrupted")
                            item.done = True
                        self._queue.popleft()
                    self._cond.notify_all()
        if mine.error is not None:
            raise mine.error
        return mine.value

    def _write(self, batch: list[_Work]) -> None:
        try:
            with unit_of_work(self.engine) as uow:
                values = [item.work(uow.conn) for item in batch]
        except Exception as err:
            if len(batch) == 1:
                batch[0].error = err
                batch[0].done = True
                return
            # One work failed (a report whose id a concurrent delivery just took, say):
            # nothing of the batch was committed. Each work again in its own transaction,
            # so that every one gets its own answer.
            for item in batch:
                try:
                    with unit_of_work(self.engine) as uow:
                        item.value = item.work(uow.conn)
                except Exception as one:
                    item.error = one
                item.done = True
            return
        for item, value in zip(batch, values, strict=True):
            item.value = value
            item.done = True


_groups: weakref.WeakKeyDictionary[sa.Engine, tuple[int, GroupCommit]] = (
    weakref.WeakKeyDictionary())


def group_commit(engine: sa.Engine, work: Callable[[sa.Connection], T]) -> T:
    """Run `work(conn)` in a unit of work it may share with the works other threads of
    this process hand in meanwhile, and return what it returned once that transaction
    committed (or raise what it raised).

    Group commit: while one transaction writes, the works that arrive queue up, and the
    oldest of them then writes them all in the next transaction: one lock hand-over,
    `BEGIN` and commit for the lot instead of one each, which is what SQLite's single
    writer (and PostgreSQL's outbox lock) spend their time on under concurrent intake.
    Nothing is acknowledged before its commit. If any work of a shared transaction
    raises, none of it is kept and each work runs again alone, so every caller gets its
    own result or error; a work must therefore only write through `conn` (and may run
    twice, on another thread) and not depend on the caller's thread (Flask's globals)."""
    pid = os.getpid()
    found = _groups.get(engine)
    if found is None or found[0] != pid:  # a forked child queues on its own
        with _registry:
            found = _groups.get(engine)
            if found is None or found[0] != pid:
                found = _groups[engine] = (pid, GroupCommit(engine))
    return found[1].run(work)
