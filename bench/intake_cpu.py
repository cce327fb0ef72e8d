"""CPU time per report of intake, in process (issue #9): what `bench/cases.py` measures
over HTTP, without gunicorn, wrk or the other work on the machine in the figure.

    python bench/intake_cpu.py [--small] [--reports 2000] [--threads 1]
                               [--store sqlite|postgis|both] [--profile FILE] [--template DB]

The demo (the full prefecture; `--small`: one county) is loaded into a temporary SQLite
file (or a copy of `--template`, kept between runs to skip the load), and `--reports`
reports are POSTed one after another through Flask's test client, bodies as bench/cases.py
sends them (a new client UUID, a random household's point, subtype dispute, `occurred_at`
in the last 12 hours). Per POST: CPU time of this process (`time.process_time`, so other
work on the machine counts only through caches and frequency) and wall time; the first
200 warm up and are not counted. `--profile` writes a cProfile of the timed POSTs.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from boundaries.synthetic import build_demo  # noqa: E402
from geo_service.app import create_app, services  # noqa: E402
from geo_service.auth import create_token  # noqa: E402
from geo_service.demo import load_demo  # noqa: E402
from geo_service.store.tables import households, reports  # noqa: E402
from geo_service.store.uow import unit_of_work  # noqa: E402

WARM = 200
SMALL = {"counties": ["623001"], "households": 12_000, "grids": 60, "groups": 540}


def bodies(lon: np.ndarray, lat: np.ndarray, n: int, seed: int = 9) -> list[bytes]:
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC).astimezone()
    pick = rng.integers(0, len(lon), n)
    ago = rng.integers(60, 12 * 3600, n)
    return [orjson.dumps({
        "id": str(uuid.uuid4()), "subtype": "dispute",
        "description": f"两户牧民因草场边界发生纠纷，请网格员上门调解（第{k}次上报测试）",
        "lon": round(float(lon[i]), 7), "lat": round(float(lat[i]), 7),
        "occurred_at": (now - timedelta(seconds=int(s))).isoformat(timespec="seconds")})
        for k, (i, s) in enumerate(zip(pick, ago, strict=True))]


def measure(url: str, args: argparse.Namespace, label: str) -> dict:
    app = create_app({"DATABASE_URL": url, "ACCESS_LOG": False, "SWEEP_INTERVAL_S": 0},
                     migrate=True)
    engine = services(app).engine
    with engine.connect() as conn:
        have = conn.execute(sa.select(sa.func.count()).select_from(households)).scalar()
    demo = build_demo(623000, **(SMALL if args.small else {}))
    if not have:
        t0 = time.perf_counter()
        with unit_of_work(engine) as uow:
            load_demo(uow.conn, demo=demo)
        print(f"{label}: demo loaded in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    with engine.begin() as conn:
        token = create_token(conn, name=f"bench-{uuid.uuid4().hex[:6]}", role="dispatcher")
        before = conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar()
    lon = demo.households["lon"].to_numpy()
    lat = demo.households["lat"].to_numpy()
    posts = bodies(lon, lat, WARM + args.reports)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    cpu, wall = [], []
    prof = cProfile.Profile() if args.profile else None

    def send(body: bytes) -> None:
        r = client.post("/api/v1/reports", data=body, headers=headers)
        if r.status_code != 201:
            raise RuntimeError(f"{r.status_code}: {r.get_data(as_text=True)[:300]}")

    for k, body in enumerate(posts[:WARM] if args.threads > 1 else posts):
        if k == WARM and prof:
            prof.enable()
        c0, w0 = time.process_time(), time.perf_counter()
        send(body)
        c1, w1 = time.process_time(), time.perf_counter()
        if k >= WARM:
            cpu.append(c1 - c0)
            wall.append(w1 - w0)
        if k == WARM - 1:  # the index's near-boundary cores and the roster are built in
            svc = services(app)  # background threads, whose CPU this process would count
            svc.indexes.settle(600)
            svc.people.settle(600)
    if args.threads > 1:  # as a gthread worker would: the process's CPU over all of them
        rest = posts[WARM:]
        c0, w0 = time.process_time(), time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(send, rest))
        c1, w1 = time.process_time(), time.perf_counter()
        cpu = [(c1 - c0) / len(rest)] * len(rest)
        wall = [(w1 - w0) / len(rest)] * len(rest)
    if prof:
        prof.disable()
        out = f"{args.profile}.{label}"
        prof.dump_stats(out)
        print(f"{label}: profile in {out}", file=sys.stderr)
    with engine.connect() as conn:
        after = conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar()
        dups = conn.execute(sa.select(sa.func.count()).select_from(reports).where(
            reports.c.suggested_duplicate_of.is_not(None))).scalar()
    services(app).close()
    assert after - before == len(posts), (before, after)
    c, w = np.array(cpu) * 1e3, np.array(wall) * 1e3
    return {"label": label, "n": len(cpu), "cpu_mean": c.mean(), "cpu_p50": np.median(c),
            "cpu_p90": np.percentile(c, 90), "wall_p50": np.median(w),
            "stored_before": before, "dups": dups}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--reports", type=int, default=2000)
    ap.add_argument("--store", choices=["sqlite", "postgis", "both"], default="sqlite")
    ap.add_argument("--threads", type=int, default=1,
                    help="POST from this many threads at once (CPU: the process's, per "
                    "report; wall: per report)")
    ap.add_argument("--profile", help="write cProfile stats to FILE.<store>")
    ap.add_argument("--template", help="SQLite file with the demo loaded (made if missing)")
    args = ap.parse_args()
    os.environ["GEO_SWEEP_INTERVAL_S"] = "0"
    results = []
    with tempfile.TemporaryDirectory(prefix="geo-intake-cpu-") as tmp:
        if args.store in ("sqlite", "both"):
            db = Path(tmp) / "intake.sqlite3"
            tpl = Path(args.template) if args.template else None
            if tpl and tpl.exists():
                shutil.copy(tpl, db)
            results.append(measure(f"sqlite:///{db}", args, "sqlite"))
            if tpl and not tpl.exists():  # the demo and this run's reports: fine to reuse
                shutil.copy(db, tpl)
        if args.store in ("postgis", "both"):
            from tests import pgcluster

            why = pgcluster.available()
            if why:
                sys.exit(f"PostGIS: {why}")
            with contextlib.ExitStack() as stack:
                url = stack.enter_context(pgcluster.cluster())
                eng = sa.create_engine(url)
                with eng.begin() as c:
                    c.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
                eng.dispose()
                results.append(measure(url, args, "postgis"))
    load = os.getloadavg()
    for r in results:
        print(f"{r['label']}: {r['n']} reports after {WARM} warm-up ({r['stored_before']:,} "
              f"stored before, {r['dups']:,} with a suggested duplicate): CPU per report "
              f"mean {r['cpu_mean']:.2f} ms, p50 {r['cpu_p50']:.2f}, p90 {r['cpu_p90']:.2f}; "
              f"wall p50 {r['wall_p50']:.2f} ms (load average {load[0]:.1f} / "
              f"{load[1]:.1f})")


if __name__ == "__main__":
    main()
