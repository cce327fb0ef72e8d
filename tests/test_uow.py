"""The unit of work's two ways of waiting for a write: SQLite writers queue on one write
lock (threads and processes), woken in turn rather than polling in SQLite's busy handler;
and `group_commit` writes the works of concurrent threads in one transaction, each
caller getting its own result or error, on SQLite and PostGIS."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from geo_service import events
from geo_service.events import BoundaryPublished
from geo_service.store import outbox
from geo_service.store import uow as uow_module
from geo_service.store.engine import make_engine, upgrade
from geo_service.store.uow import group_commit, unit_of_work, write_lock

ROOT = Path(__file__).resolve().parent.parent


def _no_busy_wait(engine: sa.Engine) -> sa.Engine:
    """SQLite's busy handler off: a writer that finds the database locked fails at once."""

    @sa.event.listens_for(engine, "connect")
    def _(dbapi_conn, _record) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=0")

    return engine


def _event(k: int) -> BoundaryPublished:
    return BoundaryPublished(version=k, previous=None, households_moved=0)


def _published(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        return [r["payload"]["version"] for r in outbox.read_after(conn, 0)]


@pytest.fixture
def sqlite_engine(tmp_path) -> sa.Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'geo.sqlite3'}")
    upgrade(engine)
    yield _no_busy_wait(engine)
    engine.dispose()


def test_threads_queue_for_the_write_lock_instead_of_finding_sqlite_locked(
        sqlite_engine) -> None:
    """Eight threads writing at once with the busy handler off: without the write lock
    most `BEGIN IMMEDIATE`s would fail with "database is locked"."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def writer(t: int) -> None:
        barrier.wait()
        try:
            for k in range(10):
                with unit_of_work(sqlite_engine) as uow:
                    events.publish(uow.conn, _event(100 * t + k))
                    threading.Event().wait(0.001)  # hold the lock with the GIL released
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(_published(sqlite_engine)) == sorted(
        100 * t + k for t in range(8) for k in range(10))


_HOLDER = """
import sys
from geo_service import events
from geo_service.events import BoundaryPublished
from geo_service.store.engine import make_engine
from geo_service.store.uow import unit_of_work
engine = make_engine(sys.argv[1])
with unit_of_work(engine) as uow:
    events.publish(uow.conn, BoundaryPublished(version=1, previous=None, households_moved=0))
    print("holding", flush=True)
    sys.stdin.readline()
print("committed", flush=True)
"""


def test_a_writer_in_another_process_is_waited_for_and_then_followed(
        sqlite_engine, tmp_path) -> None:
    url = str(sqlite_engine.url)
    with subprocess.Popen([sys.executable, "-c", _HOLDER, url], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}) as holder:
        try:
            assert holder.stdout.readline().strip() == "holding"
            assert write_lock(sqlite_engine).path.exists()
            done: list[BaseException | None] = []

            def writer() -> None:
                try:
                    with unit_of_work(sqlite_engine) as uow:
                        events.publish(uow.conn, _event(2))
                    done.append(None)
                except BaseException as err:
                    done.append(err)

            t = threading.Thread(target=writer)
            t.start()
            t.join(0.5)
            assert t.is_alive() and not done  # waiting for the other process, not failing
            holder.stdin.write("\n")
            holder.stdin.flush()
            t.join(30)
            assert done == [None]
            assert holder.stdout.readline().strip() == "committed"
        finally:
            holder.kill()
    assert _published(sqlite_engine) == [1, 2]  # in the order the lock was granted


def test_a_unit_of_work_inside_another_on_one_thread_does_not_wait_for_itself(
        sqlite_engine) -> None:
    """The write lock is reentrant; SQLite itself then refuses the second writer, at once
    with the busy handler off (as it always did, after its timeout)."""
    with unit_of_work(sqlite_engine) as outer:
        events.publish(outer.conn, _event(1))
        with pytest.raises(sa.exc.OperationalError, match="locked"), \
                unit_of_work(sqlite_engine):
            pass
    assert _published(sqlite_engine) == [1]
    with unit_of_work(sqlite_engine) as uow:  # and the lock was let go
        events.publish(uow.conn, _event(2))
    assert _published(sqlite_engine) == [1, 2]


def test_only_sqlite_files_have_a_write_lock(tmp_path) -> None:
    assert write_lock(sa.create_engine("sqlite://")) is None
    a = sa.create_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    b = sa.create_engine(f"sqlite:///{tmp_path / '.' / 'x.sqlite3'}")
    assert write_lock(a) is write_lock(b)  # one per file, however the URL names it
    assert write_lock(sa.create_engine("postgresql+psycopg://u@localhost/x")) is None


def _pile_up(engine: sa.Engine, works: dict[int, object]) -> tuple[dict, int]:
    """One thread writes while the others hand in their works; then the writer lets go.
    Returns {k: result or exception} and how many transactions committed."""
    commits: list[sa.Connection] = []

    def committed(conn: sa.Connection) -> None:
        commits.append(conn)

    sa.event.listen(engine, "commit", committed)
    first_in = threading.Event()
    release = threading.Event()
    results: dict[int, object] = {}

    def first(conn: sa.Connection) -> str:
        events.publish(conn, _event(0))
        first_in.set()
        release.wait(30)
        return "first"

    def call(k: int, work) -> None:
        try:
            results[k] = group_commit(engine, work)
        except Exception as err:
            results[k] = err

    leader = threading.Thread(target=call, args=(0, first))
    leader.start()
    first_in.wait(30)
    others = [threading.Thread(target=call, args=(k, w)) for k, w in works.items()]
    for t in others:
        t.start()
    group = uow_module._groups[engine][1]
    while len(group._queue) < len(works) + 1:  # all queued behind the writing one
        threading.Event().wait(0.01)
    release.set()
    for t in (leader, *others):
        t.join(30)
    sa.event.remove(engine, "commit", committed)
    return results, len(commits)


def _publisher(k: int):
    def work(conn: sa.Connection) -> int:
        events.publish(conn, _event(k))
        return k
    return work


def test_works_handed_in_meanwhile_share_the_next_commit(engine) -> None:
    with events.listen() as heard:
        results, commits = _pile_up(engine, {k: _publisher(k) for k in range(1, 7)})
    assert results == {0: "first", **{k: k for k in range(1, 7)}}
    assert commits == 2  # the first alone, then the six together
    assert sorted(_published(engine)) == list(range(7))
    assert sorted(e.version for e in heard) == list(range(7))  # each heard once, after


def test_a_failing_work_fails_alone(engine) -> None:
    def bad(conn: sa.Connection) -> int:
        events.publish(conn, _event(99))
        raise ValueError("not this one")

    with events.listen() as heard:
        results, _ = _pile_up(engine, {1: _publisher(1), 2: bad, 3: _publisher(3)})
    assert results[0] == "first" and results[1] == 1 and results[3] == 3
    assert isinstance(results[2], ValueError)
    assert sorted(_published(engine)) == [0, 1, 3]  # nothing of the failed work is kept
    assert sorted(e.version for e in heard) == [0, 1, 3]
