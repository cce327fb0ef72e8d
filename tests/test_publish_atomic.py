"""A publish is all or nothing and never stalls lookups: killed (`kill -9`) in the middle
of its transaction, the old version stays live with every assignment intact; while it
runs, lookups keep answering from the old version, then from the new one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from geo_service.app import services
from geo_service.store.tables import boundary_versions
from geo_service.store.uow import unit_of_work
from geo_service.versions import live_version, publish, publishing

from .conftest import bearer
from .publish_world import assignments, merge_g2_into_g1, populate
from .test_publish_never_stalls import Stream, _check
from .tiny import G1, G2

ROOT = Path(__file__).resolve().parent.parent
# Publish in a child process that stops, mid-transaction, after every household, worker
# and case has been moved (and before the commit), tells the parent, and waits to be killed.
CHILD = """
import sys, time
from pathlib import Path
import sqlalchemy as sa
from geo_service.store.uow import unit_of_work
from geo_service.versions import publish, publishing

url, draft, marker = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
moved = publishing.move_cases

def move_then_wait(*args, **kw):
    n = moved(*args, **kw)
    marker.write_text(str(n))
    time.sleep(120)
    return n

publishing.move_cases = move_then_wait
with unit_of_work(sa.create_engine(url)) as uow:
    publish(uow.conn, draft, "doomed")
"""


def _state(engine: sa.Engine, draft: int) -> tuple:
    with engine.connect() as conn:
        state = conn.execute(sa.select(boundary_versions.c.state).where(
            boundary_versions.c.id == draft)).scalar()
        return live_version(conn), state


def test_a_publish_killed_mid_transaction_leaves_the_old_version_intact(
        engine, db_url, tiny, tmp_path) -> None:
    populate(engine)
    draft = merge_g2_into_g1(engine)
    before = assignments(engine)
    marker = tmp_path / "moved"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    errors = tmp_path / "stderr"
    with errors.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-c", CHILD, db_url, str(draft),
                                 str(marker)], env=env, stderr=err)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, errors.read_text()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert marker.read_text() == "3"  # it had moved the cases: the transaction was full
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _state(engine, draft) == (tiny, "draft")
    assert assignments(engine) == before
    with unit_of_work(engine) as uow:  # the store is whole: the draft publishes now
        done = publish(uow.conn, draft, "planner")
    assert done.households_moved == 10 and _state(engine, draft) == (draft, "live")


def test_lookups_keep_answering_while_a_publish_holds_its_transaction(
        app, engine, tiny, tokens, monkeypatch) -> None:
    populate(engine)
    draft = merge_g2_into_g1(engine)
    moved, inside = publishing.move_cases, threading.Event()

    def slow(*args, **kw):
        inside.set()
        time.sleep(2.0)  # the write transaction stays open this long
        return moved(*args, **kw)

    monkeypatch.setattr(publishing, "move_cases", slow)
    headers = bearer(tokens["viewer"])

    def ask() -> tuple[int, object]:
        resp = app.test_client().get("/api/v1/lookup", query_string={
            "lon": 103.015, "lat": 35.01}, headers=headers)
        return resp.status_code, resp.get_json()

    def run() -> None:
        with unit_of_work(services(app).engine) as uow:
            publish(uow.conn, draft, "planner")

    assert ask()[1]["version"] == tiny  # a process already answering (the first builds)
    with Stream(ask) as stream:
        writer = threading.Thread(target=run)
        writer.start()
        assert inside.wait(30)
        during = len(stream.answers)
        writer.join()
        assert len(stream.answers) > during  # answered while the transaction was open
        deadline = time.monotonic() + 30
        while draft not in stream.versions():
            assert time.monotonic() < deadline, "the new version never went live"
            time.sleep(0.05)
    _check(stream, {tiny: G2, draft: G1})
