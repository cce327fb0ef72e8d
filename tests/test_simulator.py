"""`geo-service simulate` against a served small demo: it drives the service through the
public API only (what it did is read back through the API), stops on its duration and
on Ctrl-C with exit code 0, and puts back what it changed (duty, its tokens)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import pytest
import shapely
import sqlalchemy as sa

from geo_service.app import create_app, services
from geo_service.auth import create_token
from geo_service.demo import load_demo
from geo_service.simulator.walk import Walk
from geo_service.store.tables import api_tokens, users
from geo_service.store.uow import unit_of_work

from .serving import served
from .tiny import GRIDS, HOLE

G3_SHAPE = GRIDS["900002001001001"][2]


@pytest.fixture(scope="module")
def demo_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """The small demo (Hezuo) in a SQLite file, served by `geo-service serve`; yields
    (API base, store URL, an admin token). The sweep runs every second."""
    tmp = tmp_path_factory.mktemp("sim")
    url = f"sqlite:///{tmp / 'geo.sqlite3'}"
    app = create_app({"DATABASE_URL": url}, migrate=True)
    engine = services(app).engine
    with unit_of_work(engine) as uow:
        load_demo(uow.conn, small=True)
        admin = create_token(uow.conn, name="test-admin", role="admin")
    services(app).close()
    with served(tmp, url, SWEEP_INTERVAL_S="1", ACCESS_LOG="false") as base:
        yield base, url, admin


def get(base: str, path: str, token: str) -> dict:
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def simulate(base: str, url: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "GEO_DATABASE_URL": url}
    return subprocess.Popen(
        [sys.executable, "-m", "geo_service.cli", "simulate", "--url", base.rsplit("/api", 1)[0],
         "--workers", "8", "--rate", "300", "--fix-every", "0.3", "--step-s", "0.3",
         "--every", "1", "--callout-every", "2", "--shift-min", "0.1", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)


def duty_of(base: str, admin: str) -> dict[str, bool]:
    return {w["code"]: w["on_duty"] for w in get(base, "/workers", admin)["workers"]}


def run_tokens_revoked(url: str) -> tuple[int, int]:
    """(tokens of simulator runs, of those not revoked) in the store."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(api_tokens.c.revoked_at).join(
            users, users.c.id == api_tokens.c.user_id).where(
            users.c.name.like("simulator-%"))).all()
    engine.dispose()
    return len(rows), sum(r.revoked_at is None for r in rows)


def test_a_timed_run_drives_the_service_and_exits_cleanly(demo_service):
    base, url, admin = demo_service
    before = get(base, "/reports?limit=500", admin)["reports"]
    duty_before = duty_of(base, admin)
    proc = simulate(base, url, "--duration", "8", "--seed", "7")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    lines = out.splitlines()
    assert sum(ln.startswith("[") for ln in lines) >= 5, out  # a line every second
    final = next(ln for ln in lines if "total:" in ln)
    assert "errors 0 " in final, out + err

    reports = get(base, "/reports?limit=500", admin)["reports"]
    new = [r for r in reports if r["id"] not in {b["id"] for b in before}]
    assert len(new) >= 10
    assert {r["channel"] for r in new} == {"app", "hotline"}
    moved = [r for r in new if r["status"] != "reported"]
    assert len(moved) >= len(new) // 2
    assert any(r["status"] == "closed" for r in new)
    one = get(base, f"/reports/{moved[0]['id']}", admin)
    assert [s["action"] for s in one["history"]][:2] == ["report", "accept"]

    workers = get(base, "/workers", admin)["workers"]
    walked = [w for w in workers if w["position"] is not None]
    assert len(walked) >= 8
    trail = get(base, f"/workers/{walked[0]['code']}/trail?simplify=0", admin)
    assert len(trail["geometry"]["coordinates"]) >= 2
    # Put back as found: every worker's duty, and the run's tokens revoked.
    assert duty_of(base, admin) == duty_before
    made, live = run_tokens_revoked(url)
    assert made > 8 and live == 0


def test_ctrl_c_stops_the_run_cleanly(demo_service):
    base, url, admin = demo_service
    duty_before = duty_of(base, admin)
    proc = simulate(base, url, "--duration", "0", "--seed", "8")
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("["):  # running: the first summary line
            break
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert "stopping after" in out and "total:" in out, out + err
    assert "Traceback" not in err, err
    assert duty_of(base, admin) == duty_before
    assert run_tokens_revoked(url)[1] == 0


def test_an_unreachable_service_is_one_line_and_exit_1(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "geo_service.cli", "simulate", "--url",
                           "http://127.0.0.1:9", "--duration", "1"], capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "GEO_DATABASE_URL": f"sqlite:///{tmp_path}/x"})
    assert proc.returncode == 1
    assert "is `geo-service serve` running there?" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("speed", [1.3, 40.0])  # walking; a stride longer than a grid
def test_a_walk_never_leaves_its_area_and_reaches_its_target(speed):
    walk = Walk(G3_SHAPE, (103.022, 35.001), speed, random.Random(1))
    for _ in range(2000):
        x, y = walk.step(30)
        assert shapely.contains_xy(G3_SHAPE, x, y), (x, y)  # never into the enclave G4
        assert not HOLE.contains(shapely.Point(x, y))
    walk.target = (103.038, 35.018)
    for _ in range(500):
        walk.step(30)
    assert walk.metres_to(*walk.target) < 50
