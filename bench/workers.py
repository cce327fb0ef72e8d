"""Benchmark workers in the field and dispatch, in one run, printing one Markdown table
per section (paste them into BENCHMARKS.md, "Workers and dispatch").

    python bench/workers.py [--small] [--seconds 8] [--connections 16] [--no-postgis]

Position intake (this file's "position intake" section): `geo-service serve` (gunicorn,
GEO_WORKERS/GEO_THREADS defaults) over the demo in a SQLite file and in PostGIS (a
throwaway cluster from `tests/pgcluster.py`), side by side. `wrk` (Debian: apt-get install
wrk) POSTs batches of 1 and of 50 fixes to /api/v1/workers/{code}/positions, round robin
over 2,000 demo workers, each fix a second after the worker's last one; every POST is
answered after its transaction committed (durable in the service's sense). The floor is
the same store without the service: INSERT + COMMIT of the same rows (same columns,
keys and index) into a copy of worker_positions from one connection, batches of 1 and 50.
Afterwards the rows are counted: every acknowledged fix must be stored, none flagged.
Event latency: single fixes from one more client, idle and during a batch-50 load, from
the POST leaving the client until its `worker.moved` event is visible in the outbox to
another connection (the event stream's source; polled every millisecond).

The k-nearest section is bench/nearest.py (`make bench` runs both).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lookup import Server, log, run_wrk  # noqa: E402

from boundaries.synthetic import build_demo  # noqa: E402
from geo_service.app import create_app, services  # noqa: E402
from geo_service.auth import create_token  # noqa: E402
from geo_service.demo import load_demo  # noqa: E402
from geo_service.store.tables import households, outbox, worker_areas, workers  # noqa: E402
from geo_service.store.uow import unit_of_work  # noqa: E402

INTAKE_WORKERS = 2_000
BATCHES = (1, 50)


class Table:
    """Rows of (measurement, value per store, notes), printed as Markdown."""

    def __init__(self, columns: list[str]) -> None:
        self.columns, self.rows = columns, {}

    def put(self, row: str, column: str, value: str, note: str = "") -> None:
        cells = self.rows.setdefault(row, [{}, ""])
        cells[0][column] = value
        cells[1] = note or cells[1]

    def markdown(self) -> str:
        out = ["| measurement | " + " | ".join(self.columns) + " | notes |",
               "| --- |" + " --- |" * len(self.columns) + " --- |"]
        for row, (cells, note) in self.rows.items():
            out.append(f"| {row} | " + " | ".join(cells.get(c, "—") for c in self.columns)
                       + f" | {note} |")
        return "\n".join(out)


# =============================================================================== position
# intake: the service's POST /workers/{code}/positions against the bare INSERT floor.
INTAKE_LUA = """
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Content-Type"] = "application/json"
local codes, lons, lats = {{}}, {{}}, {{}}
for line in io.lines("{workers}") do
  local c, x, y = line:match("(%S+) (%S+) (%S+)")
  codes[#codes + 1] = c; lons[#lons + 1] = tonumber(x); lats[#lats + 1] = tonumber(y)
end
local B, base, i = {batch}, {base}, 0
function request()
  local w = i % #codes + 1
  local k = math.floor(i / #codes) * B
  i = i + 1
  local parts = {{}}
  for j = 0, B - 1 do
    parts[#parts + 1] = string.format(
      '{{"lon":%.7f,"lat":%.7f,"recorded_at":"%s","accuracy_m":8}}',
      lons[w] + (k + j) * 1e-6, lats[w], os.date("!%Y-%m-%dT%H:%M:%SZ", base + k + j))
  end
  return wrk.format(nil, "/api/v1/workers/" .. codes[w] .. "/positions", nil,
                    '{{"fixes":[' .. table.concat(parts, ",") .. ']}}')
end
"""


def intake_store(url: str, demo) -> tuple[str, list[tuple[str, float, float]]]:
    """Load the demo into `url`; an admin token and (code, lon, lat) of the intake workers
    (each starting at a household of its own area)."""
    app = create_app({"DATABASE_URL": url}, migrate=True)
    engine = services(app).engine
    with unit_of_work(engine) as uow:
        load_demo(uow.conn, demo=demo)
        token = create_token(uow.conn, name="bench", role="admin")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(workers.c.code, worker_areas.c.area_code).join(
            worker_areas, worker_areas.c.worker_id == workers.c.id)
            .where(workers.c.role.in_(["grid_worker", "grid_leader", "liaison_head"]))
            .order_by(workers.c.code)).all()
        rows = random.Random(1).sample(rows, min(INTAKE_WORKERS, len(rows)))
        homes = {}  # a household per grid
        for grid, geom in conn.execute(sa.select(households.c.grid_code, households.c.geom)
                                       .order_by(households.c.code)):
            homes.setdefault(grid, geom)
    services(app).close()
    out = []
    for code, area in rows:
        g = homes.get(area[:15]) or next(iter(homes.values()))
        out.append((code, g.x, g.y))
    return token, out


def stored_fixes(url: str) -> tuple[int, int]:
    """(fixes stored, of them flagged)."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n, flagged = conn.execute(sa.text(
            "SELECT count(*), count(flag) FROM worker_positions")).one()
    engine.dispose()
    return n, flagged


