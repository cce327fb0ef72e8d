"""Index build time and peak memory at 1,000, 10,000 and 100,000 grids.

    python bench/build.py [--sizes 1000,10000,100000] [--profile N]

Layer: a synthetic tessellation like real grids: Voronoi cells of uniform random seeds
(about 1 km² each, around the demo's latitude), whose edges are cut into ~8 pieces and
bent by a random sideways jitter (neighbours share the same bent edge), polygonized
and clipped to the box. Each size is built in a fresh subprocess, so its peak resident
memory (`ru_maxrss`) is its own: first the layer is generated (its memory counted
separately as the baseline), then `GridIndex` is built, then its near-boundary cores
(`prepare_near(30)`, what a single lookup needs). Best of `--runs` per size (time);
memory is the peak of the build step above the baseline after generating the layer.
Prints one Markdown table. `--profile N` prints a cProfile of one build of N grids.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo_service.index import GridIndex  # noqa: E402

CELL_DEG = 0.01  # ~1 km × 0.9 km at 35°N


def tessellation(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """About `n` grids (codes, polygons) tiling a box, with irregular shared edges."""
    rng = np.random.default_rng(seed)
    side = np.sqrt(n) * CELL_DEG
    x0, y0 = 103.0, 35.0
    box = shapely.box(x0, y0, x0 + side, y0 + side)
    seeds = shapely.multipoints(rng.uniform((x0, y0), (x0 + side, y0 + side), (n, 2)))
    edges = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box,
                                                       only_edges=True))
    edges = shapely.get_parts(shapely.intersection(edges, box))
    edges = edges[shapely.get_type_id(edges) == 1]
    # Bend every edge: split into 8 pieces, move the inner points sideways.
    xy, which = shapely.get_coordinates(edges, return_index=True)
    a = xy[np.r_[True, which[1:] != which[:-1]]]
    b = xy[np.r_[which[1:] != which[:-1], True]]
    t = np.linspace(0, 1, 9)
    pts = a[:, None, :] + (b - a)[:, None, :] * t[None, :, None]
    d = b - a
    normal = np.column_stack([-d[:, 1], d[:, 0]])
    jitter = rng.uniform(-0.08, 0.08, (len(a), 9))
    jitter[:, [0, -1]] = 0
    pts = pts + jitter[:, :, None] * normal[:, None, :]
    lines = shapely.linestrings(pts.reshape(-1, 2), indices=np.repeat(np.arange(len(a)), 9))
    noded = shapely.node(shapely.union_all(np.append(lines, shapely.boundary(box))))
    polys = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    polys = shapely.intersection(polys, box)
    polys = polys[shapely.area(polys) > 0]
    codes = np.array([f"G{i:07d}" for i in range(len(polys))], dtype=object)
    return codes, polys


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(n: int, runs: int) -> dict:
    """In this process: generate, then build (best of `runs`)."""
    t0 = time.perf_counter()
    codes, polys = tessellation(n)
    gen_s = time.perf_counter() - t0
    base = maxrss_mb()
    best = {"index_s": float("inf"), "cores_s": float("inf")}
    for _ in range(runs):
        t0 = time.perf_counter()
        idx = GridIndex(codes, polys)
        t1 = time.perf_counter()
        idx.prepare_near(30.0)
        t2 = time.perf_counter()
        best = {"index_s": min(best["index_s"], t1 - t0),
                "cores_s": min(best["cores_s"], t2 - t1)}
        del idx
    segs = int(shapely.get_num_coordinates(polys).sum())
    return {"grids": len(polys), "vertices": segs, "generate_s": gen_s, **best,
            "base_mb": base, "peak_mb": maxrss_mb()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the subprocess
    ap.add_argument("--profile", type=int)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.runs)))
        return
    if args.profile:
        codes, polys = tessellation(args.profile)
        prof = cProfile.Profile()
        prof.enable()
        GridIndex(codes, polys).prepare_near(30.0)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
        return
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--one", str(n), "--runs",
                              str(args.runs)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        rows.append(r)
        print(f"{n}: {r}", file=sys.stderr, flush=True)
    print("| grids | vertices | GridIndex build, s | + near-boundary cores, s | total, s "
          "| peak RSS of the build, MB (above the layer) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['grids']:,} | {r['vertices']:,} | {r['index_s']:.2f} | "
              f"{r['cores_s']:.2f} | {r['index_s'] + r['cores_s']:.2f} | "
              f"{r['peak_mb']:,.0f} ({r['peak_mb'] - r['base_mb']:,.0f}) |")


if __name__ == "__main__":
    main()
