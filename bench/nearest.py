"""Benchmark the k-nearest part of dispatch: k = 10 among the demo's current positions.

    python bench/nearest.py [--queries 2000] [--runs 3] [--no-postgis] [--seed 7]

Data: the full synthetic Gannan demo's workers (one per code: liaison heads, grid workers
and leaders, grid guides, militia), each at a random point inside the area it answers for
(its group, grid, village or township), with the demo's own on-duty flags. Queries: random
household positions (where reports come from).

1. Our `NearbyWorkers` (geo_service/dispatch/nearby.py) with its default 3 km cells (what
   the service's `LivePositions` uses): filled by `put`, then k = 10 per query, without
   and with the availability filter (on duty, fresh fix) that dispatch applies; and a
   move (`put` of a worker 100 m away), the per-fix update cost.
2. A brute-force numpy scan of all positions (dot products of unit vectors, argpartition):
   the reference for agreement (exact ranking on the sphere).
3. PostGIS KNN in a throwaway cluster (`tests/pgcluster.py`): `ORDER BY geom <-> point
   LIMIT 10` over a GiST index, one prepared statement per query over one connection; on
   `geometry(Point, 4326)` (planar degrees, as most code does) and on `geography` (metres).

Per-query times: the queries in chunks of 50, each chunk timed `--runs` times and its best
kept (a busy machine's lost time slices are not charged to a method), summed, divided by
the number of queries. Agreement: the share of queries whose top-10 set equals the brute-force one.
Prints one Markdown table (paste it into BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import best  # noqa: E402

from boundaries.synthetic import build_demo  # noqa: E402
from geo_service.dispatch.nearby import NearbyWorkers, unit_vectors  # noqa: E402

K = 10
T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f} s] {msg}", file=sys.stderr, flush=True)


def positions(seed: int) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray,
                                  np.ndarray, np.ndarray]:
    """Worker codes, lon, lat, on-duty flags, and household lon/lat for queries."""
    demo = build_demo()
    areas = demo.areas.set_index("code").geometry
    people = demo.workers.drop_duplicates("code").reset_index(drop=True)
    rng = np.random.default_rng(seed)
    lon = np.empty(len(people))
    lat = np.empty(len(people))
    for i, area in enumerate(people.area_code):
        geom = areas[area]
        x0, y0, x1, y1 = geom.bounds
        while True:  # rejection sampling: uniform inside the area
            x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
            if geom.contains(shapely.Point(x, y)):
                break
        lon[i], lat[i] = x, y
    hh = demo.households
    return (people.code.astype(str).tolist(), lon, lat,
            people.on_duty.to_numpy(dtype=bool), hh.lon.to_numpy(), hh.lat.to_numpy())


CHUNK = 50


def per_query_us(one, items: list, runs: int) -> float:
    """Mean µs per call of `one(*item)`: each chunk of CHUNK calls timed `runs` times and
    its best kept, so a time slice lost to another process on a busy machine (a few ms)
    is not charged to the method."""
    total = 0.0
    for i in range(0, len(items), CHUNK):
        chunk = items[i:i + CHUNK]
        seconds, _ = best(lambda chunk=chunk: [one(*item) for item in chunk], runs=runs)
        total += seconds
    return total / len(items) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-postgis", action="store_true")
    args = ap.parse_args()

    log("building the demo and placing its workers")
    codes, lon, lat, on_duty, hlon, hlat = positions(args.seed)
    n = len(codes)
    rng = np.random.default_rng(args.seed + 1)
    pick = rng.choice(len(hlon), args.queries, replace=False)
    qs = list(zip(hlon[pick].tolist(), hlat[pick].tolist(), strict=True))
    rows: list[tuple[str, str, str, str]] = []  # method, µs per query, agreement, notes

    # brute force: the reference ranking
    xyz = unit_vectors(lon, lat)
    names = np.array(codes)

    def brute_one(x: float, y: float) -> np.ndarray:
        cos = xyz @ unit_vectors(np.float64(x), np.float64(y))
        part = np.argpartition(cos, n - K)[n - K:]
        return part[np.argsort(-cos[part])]

    truth = [set(names[brute_one(x, y)].tolist()) for x, y in qs]
    t_brute = per_query_us(brute_one, qs, args.runs)

    # ours
    index = NearbyWorkers()
    t0 = time.perf_counter()
    for c, x, y in zip(codes, lon.tolist(), lat.tolist(), strict=True):
        index.put(c, x, y, 0.0, True)
    t_fill = (time.perf_counter() - t0) / n * 1e6
    t0 = time.perf_counter()
    index.nearest(qs[0][0], qs[0][1], K)  # the first query packs what `put` left on the tail
    t_pack = (time.perf_counter() - t0) * 1e3
    t_ours = per_query_us(lambda x, y: index.nearest(x, y, K), qs, args.runs)
    ours = [set(c for c, _ in index.nearest(x, y, K)) for x, y in qs]
    agree_ours = np.mean([a == b for a, b in zip(ours, truth, strict=True)])
    rows.append(("our NearbyWorkers (banded cells, numpy)", f"{t_ours:,.1f}",
                 f"{agree_ours:.4f}", f"goal ≤ 50 µs; filled by put in {t_fill:.1f} µs/worker, "
                 f"then packed in {t_pack:.0f} ms"))
    for c, d in zip(codes, on_duty.tolist(), strict=True):
        index.set_duty(c, d)
    t_avail = per_query_us(lambda x, y: index.nearest(x, y, K, fresh_since=-1.0), qs,
                           args.runs)
    rows.append(("our NearbyWorkers, on duty and fresh only (dispatch's filter)",
                 f"{t_avail:,.1f}", "—",
                 f"{on_duty.mean():.0%} of workers on duty (the demo's flags)"))
    step = 100 / 111_195

    def move(i: int) -> None:  # there and back: two updates
        index.put(codes[i], lon[i] + step, lat[i], 1.0, True)
        index.put(codes[i], lon[i], lat[i], 1.0, True)

    t_move = per_query_us(move, [(i,) for i in rng.integers(0, n, 5000).tolist()],
                          args.runs) / 2
    rows.append(("our NearbyWorkers: one fix moves a worker 100 m (put)", f"{t_move:,.1f}",
                 "—", "per update, in place; never rebuilt"))
    rows.append(("brute-force numpy scan of all positions", f"{t_brute:,.1f}", "1 (reference)",
                 "dot products of unit vectors + argpartition"))

    pg_us = None
    if not args.no_postgis:
        pg_us = postgis(rows, codes, lon, lat, qs, truth, args.runs)
    if pg_us:
        for kind, us in pg_us.items():
            rows.append((f"our NearbyWorkers ÷ PostGIS KNN ({kind})", f"{us / t_ours:,.0f}×",
                         "", "goal ≥ 10×"))
    rows.append(("brute force ÷ ours", f"{t_brute / t_ours:,.1f}×", "", ""))

    print(f"\n{n:,} workers' current positions, k = {K}, {len(qs):,} queries at random "
          f"household points; each chunk of {CHUNK} best of {args.runs}; "
          f"{dt.date.today()}, {platform.python_implementation()} "
          f"{platform.python_version()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| method | µs per query | top-10 agreement | notes |")
    print("| --- | ---: | ---: | --- |")
    for r in rows:
        print(f"| {' | '.join(r)} |")


def postgis(rows: list, codes: list[str], lon: np.ndarray, lat: np.ndarray,
            qs: list[tuple[float, float]], truth: list[set[str]], runs: int
            ) -> dict[str, float] | None:
    """PostGIS KNN rows; returns µs per query by column type (None when skipped)."""
    import psycopg

    from tests import pgcluster

    why = pgcluster.available()
    if why:
        log(f"PostGIS skipped: {why}; {pgcluster.HOW_TO}")
        return None
    log("starting a throwaway PostGIS cluster")
    with pgcluster.cluster() as url, psycopg.connect(
            url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        version = conn.execute("SELECT postgis_lib_version()").fetchone()[0]
        conn.execute("CREATE TABLE pos (code text PRIMARY KEY, geom geometry(Point, 4326), "
                     "geog geography(Point, 4326))")
        with conn.cursor().copy("COPY pos (code, geom) FROM STDIN") as cp:
            for c, x, y in zip(codes, lon.tolist(), lat.tolist(), strict=True):
                cp.write_row((c, f"SRID=4326;POINT({x!r} {y!r})"))
        conn.execute("UPDATE pos SET geog = geom::geography")
        conn.execute("CREATE INDEX ON pos USING gist (geom)")
        conn.execute("CREATE INDEX ON pos USING gist (geog)")
        conn.execute("VACUUM ANALYZE pos")
        out = {}
        for kind, sql in (
                ("geometry", "SELECT code FROM pos ORDER BY geom <-> "
                             "ST_SetSRID(ST_MakePoint(%s, %s), 4326) LIMIT 10"),
                ("geography", "SELECT code FROM pos ORDER BY geog <-> "
                              "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography LIMIT 10")):
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql, qs[0]).fetchall())
            assert "Index Scan" in plan, plan

            cur = conn.cursor()

            def one(x: float, y: float, sql: str = sql, cur=cur) -> set[str]:
                cur.execute(sql, (x, y), prepare=True)
                return {r[0] for r in cur.fetchall()}

            got = [one(x, y) for x, y in qs]
            us = per_query_us(one, qs, runs)
            agree = np.mean([a == b for a, b in zip(got, truth, strict=True)])
            rows.append((f"PostGIS KNN `<->` on {kind}, GiST, prepared statement",
                         f"{us:,.1f}", f"{agree:.4f}",
                         "planar degrees: east-west counts too much" if kind == "geometry"
                         else "metres on the sphere"))
            out[kind] = us
        rows.append(("PostGIS version", "", "", f"PostGIS {version}; throwaway cluster on "
                     "127.0.0.1, one connection, round trip included"))
        return out


if __name__ == "__main__":
    main()
