"""The single lookup's near-boundary flag agrees with the batch's, right at the distance.

The single path answers "not near" for points in a grid's core (the grid shrunk by a
little more than NEAR_BOUNDARY_M), the batch path measures every point. Probes sit 25–31 m
inside the edges of bent, irregular grids like real ones (bench/build.py's tessellation),
from a county's extent to a province's. (The cores once shrunk too little at 100,000 grids,
3 points in 20,000; these small layers do not reproduce that: bench/build.py checks it.)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import shapely

from geo_service.index import GridIndex

BENCH = Path(__file__).resolve().parent.parent / "bench" / "build.py"
M_PER_DEG = 111_320.0


def _tessellation(n: int, cell_deg: float):
    spec = importlib.util.spec_from_file_location("bench_build", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.CELL_DEG = cell_deg
    return module.tessellation(n, seed=7)


@pytest.mark.parametrize("cell_deg", [0.01, 0.15, 0.5])  # a county's grids; a province's span
def test_single_and_batch_agree_next_to_the_distance(cell_deg: float) -> None:
    codes, polys = _tessellation(400, cell_deg)
    idx = GridIndex(codes, polys)
    rng = np.random.default_rng(3)
    xs, ys = [], []
    for poly in rng.choice(polys, 150, replace=False):
        lat0 = shapely.centroid(poly).y
        for d in rng.uniform(25, 31, 8):  # metres inside the grid's edge
            ring = shapely.buffer(poly, -d / (M_PER_DEG * np.cos(np.radians(lat0))),
                                  join_style="mitre").boundary
            if ring.is_empty:
                continue
            p = ring.interpolate(rng.uniform(0, 1), normalized=True)
            xs.append(p.x)
            ys.append(p.y)
    lon, lat = np.array(xs), np.array(ys)
    pos = idx.assign(lon, lat)
    keep = pos >= 0
    lon, lat, pos = lon[keep], lat[keep], pos[keep]
    batch = idx.near_boundary(lon, lat, pos, 30.0)
    single = np.array([idx.near_boundary_one(float(x), float(y), int(p), 30.0)
                       for x, y, p in zip(lon, lat, pos, strict=True)])
    assert len(lon) > 500 and 0.2 < batch.mean() < 0.8  # both answers are well represented
    assert (single == batch).all(), np.flatnonzero(single != batch)[:10]
