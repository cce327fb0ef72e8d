"""Benchmark the point-in-grid lookup, in one run, on the demo prefecture and a 10,000-grid
variant of it, side by side.

    python bench/lookup.py [--duration 6] [--rounds 3] [--connections 16] [--no-postgis]
                           [--no-http]      # GEO_WORKERS / GEO_THREADS pass to the server

Data: the full synthetic Gannan demo (959 grids, 8,626 groups, 206,400 households) and a
variant with exactly 10,000 grids over the same area. The generator cannot make 10,000
grids from 206,400 households, so the variant cuts every demo grid into pieces, in
proportion to its households: Voronoi cells of some of its households, clipped to the
grid (a valid coverage: pieces share edges, and their union is the grid). Its groups cut
each new grid the same way (one per ~24 households, at least 2). The points are the demo's
206,400 household positions, for both layers.

1. In process, batch assignment of all 206,400 points (random order): our GridIndex vs geopandas
   `sjoin(predicate="covered_by")` vs a per-point rtree + prepared `contains` loop (on a
   sample) vs PostGIS in a throwaway cluster (`tests/pgcluster.py`; Debian's postgresql +
   postgis): a bulk COPY into a temp table + `ST_Covers` join, and per-point
   parameterised queries over one connection (on a sample, rate extrapolated).
2. Over HTTP: `geo-service serve` (gunicorn, GEO_WORKERS/GEO_THREADS defaults) on
   127.0.0.1 over a temporary SQLite file with the layer loaded by `load_demo`; `wrk`
   (Debian: `apt-get install wrk`) drives single `GET /api/v1/lookup` at random household
   points, against the trivial `GET /api/v1/ping` of the same server, in alternating
   rounds of a fixed time (the best round of each counts; every round is shown); then
   `POST /api/v1/lookup` with 100,000-point bodies from 1 and 2 Python clients.
   Every server started is stopped again, also on errors. Only loopback is used.

Prints one Markdown table (paste it into BENCHMARKS.md). In-process timings are the best
of N runs. Runs in about 3.5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rtree import index as rtree_index

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import best  # noqa: E402

from boundaries.synthetic import Demo, build_demo  # noqa: E402
from geo_service.app import create_app, services  # noqa: E402
from geo_service.auth import create_token  # noqa: E402
from geo_service.demo import load_demo  # noqa: E402
from geo_service.index import GridIndex  # noqa: E402
from geo_service.settings import load  # noqa: E402
from geo_service.store.uow import unit_of_work  # noqa: E402

VARIANT_GRIDS = 10_000
HOUSEHOLDS_PER_GROUP = 24  # the demo's ratio: 206,400 households / 8,626 groups
BATCH_POINTS = 100_000
T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f} s] {msg}", file=sys.stderr, flush=True)


def rate(n: float, seconds: float) -> str:
    return f"{n / seconds:,.0f}"


# ------------------------------------------------------------------------ the 10k variant
def _quota(weights: np.ndarray, total: int) -> np.ndarray:
    """At least 1 each, the rest in proportion to `weights` (largest remainders)."""
    k = np.ones(len(weights), dtype=np.int64)
    share = (total - len(weights)) * weights / weights.sum()
    add = np.floor(share).astype(np.int64)
    add[np.argsort(-(share - add))[: total - len(weights) - add.sum()]] += 1
    return k + add


def _owner(geoms: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Position of the polygon holding each point (lowest position on ties, -1 none)."""
    inp, cand = shapely.STRtree(geoms).query(shapely.points(x, y), predicate="intersects")
    out = np.full(len(x), len(geoms), dtype=np.int64)
    np.minimum.at(out, inp, cand)
    out[out == len(geoms)] = -1
    return out