def intake_http(server: Server, token: str, people: list[tuple[str, float, float]],
                batch: int, base: int, seconds: int, connections: int, tmp: Path) -> dict:
    wfile = tmp / "workers.txt"
    wfile.write_text("".join(f"{c} {x:.7f} {y:.7f}\n" for c, x, y in people))
    lua = tmp / f"intake{batch}.lua"
    lua.write_text(INTAKE_LUA.format(token=token, workers=wfile, batch=batch, base=base))
    r = run_wrk(server, lua, "/api/v1/ping", seconds, connections)
    if r["non2xx"]:
        raise RuntimeError(f"intake batch {batch}: {r['non2xx']} non-2xx answers")
    r["fixes_s"] = r["rps"] * batch
    return r


FLOOR_SQLITE = """CREATE TABLE IF NOT EXISTS floor_positions (
    id INTEGER NOT NULL PRIMARY KEY, worker_code VARCHAR(40) NOT NULL,
    recorded_at DATETIME NOT NULL, received_at DATETIME NOT NULL, lon FLOAT NOT NULL,
    lat FLOAT NOT NULL, accuracy_m FLOAT, speed FLOAT, heading FLOAT,
    grid_code VARCHAR(32), flag VARCHAR(16), UNIQUE (worker_code, recorded_at))"""
FLOOR_INSERT = ("INSERT INTO floor_positions (worker_code, recorded_at, received_at, lon, "
                "lat, accuracy_m, speed, heading, grid_code, flag) VALUES ({})")


