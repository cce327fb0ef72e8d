"""Benchmark the boundary editor's publish path on the full Gannan demo, in one run.

    python bench/editor.py [--postgres URL] [--sqlite-only]

A county-wide redistricting: every village of 舟曲县 (623023) gets its grids redrawn
(Voronoi cells of random seeds clipped to the village, new codes), so every household,
ten-household group, grid worker and open case of the county changes grid. The county's
households are topped up with synthetic ones to 50,000, and 1,000 open cases are filed
there. On each store:

1. the impact preview (`versions.impact`: the rows near the change, the draft's index over
   the areas around it, one vectorized lookup) against the obvious way: the draft's whole
   index and every household of the prefecture looked up (what publish did before);
2. publishing it (`versions.publish`: plan, bulk updates, cases with history and events)
   against the obvious way: the whole index rebuilt and every household re-derived and
   updated row by row (the previous publish, rolled back).

Prints a Markdown table (paste it into BENCHMARKS.md). Timings are the best of N runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import best

from boundaries.synthetic import build_demo
from geo_service.app import create_app, services
from geo_service.auth import Principal
from geo_service.cases import read_report, submit_report
from geo_service.demo import load_demo
from geo_service.households import import_households, reassign_households
from geo_service.scope import EVERYTHING
from geo_service.store.tables import areas, households, version_removals
from geo_service.store.uow import unit_of_work
from geo_service.versions import (
    area_frame,
    build_indexes,
    create_draft,
    live_version,
    publish,
    stage_level,
)
from geo_service.versions.impact import impact

COUNTY = "623023"
HOUSEHOLDS = 50_000
CASES = 1_000
RNG = np.random.default_rng(623023)


def redraw_county(conn: sa.Connection, version: int) -> gpd.GeoDataFrame:
    """New grids for every village of the county: Voronoi cells of as many random seeds as
    it had grids, clipped to the village, coded anew (village + 5xx)."""
    villages = area_frame(conn, version, "village")
    villages = villages[villages["code"].str.startswith(COUNTY)]
    grids = area_frame(conn, version, "grid")
    per_village = grids["parent_code"].value_counts()
    rows = []
    for code, geom in zip(villages["code"], villages.geometry, strict=True):
        n = int(per_village.get(code, 1))
        x0, y0, x1, y1 = geom.bounds
        seeds: list[tuple[float, float]] = []
        while len(seeds) < n:
            xs, ys = RNG.uniform(x0, x1, 50 * n), RNG.uniform(y0, y1, 50 * n)
            keep = shapely.contains_xy(geom, xs, ys)
            seeds += list(zip(xs[keep], ys[keep], strict=True))[:n - len(seeds)]
        if n == 1:
            cells = [geom]
        else:
            region = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=geom)
            cells = [c.intersection(geom) for c in region.geoms]
            cells = [c for c in cells if not c.is_empty]
        for k, cell in enumerate(cells):
            rows.append((f"{code}{501 + k:03d}", f"新网格{k + 1}", "grid", "urban", code,
                         shapely.MultiPolygon([p for p in getattr(cell, "geoms", [cell])
                                               if p.geom_type == "Polygon"])))
    return gpd.GeoDataFrame([r[:5] for r in rows],
                            columns=["code", "name", "level", "kind", "parent_code"],
                            geometry=[r[5] for r in rows], crs="EPSG:4326")


def top_up(conn: sa.Connection, vi) -> int:
    """Synthetic households in the county's grids until it holds HOUSEHOLDS."""
    have = conn.execute(sa.select(sa.func.count()).select_from(households).where(
        households.c.grid_code.like(f"{COUNTY}%"))).scalar()
    need = HOUSEHOLDS - have
    if need <= 0:
        return have
    grids = area_frame(conn, vi.version, "grid")
    grids = grids[grids["code"].str.startswith(COUNTY)]
    pts = grids.sample_points(size=need // len(grids) + 1, rng=RNG).explode().to_numpy()[:need]
    roster = pd.DataFrame({"code": [f"S{COUNTY}{i:06d}" for i in range(len(pts))],
                           "lon": shapely.get_x(pts), "lat": shapely.get_y(pts),
                           "head_name": "张三", "phone": "13900000000"})
    import_households(conn, roster, vi.grids, vi.groups, actor="bench")
    return have + len(pts)


def file_cases(conn: sa.Connection, vi) -> None:
    pts = conn.execute(sa.select(households.c.geom).where(
        households.c.grid_code.like(f"{COUNTY}%")).limit(CASES)).scalars().all()
    now, settings = datetime.now(UTC), services_settings
    for p in pts:
        new = read_report({"id": str(uuid.uuid4()), "subtype": "dispute",
                           "description": "邻里纠纷", "lon": p.x, "lat": p.y,
                           "occurred_at": now.isoformat()}, now=now, skew_s=300)
        submit_report(conn, vi, new, actor=Principal(name="bench", role="dispatcher"),
                      scope=EVERYTHING, settings=settings, now=now)


def obvious_impact(conn: sa.Connection, draft: int) -> int:
    """The whole draft index, every household read and looked up."""
    vi = build_indexes(conn, draft, raster=False)
    rows = conn.execute(sa.select(households.c.grid_code, households.c.geom)).all()
    pts = np.array([r[1] for r in rows], dtype=object)
    new = vi.grids.codes_of(vi.grids.assign(shapely.get_x(pts), shapely.get_y(pts)))
    return int((new != np.array([r[0] for r in rows], dtype=object)).sum())


def obvious_publish(engine: sa.Engine, draft: int) -> int:
    """The publish before this work: flip the generations, rebuild the whole index,
    re-derive every household and update it row by row (rolled back)."""
    with unit_of_work(engine, commit=False) as uow:
        conn = uow.conn
        conn.execute(areas.update().where(areas.c.id.in_(
            sa.select(version_removals.c.area_id).where(
                version_removals.c.version_id == draft))).values(version_to=draft))
        conn.execute(version_removals.delete().where(version_removals.c.version_id == draft))
        conn.execute(sa.text("UPDATE boundary_versions SET state = 'retired' "
                             "WHERE state = 'live'"))
        conn.execute(sa.text("UPDATE boundary_versions SET state = 'live' WHERE id = :v"),
                     {"v": draft})
        built = build_indexes(conn, draft)
        return reassign_households(conn, built.grids, built.groups)


def ours_publish(engine: sa.Engine, draft: int, commit: bool) -> int:
    with unit_of_work(engine, commit=commit) as uow:
        return publish(uow.conn, draft, "bench").households_moved


services_settings: dict = {}


def run(label: str, url: str, demo, rows: list[tuple[str, str, str]]) -> None:
    global services_settings
    app = create_app({"DATABASE_URL": url, "SWEEP_INTERVAL_S": 0}, migrate=True)
    services_settings = app.config
    engine = services(app).engine
    t0 = time.perf_counter()
    with unit_of_work(engine) as uow:
        load_demo(uow.conn, demo=demo)
        vi = build_indexes(uow.conn, live_version(uow.conn))
        n_county = top_up(uow.conn, vi)
        file_cases(uow.conn, vi)
    with unit_of_work(engine) as uow:
        draft = create_draft(uow.conn, "bench", "redraw 舟曲县")
        result = stage_level(uow.conn, draft, redraw_county(uow.conn, vi.version), "grid",
                             tolerance_m=5.0)
        assert result.written, result.report.summary()[:2000]
    rows.append((f"set-up ({label})", f"{time.perf_counter() - t0:.0f} s",
                 f"demo + {n_county:,} households and {CASES:,} open cases in {COUNTY}; "
                 f"{len(result.replaced)} grids redrawn"))
    with engine.connect() as conn:
        t_ours, preview = best(lambda: impact(conn, draft, role="admin"), runs=3)
        t_obv, moved = best(lambda: obvious_impact(conn, draft), runs=2)
    assert moved == preview["households"], (moved, preview["households"])
    rows.append((f"impact preview, ours ({label})", f"{t_ours:.2f} s",
                 f"{preview['households']:,} households, {preview['groups']:,} groups, "
                 f"{preview['workers']:,} workers, {preview['open_cases']:,} open cases "
                 "change grid (goal < 1 s)"))
    rows.append((f"impact preview, whole index + every household ({label})",
                 f"{t_obv:.2f} s", f"ours is {t_obv / t_ours:.1f}× faster"))
    t_obv, moved_obv = best(lambda: obvious_publish(engine, draft), runs=1)
    t_dry, _ = best(lambda: ours_publish(engine, draft, False), runs=2)
    t0 = time.perf_counter()
    moved = ours_publish(engine, draft, True)
    t_ours = time.perf_counter() - t0
    rows.append((f"publish, ours, committed ({label})", f"{t_ours:.2f} s",
                 f"{moved:,} households moved, with groups, workers and "
                 f"{preview['open_cases']:,} cases (history + events); rolled-back runs "
                 f"{t_dry:.2f} s (goal < 5 s)"))
    rows.append((f"publish, whole index + every household row by row ({label})",
                 f"{t_obv:.2f} s", f"{moved_obv:,} households only; rolled back; ours is "
                 f"{t_obv / t_ours:.1f}× faster"))
    services(app).close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--postgres", help="SQLAlchemy URL of an empty PostGIS database "
                    "(default: a throwaway cluster when Debian's postgresql + postgis are "
                    "installed)")
    ap.add_argument("--sqlite-only", action="store_true")
    args = ap.parse_args()
    rows: list[tuple[str, str, str]] = []
    t0 = time.perf_counter()
    demo = build_demo()
    rows.append(("generate the demo prefecture", f"{time.perf_counter() - t0:.0f} s", ""))
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite:///{tmp}/bench.sqlite3", demo, rows)
    if args.postgres:
        run("PostGIS", args.postgres, demo, rows)
    elif not args.sqlite_only:
        from tests import pgcluster

        why = pgcluster.available()
        if why:
            print(f"PostGIS skipped: {why}; {pgcluster.HOW_TO}", file=sys.stderr)
        else:
            with pgcluster.cluster() as url:
                run("PostGIS", url, demo, rows)
    load = os.getloadavg()
    print(f"Machine: {os.cpu_count()} cores, load average {load[0]:.2f} / {load[1]:.2f} / "
          f"{load[2]:.2f} at the end (uptime); numpy {np.__version__}, shapely "
          f"{shapely.__version__}\n")
    print("| measurement | time | notes |\n| --- | --- | --- |")
    for r in rows:
        print(f"| {' | '.join(r)} |")


if __name__ == "__main__":
    main()
