"""Loading the demo is one transaction: failing or killed anywhere, the store keeps what it
had (its live version and every household), on both backends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import shapely
import sqlalchemy as sa

from geo_service import households as households_module
from geo_service.demo import load_demo
from geo_service.store.tables import audit_log, households
from geo_service.store.uow import unit_of_work
from geo_service.versions import live_version

from .tiny import G1


def _state(engine: sa.Engine) -> tuple[int | None, int, int]:
    with engine.connect() as conn:
        return (live_version(conn),
                conn.execute(sa.select(sa.func.count()).select_from(households)).scalar(),
                conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar())


def _one_household(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(households.insert().values(
            code="H1", grid_code=G1, head_name="王五", phone="13900001111",
            geom=shapely.Point(103.005, 35.01)))


def test_demo_failing_in_the_household_step_changes_nothing(engine, tiny, monkeypatch) -> None:
    _one_household(engine)
    before = _state(engine)

    def fail(conn, frame) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(households_module, "store_households", fail)
    with pytest.raises(OSError, match="disk full"), unit_of_work(engine) as uow:
        load_demo(uow.conn, small=True)
    assert _state(engine) == before == (tiny, 1, before[2])


def test_demo_killed_mid_write_leaves_the_store_as_it_was(tmp_path) -> None:
    """`kill -9` while the demo's transaction is writing (the SQLite WAL is growing)."""
    db = tmp_path / "geo.sqlite3"
    env = {**os.environ, "GEO_DATABASE_URL": f"sqlite:///{db}",
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    first = subprocess.run([sys.executable, "-m", "geo_service.cli", "demo", "--small"],
                           env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    engine = sa.create_engine(f"sqlite:///{db}")
    before = _state(engine)
    assert before[1] == 12_000
    wal = Path(f"{db}-wal")
    base = wal.stat().st_size if wal.exists() else 0
    proc = subprocess.Popen([sys.executable, "-m", "geo_service.cli", "demo", "--small",
                             "--seed", "7"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while (wal.stat().st_size if wal.exists() else 0) < base + 2_000_000:
        assert proc.poll() is None, "the demo finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _state(engine) == before
    engine.dispose()