def split_layer(geoms: np.ndarray, x: np.ndarray, y: np.ndarray, owner: np.ndarray,
                pieces: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut polygon i into up to pieces[i] parts: the Voronoi cells of as many distinct
    points of it (x, y with owner == i), clipped to it. Returns (parent, piece) arrays."""
    rng = np.random.default_rng(seed)
    ok = owner >= 0
    pts = np.unique(np.column_stack([owner[ok], x[ok], y[ok]]), axis=0)  # distinct per owner
    key = rng.random(len(pts))
    pts = pts[np.lexsort([key, pts[:, 0]])]
    own = pts[:, 0].astype(np.int64)
    rank = np.arange(len(pts)) - np.searchsorted(own, own)
    seeds = pts[rank < pieces[own]]
    s_own = seeds[:, 0].astype(np.int64)
    n_seeds = np.bincount(s_own, minlength=len(geoms))
    cut = np.flatnonzero(n_seeds >= 2)
    keep = np.flatnonzero(n_seeds < 2)
    sel = np.isin(s_own, cut)
    mps = shapely.multipoints(seeds[sel, 1:], indices=np.searchsorted(cut, s_own[sel]))
    cells = shapely.voronoi_polygons(mps, extend_to=geoms[cut])
    parts, which = shapely.get_parts(cells, return_index=True)
    parent = cut[which]
    clipped = shapely.intersection(parts, geoms[parent])
    polys, where = shapely.get_parts(clipped, return_index=True)
    good = (shapely.get_type_id(polys) == 3) & (shapely.area(polys) > 0)
    polys, where = polys[good], where[good]
    multis = shapely.multipolygons(polys, indices=where)  # one per non-empty clipped cell
    present = np.unique(where)
    parent = np.concatenate([keep, parent[present]])
    multis = np.concatenate([geoms[keep], multis[present]])  # uncut: kept as they are
    order = np.argsort(parent, kind="stable")
    return parent[order], multis[order]


def ten_thousand_grids(demo: Demo, seed: int = 10_000) -> Demo:
    """The demo with every grid cut into pieces (10,000 grids in all) and new groups."""
    areas = demo.areas
    grids = areas[areas["level"] == "grid"].reset_index(drop=True)
    x, y = demo.households["lon"].to_numpy(), demo.households["lat"].to_numpy()
    g_geoms = grids.geometry.to_numpy()
    g_owner = _owner(g_geoms, x, y)
    want = _quota(np.bincount(g_owner[g_owner >= 0], minlength=len(grids)).astype(float),
                  VARIANT_GRIDS)
    parent, pieces = split_layer(g_geoms, x, y, g_owner, want, seed)
    rank = np.arange(len(parent)) - np.searchsorted(parent, parent)
    old = grids.iloc[parent].reset_index(drop=True)
    new_grids = gpd.GeoDataFrame({
        "code": [f"{c}{r + 1:02d}" for c, r in zip(old["code"], rank, strict=True)],
        "name": [f"{n}{r + 1}分格" for n, r in zip(old["name"], rank, strict=True)],
        "level": "grid", "kind": old["kind"].to_numpy(),
        "parent_code": old["parent_code"].to_numpy(), "synthetic": True,
    }, geometry=pieces, crs=areas.crs)
    n_owner = _owner(pieces, x, y)
    per = np.bincount(n_owner[n_owner >= 0], minlength=len(pieces))
    want_g = np.maximum(2, np.rint(per / HOUSEHOLDS_PER_GROUP)).astype(np.int64)
    gparent, gpieces = split_layer(pieces, x, y, n_owner, want_g, seed + 1)
    grank = np.arange(len(gparent)) - np.searchsorted(gparent, gparent)
    gcodes = new_grids["code"].to_numpy()[gparent]
    new_groups = gpd.GeoDataFrame({
        "code": [f"{c}{r + 1:03d}" for c, r in zip(gcodes, grank, strict=True)],
        "name": [f"第{r + 1}联防组" for r in grank], "level": "group",
        "kind": "ten_household", "parent_code": gcodes, "synthetic": True,
    }, geometry=gpieces, crs=areas.crs)
    # Workers of a cut grid answer for its first piece; liaison heads for that piece's
    # first group (the people query per lookup then sees the demo's numbers of rows).
    level = dict(zip(areas["code"], areas["level"], strict=True))
    workers = demo.workers.copy()
    workers["area_code"] = [
        f"{c}01" if level.get(c) == "grid" else f"{c[:-3]}01001" if level.get(c) == "group"
        else c for c in workers["area_code"]]
    keep = areas[~areas["level"].isin(["grid", "group"])]
    out = pd.concat([keep, new_grids, new_groups], ignore_index=True)
    return Demo(areas=gpd.GeoDataFrame(out, geometry="geometry", crs=areas.crs),
                households=demo.households, workers=workers)


# -------------------------------------------------------------------- in-process methods
def per_point_rtree(idx: rtree_index.Index, geoms: np.ndarray, lon: np.ndarray,
                    lat: np.ndarray) -> np.ndarray:
    """The classic loop: rtree candidates, prepared `contains`, `covers` for edges."""
    out = np.full(len(lon), -1)
    for k, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
        pt = shapely.Point(x, y)
        cands = sorted(idx.intersection((x, y, x, y)))
        hit = next((i for i in cands if geoms[i].contains(pt)), None)
        if hit is None:
            hit = next((i for i in cands if geoms[i].covers(pt)), -1)
        out[k] = hit
    return out


@dataclass
class Layer:
    label: str
    demo: Demo
    codes: np.ndarray = field(init=False)
    geoms: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        grids = self.demo.areas[self.demo.areas["level"] == "grid"]
        self.codes = grids["code"].to_numpy()
        self.geoms = grids.geometry.to_numpy()


class Table:
    """Rows of (measurement, value per layer, notes), in insertion order."""

    def __init__(self, labels: list[str]) -> None:
        self.labels = labels
        self.rows: dict[str, dict[str, str]] = {}
        self.notes: dict[str, str] = {}

    def put(self, row: str, label: str, value: str, note: str | None = None) -> None:
        self.rows.setdefault(row, {})[label] = value
        if note is not None:
            self.notes[row] = note

    def get(self, row: str, label: str) -> str | None:
        return self.rows.get(row, {}).get(label)

    def markdown(self) -> str:
        head = ["measurement", *self.labels, "notes"]
        lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        for row, vals in self.rows.items():
            cells = [row, *(vals.get(lb, "—") for lb in self.labels), self.notes.get(row, "")]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


def num(s: str | None) -> float:
    return float(s.split()[0].replace(",", "").rstrip("×")) if s else float("nan")


def in_process(table: Table, layer: Layer, lon: np.ndarray, lat: np.ndarray,
               rtree_sample: int) -> np.ndarray:
    n = len(lon)
    t_build, index = best(lambda: GridIndex(layer.codes, layer.geoms), runs=1)
    table.put("GridIndex build", layer.label, f"{t_build:.2f} s",
              "per server start and boundary version: the master builds it before forking")
    near_m = load(environ={})["NEAR_BOUNDARY_M"]
    t_near, _ = best(lambda: GridIndex(layer.codes, layer.geoms).prepare_near(near_m), runs=1)
    table.put("GridIndex build + near-boundary cores", layer.label, f"{t_near:.2f} s",
              f"grid layer, {near_m:g} m: what a single lookup needs")
    t_ours, pos = best(lambda: index.assign(lon, lat))
    table.put("batch in-process: GridIndex.assign, points/s", layer.label, rate(n, t_ours),
              f"all {n:,} household points in random order, best of 3")
    hh = layer.demo.households  # the same points in the demo's order, address by address
    t_addr, _ = best(lambda: index.assign(hh["lon"].to_numpy(), hh["lat"].to_numpy()))
    table.put("batch in-process: GridIndex.assign, points in address order, points/s",
              layer.label, rate(n, t_addr), "consecutive points share polygons (cache)")
    ours = index.codes_of(pos)
    groups = layer.demo.areas[layer.demo.areas["level"] == "group"]
    g_index = GridIndex(groups["code"].to_numpy(), groups.geometry.to_numpy(), level="group")
    t_groups, _ = best(lambda: g_index.assign(lon, lat))
    table.put("batch in-process: GridIndex.assign on the group layer, points/s", layer.label,
              rate(n, t_groups), "POST /lookup assigns both layers")
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    polys = gpd.GeoDataFrame({"code": layer.codes}, geometry=layer.geoms, crs="EPSG:4326")
    t_sjoin, joined = best(lambda: gpd.sjoin(pts, polys, predicate="covered_by"), runs=2)
    table.put("batch in-process: geopandas sjoin(covered_by), points/s", layer.label,
              rate(n, t_sjoin), "best of 2")
    table.put("GridIndex ÷ sjoin", layer.label, f"{t_sjoin / t_ours:.1f}×", "goal ≥ 4×")
    theirs = joined.sort_values("code").groupby(level=0)["code"].first()
    theirs = theirs.reindex(range(n)).to_numpy(dtype=object)
    table.put("agreement GridIndex vs sjoin (lowest code wins)", layer.label,
              f"{(ours == theirs).mean():.6f}")
    m = min(rtree_sample, n)
    geoms = layer.geoms.copy()
    shapely.prepare(geoms)
    idx = rtree_index.Index((i, g.bounds, None) for i, g in enumerate(geoms))
    t_rt, got = best(lambda: per_point_rtree(idx, geoms, lon[:m], lat[:m]), runs=1)
    table.put("per point in-process: rtree + prepared contains, points/s", layer.label,
              rate(m, t_rt), f"first {m:,} points, rate extrapolated")
    table.put("GridIndex ÷ per-point rtree", layer.label,
              f"{(n / t_ours) / (m / t_rt):.0f}×")
    got_codes = np.where(got >= 0, layer.codes[np.maximum(got, 0)], None)
    table.put("agreement GridIndex vs per-point rtree", layer.label,
              f"{(got_codes == ours[:m]).mean():.6f}")
    return ours


# ------------------------------------------------------------------------------- PostGIS
def postgis(table: Table, layers: list[Layer], lon: np.ndarray, lat: np.ndarray,
            ours: dict[str, np.ndarray], url: str | None, sample: int) -> None:
    import psycopg

    if url is None:
        from tests import pgcluster

        why = pgcluster.available()
        if why:
            log(f"PostGIS skipped: {why}; {pgcluster.HOW_TO}")
            return
        with pgcluster.cluster() as started:
            return postgis(table, layers, lon, lat, ours, started, sample)
    n = len(lon)
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        version = conn.execute("SELECT postgis_lib_version()").fetchone()[0]
        server = conn.execute("SHOW server_version").fetchone()[0]
        ewkb = shapely.to_wkb(shapely.points(lon, lat), hex=True, include_srid=False)
        for layer in layers:
            tab = f"bench_grids_{len(layer.codes)}"
            conn.execute(f"DROP TABLE IF EXISTS {tab}")
            conn.execute(f"CREATE TABLE {tab} (code text PRIMARY KEY, "
                         "geom geometry(MultiPolygon, 4326) NOT NULL)")
            with conn.cursor().copy(f"COPY {tab} (code, geom) FROM STDIN") as cp:
                for code, wkb in zip(layer.codes, shapely.to_wkb(layer.geoms, hex=True),
                                     strict=True):
                    cp.write_row((code, f"SRID=4326;{wkb}"))
            conn.execute(f"CREATE INDEX ON {tab} USING gist (geom)")
            conn.execute(f"ANALYZE {tab}")

            def bulk(tab: str = tab) -> list[tuple[int, str]]:
                conn.execute("DROP TABLE IF EXISTS pts")
                conn.execute("CREATE TEMP TABLE pts (id int, geom geometry(Point, 4326))")
                with conn.cursor().copy("COPY pts (id, geom) FROM STDIN") as cp:
                    for i, wkb in enumerate(ewkb):
                        cp.write_row((i, f"SRID=4326;{wkb}"))
                return conn.execute(
                    f"SELECT DISTINCT ON (p.id) p.id, g.code FROM pts p JOIN {tab} g "
                    "ON ST_Covers(g.geom, p.geom) ORDER BY p.id, g.code").fetchall()

            t_bulk, rows = best(bulk, runs=1)
            got = np.full(n, None, dtype=object)
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            got[ids] = [r[1] for r in rows]
            table.put("batch PostGIS: COPY into temp table + ST_Covers join, points/s",
                      layer.label, rate(n, t_bulk),
                      f"all {n:,} points; GiST on grids; COPY + join + fetch")
            agree = (got == ours[layer.label]).mean()
            table.put("agreement GridIndex vs PostGIS", layer.label, f"{agree:.6f}")
            q = (f"SELECT code FROM {tab} WHERE ST_Covers(geom, "
                 "ST_SetSRID(ST_Point(%s, %s), 4326)) ORDER BY code LIMIT 1")
            m = min(sample, n)
            step = max(n // m, 1)
            pairs = list(zip(lon[::step][:m].tolist(), lat[::step][:m].tolist(), strict=True))

            def per_point(q: str = q, pairs: list = pairs) -> None:
                with conn.cursor() as cur:
                    for p in pairs:
                        cur.execute(q, p, prepare=True)
                        cur.fetchone()

            t_pp, _ = best(per_point, runs=1)
            table.put("per point PostGIS: parameterised SELECT over one connection, "
                      "points/s", layer.label, rate(m, t_pp),
                      f"{m:,} points, prepared statement, rate extrapolated")
            ours_rate = num(table.get("batch in-process: GridIndex.assign, points/s",
                                      layer.label))
            table.put("GridIndex ÷ PostGIS per point", layer.label,
                      f"{ours_rate / (m / t_pp):,.0f}×", "goal ≥ 10×")
            table.put("GridIndex ÷ PostGIS bulk join", layer.label,
                      f"{ours_rate / (n / t_bulk):,.0f}×")
            conn.execute(f"DROP TABLE {tab}")
    table.put("PostGIS versions", layers[0].label, f"PostgreSQL {server}",
              f"PostGIS {version}; throwaway cluster on 127.0.0.1, fsync off")


# ---------------------------------------------------------------------------------- HTTP
AUTH_LUA = 'wrk.headers["Authorization"] = "Bearer {token}"\n'
# Random household points: each wrk thread walks the shuffled list from its own offset.
LOOKUP_LUA = AUTH_LUA + """
local counter = 0
function setup(thread)
  thread:set("first", counter * 7919)
  counter = counter + 1
end
function init(args)
  paths = {{}}
  for line in io.lines("{paths}") do paths[#paths + 1] = line end
  i = first % #paths
end
function request()
  i = i % #paths + 1
  return wrk.format(nil, paths[i])
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, token: str | None = None, timeout: float = 30) -> tuple[int, bytes]:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Server:
    """`geo-service serve` in its own process group; always stopped on exit."""

    def __init__(self, db_url: str, log_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        exe = shutil.which("geo-service") or str(Path(sys.executable).parent / "geo-service")
        env = {**os.environ, "GEO_DATABASE_URL": db_url}
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([exe, "serve", "--port", str(self.port)], env=env,
                                     cwd=log_path.parent, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.stop()
        if exc_type is not None:  # show why, before the temporary directory goes
            text = Path(self.log.name).read_text(errors="replace")
            log(f"server log (last 4,000 characters):\n{text[-4000:]}")

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}): {self.log.name}")
            try:
                status, body = get(f"{self.base}/api/v1/health", timeout=30)
                if status == 200 and json.loads(body).get("live_version"):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server not ready in time")

    def warm(self, cpu_s: float = 1.0, timeout: float = 90) -> None:
        """Until every worker has built its index (each does on its first request, which
        takes more than `cpu_s` of CPU): bursts of concurrent requests on new connections,
        so that each worker accepts some."""
        deadline = time.monotonic() + timeout
        while min((_cpu_s(p) for p in self.workers()), default=0.0) < cpu_s:
            if time.monotonic() > deadline:
                log(f"warning: not every worker warmed up: {self.workers()}")
                return
            burst = [threading.Thread(target=get, args=(f"{self.base}/api/v1/health",))
                     for _ in range(2 * len(self.workers()))]
            for t in burst:
                t.start()
            for t in burst:
                t.join()

    def workers(self) -> list[int]:
        return _children(self.proc.pid)

    def cpu_s(self) -> float:
        return sum(_cpu_s(p) for p in self.workers())

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    assert m, text
    return float(m.group(1)) * _UNITS[m.group(2)]


def per_worker(server: Server) -> str:
    """Established connections to the server, counted per worker process ("9/7")."""
    ss = subprocess.run(["ss", "-tnpH", "state", "established", f"sport = :{server.port}"],
                        capture_output=True, text=True).stdout
    pids = re.findall(r"pid=(\d+)", ss)
    return "/".join(str(n) for n in sorted((pids.count(str(p)) for p in server.workers()),
                                           reverse=True))


def run_wrk(server: Server, script: Path, path: str, seconds: int, connections: int
            ) -> dict:
    """One bounded wrk run against loopback; req/s, p50/p99 ms, errors, CPU shares."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
           "--latency", "-s", str(script), f"{server.base}{path}"]
    cpu0, t0 = server.cpu_s(), time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(min(2.0, seconds / 2))
    spread = per_worker(server)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    except ChildProcessError:
        usage = None
        proc.wait()
    wall = time.perf_counter() - t0
    out = proc.stdout.read().decode()
    proc.stdout.close()
    if proc.returncode != 0 or "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed:\n{out}")
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _ms(lat["50"]), "p99": _ms(lat["99"]) if "99" in lat else float("nan"),
        "non2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": sock.group(1) if sock else "",
        "server_cores": (server.cpu_s() - cpu0) / wall,
        "wrk_cores": (usage.ru_utime + usage.ru_stime) / wall if usage else float("nan"),
        "per_worker": spread,
    }


def post_batches(server: Server, token: str, bodies: list[bytes], clients: int,
                 seconds: float) -> dict:
    """`clients` threads POST bodies back to back for `seconds` (each finishes the request
    it is in); points/s over the wall time, median seconds per request, requests done."""
    done: list[float] = []
    stop_at = time.perf_counter() + seconds
    errors: list[str] = []

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        i = k
        try:
            while time.perf_counter() < stop_at and not errors:
                t = time.perf_counter()
                conn.request("POST", "/api/v1/lookup", bodies[i % len(bodies)], headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    errors.append(f"{resp.status}: {data[:200]!r}")
                    return
                done.append(time.perf_counter() - t)
                i += clients
        finally:
            conn.close()

    cpu0, t0 = server.cpu_s(), time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    time.sleep(min(1.0, seconds / 2))
    spread = per_worker(server)
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"batch POST failed: {errors[0]}")
    return {"pps": len(done) * BATCH_POINTS / wall, "median_s": float(np.median(done)),
            "requests": len(done), "per_worker": spread,
            "server_cores": (server.cpu_s() - cpu0) / wall}


def check_answers(server: Server, token: str, lon: np.ndarray, lat: np.ndarray,
                  ours: np.ndarray, pick: np.ndarray, body: bytes) -> None:
    """The served answers are the in-process ones: 20 single points and one batch."""
    for i in pick[:20]:
        status, text = get(f"{server.base}/api/v1/lookup?lon={lon[i]:.7f}&lat={lat[i]:.7f}",
                           token)
        assert status == 200, text[:300]
        assert json.loads(text)["grid"]["code"] == ours[i], (i, text[:300])
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    conn.request("POST", "/api/v1/lookup", body, {"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
    resp = conn.getresponse()
    answer = json.loads(resp.read())
    conn.close()
    assert resp.status == 200 and answer["count"] == BATCH_POINTS, (resp.status, answer)
    assert not answer["errors"], answer["errors"][:3]
    agree = (np.array(answer["grid"], dtype=object) == ours[pick[:BATCH_POINTS]]).mean()
    assert agree > 0.9999, agree


def http_bench(table: Table, layer: Layer, lon: np.ndarray, lat: np.ndarray,
               ours: np.ndarray, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="geo-bench-") as tmp:
        tmpd = Path(tmp)
        url = f"sqlite:///{tmpd / 'bench.sqlite3'}"
        t0 = time.perf_counter()
        app = create_app({"DATABASE_URL": url}, migrate=True)
        engine = services(app).engine
        with unit_of_work(engine) as uow:
            load_demo(uow.conn, demo=layer.demo)
            token = create_token(uow.conn, name="bench", role="viewer")
        engine.dispose()
        log(f"{layer.label}: demo loaded into SQLite in {time.perf_counter() - t0:.1f} s")
        pick = np.random.default_rng(1).permutation(len(lon))
        paths = tmpd / "paths.txt"
        paths.write_text("".join(f"/api/v1/lookup?lon={lon[i]:.7f}&lat={lat[i]:.7f}\n"
                                 for i in pick[:50_000]))
        ping_lua, lookup_lua = tmpd / "ping.lua", tmpd / "lookup.lua"
        ping_lua.write_text(AUTH_LUA.format(token=token))
        lookup_lua.write_text(LOOKUP_LUA.format(token=token, paths=paths))
        bodies = [json.dumps({"points": [[round(float(lon[i]), 7), round(float(lat[i]), 7)]
                                         for i in pick[k:k + BATCH_POINTS]]}).encode()
                  for k in range(0, 3 * BATCH_POINTS, BATCH_POINTS)]
        with Server(url, tmpd / "server.log") as server:
            server.wait_ready()
            log(f"{layer.label}: server up on port {server.port}, workers {server.workers()}")
            server.warm()
            check_answers(server, token, lon, lat, ours, pick, bodies[0])
            # Warm up the people directory and the like.
            run_wrk(server, lookup_lua, "/api/v1/lookup", args.warmup, args.connections)
            runs: dict[str, list[dict]] = {"ping": [], "lookup": []}
            for _ in range(args.rounds):  # alternate, so both see the same conditions
                runs["ping"].append(run_wrk(server, ping_lua, "/api/v1/ping", args.duration,
                                            args.connections))
                runs["lookup"].append(run_wrk(server, lookup_lua, "/api/v1/lookup",
                                              args.duration, args.connections))
            for name, rs in runs.items():
                for r in rs:
                    if r["non2xx"] or re.search(r"[1-9]", r["socket_errors"]):
                        raise RuntimeError(f"{name}: {r['non2xx']} non-2xx responses, "
                                           f"socket errors {r['socket_errors']}")
            ping = max(runs["ping"], key=lambda r: r["rps"])
            look = max(runs["lookup"], key=lambda r: r["rps"])
            w = (f"wrk -t1 -c{args.connections}, {args.rounds} × {args.duration} s alternating "
                 "with the other; the best round")
            table.put("HTTP trivial GET /ping, requests/s", layer.label, f"{ping['rps']:,.0f}",
                      f"{w}; the framework's ceiling on this server")
            table.put("HTTP single GET /lookup, requests/s", layer.label, f"{look['rps']:,.0f}",
                      f"{w}; random household points; the full answer (grid, group, chain, "
                      "near_boundary, people)")
            table.put("HTTP lookup ÷ ping", layer.label,
                      f"{100 * look['rps'] / ping['rps']:.0f} %", "goal ≥ 80 %")
            table.put("HTTP ping p50 / p99, ms", layer.label,
                      f"{ping['p50']:.1f} / {ping['p99']:.1f}", "of the best round")
            table.put("HTTP lookup p50 / p99, ms", layer.label,
                      f"{look['p50']:.1f} / {look['p99']:.1f}", "of the best round")
            table.put("HTTP rounds, requests/s: ping; lookup", layer.label,
                      "; ".join(" / ".join(f"{r['rps']:,.0f}" for r in runs[k])
                                for k in ("ping", "lookup")), "every round")
            table.put("wrk connections per worker, rounds: ping; lookup", layer.label,
                      "; ".join(" ".join(r["per_worker"] for r in runs[k])
                                for k in ("ping", "lookup")),
                      "keep-alive connections stay with the worker that accepted them")
            table.put("CPU cores used (best rounds): server / wrk, ping; lookup", layer.label,
                      f"{ping['server_cores']:.2f} / {ping['wrk_cores']:.2f}; "
                      f"{look['server_cores']:.2f} / {look['wrk_cores']:.2f}",
                      "wrk and gunicorn share the machine's 2 cores")
            for clients in (1, 2):
                r = post_batches(server, token, bodies, clients, args.batch_seconds)
                who = f"{clients} client{'s' * (clients > 1)}"
                table.put(f"HTTP batch POST /lookup, {who}, points/s", layer.label,
                          f"{r['pps']:,.0f}",
                          f"{BATCH_POINTS:,}-point JSON bodies back to back for "
                          f"{args.batch_seconds:g} s, end to end"
                          + ("; goal ≥ 300,000" if clients == 2 else ""))
                table.put(f"HTTP batch POST /lookup, {who}: median s per request "
                          "(requests; connections per worker; server cores)", layer.label,
                          f"{r['median_s']:.2f} ({r['requests']}; {r['per_worker']}; "
                          f"{r['server_cores']:.2f})")
            log(f"{layer.label}: HTTP done")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=6, help="seconds per timed wrk run")
    ap.add_argument("--rounds", type=int, default=3,
                    help="timed wrk runs per endpoint, alternating ping and lookup")
    ap.add_argument("--warmup", type=int, default=5,
                    help="seconds of lookups before the timed rounds")
    ap.add_argument("--connections", type=int, default=16, help="wrk connections")
    ap.add_argument("--batch-seconds", type=float, default=5.0,
                    help="seconds of back-to-back batch POSTs per client count")
    ap.add_argument("--rtree-sample", type=int, default=20_000)
    ap.add_argument("--pg-sample", type=int, default=5_000,
                    help="points for the per-point PostGIS loop")
    ap.add_argument("--postgres", help="libpq/SQLAlchemy URL of a PostGIS database to use "
                    "instead of a throwaway cluster")
    ap.add_argument("--no-postgis", action="store_true")
    ap.add_argument("--no-http", action="store_true")
    args = ap.parse_args()

    demo = build_demo()
    log("demo built")
    variant = ten_thousand_grids(demo)
    log("10,000-grid variant built")
    layers = [Layer(f"{(demo.areas['level'] == 'grid').sum():,} grids", demo),
              Layer(f"{(variant.areas['level'] == 'grid').sum():,} grids", variant)]
    # Random order: a lookup service gets points from anywhere. (In the demo's order,
    # address by address, consecutive points share polygons and every method is faster.)
    shuffle = np.random.default_rng(623000).permutation(len(demo.households))
    lon = demo.households["lon"].to_numpy()[shuffle]
    lat = demo.households["lat"].to_numpy()[shuffle]
    table = Table([lay.label for lay in layers])
    for lay in layers:
        n_groups = (lay.demo.areas["level"] == "group").sum()
        table.put("grids / groups / household points", lay.label,
                  f"{len(lay.codes):,} / {n_groups:,} / {len(lon):,}",
                  "10,000-grid variant: demo grids cut by Voronoi cells of households")
    ours = {}
    for lay in layers:
        ours[lay.label] = in_process(table, lay, lon, lat, args.rtree_sample)
        log(f"{lay.label}: in-process done")
    if not args.no_postgis:
        postgis(table, layers, lon, lat, ours, args.postgres, args.pg_sample)
        log("PostGIS done")
    if not args.no_http:
        if shutil.which("wrk") is None:
            log("HTTP skipped: wrk is not installed (Debian: apt-get install wrk)")
            table.put("HTTP", layers[0].label, "skipped", "wrk is not installed: "
                      "apt-get install wrk (Debian), then run again")
        else:
            for lay in layers:
                http_bench(table, lay, lon, lat, ours[lay.label], args)

    cpu = next((ln.split(":", 1)[1].strip() for ln in
                Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    wrk_v = (subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split(" [")[0]
             if shutil.which("wrk") else "wrk not installed")
    env = [f"{k}={os.environ[k]}" for k in ("GEO_WORKERS", "GEO_THREADS") if k in os.environ]
    cmd = " ".join([*env, "python bench/lookup.py", *sys.argv[1:]])
    serving = (" ".join(env) if env else
               f"defaults: {os.cpu_count() or 1} lane workers × "
               f"{load(environ={})['THREADS']} lane threads")
    print(f"Run {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}: `{cmd}`, "
          f"{time.perf_counter() - T0:.0f} s in all.\n")
    print(f"Machine: {os.cpu_count()} cores ({cpu}), "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
          f"Python {platform.python_version()}, numpy {np.__version__}, shapely "
          f"{shapely.__version__} (GEOS {shapely.geos_version_string}), geopandas "
          f"{gpd.__version__}; {wrk_v}. HTTP: gunicorn ({serving}), SQLite store; the server "
          "and the load generator share the 2 cores.\n")
    print(table.markdown())


if __name__ == "__main__":
    main()