def intake_floor(url: str, batch: int, seconds: float, people) -> float:
    """Rows/s of INSERT + COMMIT per batch from one connection, without the service."""
    pg = url.startswith("postgresql")
    if pg:
        import psycopg

        conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        conn.execute("CREATE TABLE IF NOT EXISTS floor_positions "
                     "(LIKE worker_positions INCLUDING ALL)")
        conn.commit()
        sql = FLOOR_INSERT.format(", ".join(["%s"] * 10))
    else:
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")  # as the service's connections
        conn.execute(FLOOR_SQLITE)
        conn.execute("CREATE INDEX IF NOT EXISTS ix_floor_at ON floor_positions (recorded_at)")
        sql = FLOOR_INSERT.format(", ".join(["?"] * 10))
    t0 = dt.datetime.now(dt.UTC) - dt.timedelta(days=1, seconds=batch * 1000)
    k, n, start = 0, 0, time.perf_counter()
    cur = conn.cursor()
    while time.perf_counter() - start < seconds:
        code, x, y = people[k % len(people)]
        seq = (k // len(people)) * batch
        now = dt.datetime.now(dt.UTC)
        rows = []
        for j in range(batch):
            t = t0 + dt.timedelta(seconds=seq + j)
            rows.append((code, t if pg else t.strftime("%Y-%m-%d %H:%M:%S.%f"),
                         now if pg else now.strftime("%Y-%m-%d %H:%M:%S.%f"),
                         x + (seq + j) * 1e-6, y, 8.0, None, None, "62300", None))
        if not pg:
            cur.execute("BEGIN IMMEDIATE")
        cur.executemany(sql, rows)
        conn.commit()
        n += batch
        k += 1
    rate = n / (time.perf_counter() - start)
    conn.close()
    return rate


def event_latency(server: Server, url: str, token: str, person: tuple[str, float, float],
                  seconds: float) -> list[float]:
    """Milliseconds from a single fix's POST to its `worker.moved` row being visible in
    the outbox to another connection."""
    engine = sa.create_engine(url)
    code, x, y = person
    seen: dict[str, float] = {}
    stop = threading.Event()
    with engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(outbox.c.id))).scalar() or 0

    def poll() -> None:
        nonlocal last
        with engine.connect() as conn:
            while not stop.is_set():
                rows = conn.execute(sa.select(outbox.c.id, outbox.c.kind, outbox.c.payload)
                                    .where(outbox.c.id > last).order_by(outbox.c.id)).all()
                conn.rollback()  # a fresh snapshot next time
                t = time.perf_counter()
                for r in rows:
                    last = r.id
                    p = r.payload if isinstance(r.payload, dict) else json.loads(r.payload)
                    if r.kind == "worker.moved" and p.get("code") == code:
                        seen.setdefault(p["recorded_at"], t)
                time.sleep(0.001)

    poller = threading.Thread(target=poll)
    poller.start()
    sent: dict[str, float] = {}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    t_end = time.perf_counter() + seconds
    base = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    k = 0
    while time.perf_counter() < t_end:
        t = base + dt.timedelta(seconds=k)
        body = json.dumps({"fixes": [{"lon": x + k * 1e-6, "lat": y, "accuracy_m": 5,
                                      "recorded_at": t.isoformat()}]})
        sent[t.isoformat()] = time.perf_counter()
        conn.request("POST", f"/api/v1/workers/{code}/positions", body,
                     {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200, resp.status
        k += 1
        time.sleep(0.02)
    time.sleep(0.5)
    stop.set()
    poller.join()
    conn.close()
    engine.dispose()
    return [(seen[k] - t0) * 1000 for k, t0 in sent.items() if k in seen]


def position_intake(demo, args: argparse.Namespace) -> Table:
    """The position-intake table: SQLite and PostGIS side by side."""
    stores = [("SQLite", None)]
    if not args.no_postgis:
        from tests import pgcluster

        why = pgcluster.available()
        if why:
            log(f"PostGIS skipped: {why}")
        else:
            stores.append(("PostGIS", pgcluster))
    table = Table([s for s, _ in stores])
    for label, pg in stores:
        with tempfile.TemporaryDirectory(prefix="geo-bench-workers-") as tmp:
            tmpd = Path(tmp)
            if pg is None:
                intake_one(table, label, f"sqlite:///{tmpd / 'bench.sqlite3'}", demo, args,
                           tmpd)
            else:
                with pg.cluster() as url:
                    intake_one(table, label, url, demo, args, tmpd)
    return table


def intake_one(table: Table, label: str, url: str, demo, args: argparse.Namespace,
               tmp: Path) -> None:
    t0 = time.perf_counter()
    token, people = intake_store(url, demo)
    log(f"{label}: demo loaded in {time.perf_counter() - t0:.0f} s")
    base = int(time.time()) - 20 * 3600
    with Server(url, tmp / "server.log") as server:
        server.wait_ready()
        server.warm()
        lat_idle = event_latency(server, url, token, people[-1], 4)
        results = {}
        for k, batch in enumerate(BATCHES):
            before = stored_fixes(url)
            r = intake_http(server, token, people[:-1], batch, base + k * 6 * 3600,
                            args.seconds, args.connections, tmp)
            time.sleep(1)
            after = stored_fixes(url)
            acked = int(round(r["rps"] * args.seconds)) * batch
            if after[0] - before[0] < acked * 0.97 or after[1] != before[1]:
                raise RuntimeError(f"{label} batch {batch}: {after[0] - before[0]} stored, "
                                   f"~{acked} acknowledged, {after[1] - before[1]} flagged")
            results[batch] = (r, after[0] - before[0])
            log(f"{label}: batch {batch}: {r['fixes_s']:,.0f} fixes/s")
        # Latency under load: single fixes while wrk sends batches of 50 on 4 connections.
        loader = threading.Thread(target=intake_http, args=(
            server, token, people[:-1], 50, base + 12 * 3600, 6, 4, tmp / "load"))
        (tmp / "load").mkdir()
        loader.start()
        time.sleep(1)
        lat_load = event_latency(server, url, token, people[-1], 4)
        loader.join()
    floor = {b: intake_floor(url, b, 4.0, people) for b in BATCHES}
    for batch in BATCHES:
        r, stored = results[batch]
        f = floor[batch]
        table.put(f"HTTP intake, batches of {batch}, fixes/s", label, f"{r['fixes_s']:,.0f}",
                  f"wrk -t1 -c{args.connections}, {args.seconds} s, {INTAKE_WORKERS:,} workers "
                  "round robin; each POST answered after its commit"
                  + ("; goal ≥ 5,000 on SQLite" if batch == 50 else ""))
        table.put(f"HTTP intake, batches of {batch}: requests/s, p50 / p99 ms", label,
                  f"{r['rps']:,.0f}, {r['p50']:.1f} / {r['p99']:.1f}")
        table.put(f"floor: INSERT + COMMIT of {batch} row{'s' * (batch > 1)}, rows/s", label,
                  f"{f:,.0f}", "one connection, no service; same columns, keys and index")
        table.put(f"HTTP intake ÷ floor, batches of {batch}", label,
                  f"{100 * r['fixes_s'] / f:.0f} %")
        table.put(f"server CPU cores used, batches of {batch}", label,
                  f"{r['server_cores']:.2f}", "gunicorn workers; wrk shares the 2 cores")
    for name, lat in (("idle", lat_idle), ("during a batch-50 load (4 connections)", lat_load)):
        if lat:
            table.put(f"fix → worker.moved visible in the outbox, {name}: p50 / p99 ms", label,
                      f"{np.percentile(lat, 50):.1f} / {np.percentile(lat, 99):.1f}",
                      f"{len(lat)} single fixes; the outbox is the event stream's source "
                      "(/api/v1/events is not measured here)")


# ==================================================================================== main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="the small demo (Hezuo only)")
    ap.add_argument("--seconds", type=int, default=8, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--no-postgis", action="store_true")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    t0 = time.perf_counter()
    demo = (build_demo(counties=["623001"], households=12_000, grids=60, groups=540)
            if args.small else build_demo())
    log("demo built")
    table = position_intake(demo, args)
    cpu = next((ln.split(":", 1)[1].strip() for ln in
                Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    load = os.getloadavg()
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split(" [")[0]
    print(f"Run {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}: `python bench/workers.py "
          f"{' '.join(sys.argv[1:])}`, {time.perf_counter() - t0:.0f} s in all; "
          f"{'small' if args.small else 'full'} demo.\n")
    print(f"Machine: {os.cpu_count()} cores ({cpu}); Python {platform.python_version()}; "
          f"{wrk_v}; load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}. "
          "SQLite: WAL, synchronous=NORMAL (the service's pragmas); PostGIS: the throwaway "
          "cluster (fsync off).\n")
    print("### Position intake\n")
    print(table.markdown())


if __name__ == "__main__":
    main()
