"""Nothing acknowledged is lost: `kill -9` the whole server in the middle of a stream of
report POSTs; after a restart every report that got 201 or 200 is there, with its first
step in its history and its event in the outbox."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid

import sqlalchemy as sa

from geo_service.app import create_app, services
from geo_service.auth import create_token
from geo_service.store.tables import outbox, report_events, reports

from .conftest import load_tiny
from .serving import server_process
from .test_reports import report


def _post(base: str, token: str, body: dict) -> int:
    req = urllib.request.Request(f"{base}/reports", data=json.dumps(body).encode(),
                                 method="POST", headers={"Authorization": f"Bearer {token}",
                                                         "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_kill_9_mid_stream_loses_no_acknowledged_report(tmp_path, db_url) -> None:
    app = create_app({"DATABASE_URL": db_url}, migrate=True)
    engine = services(app).engine
    load_tiny(engine)
    with engine.begin() as conn:
        token = create_token(conn, name="field", role="dispatcher")
    acknowledged: list[str] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def client(k: int) -> None:
        while not stop.is_set():
            body = report(id=str(uuid.uuid4()), lon=103.001 + (k * 0.0031) % 0.038)
            try:
                status = _post(base, token, body)
            except OSError as err:  # the server died under this request: not acknowledged
                failures.append(err)
                return
            if status in (200, 201):
                acknowledged.append(body["id"])
            else:
                failures.append(AssertionError(status))
                return

    with server_process(tmp_path, db_url, WORKERS="2", ACCESS_LOG="false") as (base, proc):
        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # master and workers, mid-request
        proc.wait(timeout=10)
        stop.set()
        for t in threads:
            t.join(timeout=20)
    assert len(acknowledged) >= 40, failures
    assert all(isinstance(f, OSError) for f in failures), failures
    with server_process(tmp_path, db_url, ACCESS_LOG="false") as (base, _):
        for rid in acknowledged[-5:]:  # the restarted service answers them
            req = urllib.request.Request(f"{base}/reports/{rid}",
                                         headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                assert json.load(resp)["id"] == rid
    with engine.connect() as conn:
        stored = set(conn.execute(sa.select(reports.c.id)).scalars())
        first_steps = conn.execute(sa.select(sa.func.count()).select_from(report_events)
                                   ).scalar()
        events = [row.payload["id"] for row in conn.execute(
            sa.select(outbox.c.payload).where(outbox.c.kind == "report.created"))]
    assert set(acknowledged) <= stored
    assert first_steps == len(stored)  # every stored report has its first step
    assert sorted(events) == sorted(stored)  # and exactly one event, none for the lost
    services(app).close()
