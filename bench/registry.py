"""Benchmark the registry on the full Gannan demo, in one run, on the same data.

    python bench/registry.py [--postgres URL]

1. Household import + assignment of the 206,400 demo rows (our import core, SQLite file;
   also PostGIS with --postgres or when Debian's postgresql + postgis are installed).
2. Batch point-in-grid assignment of the same 206,400 points: our GridIndex against
   geopandas `sjoin(predicate="covered_by")` and a per-point rtree + prepared `covers` loop.

Prints a Markdown table (paste it into BENCHMARKS.md). Timings are the best of N runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from rtree import index as rtree_index

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import best

from boundaries.synthetic import build_demo
from geo_service.app import create_app, services
from geo_service.demo import load_demo
from geo_service.households import import_households
from geo_service.index import GridIndex
from geo_service.store.uow import unit_of_work


def per_point_rtree(codes: np.ndarray, geoms: np.ndarray, lon: np.ndarray,
                    lat: np.ndarray) -> np.ndarray:
    idx = rtree_index.Index()
    for i, g in enumerate(geoms):
        idx.insert(i, g.bounds)
    shapely.prepare(geoms)
    out = np.full(len(lon), -1)
    for k, (x, y) in enumerate(zip(lon, lat, strict=True)):
        pt = shapely.Point(x, y)
        for i in sorted(idx.intersection((x, y, x, y))):
            if geoms[i].covers(pt):
                out[k] = i
                break
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--postgres", help="SQLAlchemy URL of an empty PostGIS database "
                    "(default: a throwaway cluster when Debian's postgresql + postgis are "
                    "installed)")
    args = ap.parse_args()
    if args.postgres:
        run(args.postgres)
        return
    from tests import pgcluster

    why = pgcluster.available()
    if why:
        print(f"PostGIS skipped: {why}; {pgcluster.HOW_TO}", file=sys.stderr)
        run(None)
        return
    with pgcluster.cluster() as url:
        run(url)


def run(postgres: str | None) -> None:
    rows: list[tuple[str, str, str]] = []

    t0 = time.perf_counter()
    demo = build_demo()
    rows.append(("generate the demo prefecture", f"{time.perf_counter() - t0:.1f} s", ""))
    grids = demo.areas[demo.areas.level == "grid"]
    codes, geoms = grids["code"].to_numpy(), grids.geometry.to_numpy()
    lon, lat = demo.households["lon"].to_numpy(), demo.households["lat"].to_numpy()
    n = len(lon)

    targets = [("SQLite file", None)]
    if postgres:
        targets.append(("PostGIS", postgres))
    for label, url in targets:
        with tempfile.TemporaryDirectory() as tmp:
            app = create_app({"DATABASE_URL": url or f"sqlite:///{tmp}/bench.sqlite3"},
                             migrate=True)
            engine = services(app).engine
            t0 = time.perf_counter()
            with unit_of_work(engine) as uow:
                summary = load_demo(uow.conn)
            rows.append((f"load the whole demo ({label})",
                         f"{time.perf_counter() - t0:.1f} s",
                         f"areas + {summary['households']:,} households"))
            vi = services(app).indexes.live()
            def once(vi=vi, engine=engine):
                with engine.begin() as conn:
                    return import_households(conn, demo.households, vi.grids, vi.groups)

            t, res = best(once, runs=2)
            assert res.accepted == n, res.rejected[:3]
            rows.append((f"household import + assignment ({label})", f"{t:.1f} s",
                         f"{n:,} rows, {n / t:,.0f} rows/s (goal < 20 s)"))
            engine.dispose()

    t_build, index = best(lambda: GridIndex(codes, geoms), runs=1)
    rows.append(("build GridIndex (959 grids)", f"{t_build * 1000:.0f} ms", ""))
    t_ours, ours = best(lambda: index.assign(lon, lat))
    rows.append(("batch assign: GridIndex.assign", f"{t_ours:.3f} s",
                 f"{n / t_ours:,.0f} points/s"))
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    polys = gpd.GeoDataFrame({"code": codes}, geometry=geoms, crs="EPSG:4326")
    t_sjoin, joined = best(lambda: gpd.sjoin(pts, polys, predicate="covered_by"))
    rows.append(("batch assign: geopandas sjoin(covered_by)", f"{t_sjoin:.3f} s",
                 f"{n / t_sjoin:,.0f} points/s; ours is {t_sjoin / t_ours:.1f}× faster "
                 "(goal ≥ 4×)"))
    sample = slice(0, 20_000)
    t_rt, _ = best(lambda: per_point_rtree(codes, geoms.copy(), lon[sample], lat[sample]),
                   runs=1)
    rate_rt = 20_000 / t_rt
    rows.append(("per point: rtree + prepared covers (20,000 pts)", f"{t_rt:.2f} s",
                 f"{rate_rt:,.0f} points/s; ours is {n / t_ours / rate_rt:.0f}× faster"))
    ours_codes = index.codes_of(ours)
    theirs = joined.sort_values("code").groupby(level=0)["code"].first()
    agree = (ours_codes == theirs.reindex(range(n)).to_numpy(dtype=object)).mean()
    rows.append(("agreement GridIndex vs sjoin", f"{agree:.6f}", f"{n:,} demo households"))

    print(f"Machine: {os.cpu_count()} cores; numpy {np.__version__}, shapely "
          f"{shapely.__version__}, geopandas {gpd.__version__}\n")
    print("| measurement | time | notes |\n| --- | --- | --- |")
    for r in rows:
        print(f"| {' | '.join(r)} |")


if __name__ == "__main__":
    main()
