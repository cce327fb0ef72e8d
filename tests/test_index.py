"""GridIndex: the boundary rule, batch = single, agreement with geopandas, distances."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo_service.index import GridIndex

from .tiny import G1, G2, G3, G4, GRIDS


@pytest.fixture(scope="module")
def index() -> GridIndex:
    # Deliberately out of code order: the index must sort by code itself.
    codes = [G3, G1, G4, G2]
    return GridIndex(codes, [GRIDS[c][2] for c in codes], version=1)


CASES = [
    # (lon, lat, expected grid, why)
    (103.005, 35.01, G1, "middle of G1"),
    (103.015, 35.01, G2, "middle of G2"),
    (103.01, 35.01, G1, "on the G1/G2 shared edge: lowest code wins"),
    (103.01, 35.02, G1, "on the shared vertex at the top of G1/G2"),
    (103.02, 35.00, G2, "on the vertex shared by G2 and G3"),
    (103.02, 35.01, G2, "on the county border G2/G3: lowest code"),
    (103.03, 35.01, G4, "inside the hole of G3, which is the enclave G4"),
    (103.025, 35.01, G3, "on the hole's edge, shared by G3 and G4: G3 is lower"),
    (103.00, 35.01, G1, "on the outer edge of the prefecture: covered, so G1"),
    (102.9999, 35.01, None, "just outside the prefecture"),
    (103.05, 35.03, None, "outside the bounding box"),
    (float("nan"), 35.01, None, "NaN is never assigned"),
    (float("inf"), 35.01, None, "infinity is never assigned"),
]


@pytest.mark.parametrize(("lon", "lat", "expected", "why"), CASES)
def test_rule_single(index: GridIndex, lon: float, lat: float, expected: str | None,
                     why: str) -> None:
    pos = index.assign_one(lon, lat) if math.isfinite(lon) else -1
    assert (index.codes[pos] if pos >= 0 else None) == expected, why


def test_rule_batch_matches_single(index: GridIndex) -> None:
    lon = np.array([c[0] for c in CASES])
    lat = np.array([c[1] for c in CASES])
    got = index.codes_of(index.assign(lon, lat)).tolist()
    assert got == [c[2] for c in CASES]


def test_agrees_with_geopandas_sjoin_on_random_points(index: GridIndex) -> None:
    rng = np.random.default_rng(7)
    lon = rng.uniform(102.995, 103.045, 20_000)
    lat = rng.uniform(34.995, 35.025, 20_000)
    ours = index.codes_of(index.assign(lon, lat))
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    polys = gpd.GeoDataFrame({"code": index.codes}, geometry=list(index.geoms),
                             crs="EPSG:4326")
    joined = gpd.sjoin(pts, polys, predicate="covered_by", how="left")
    joined = joined.sort_values("code").groupby(level=0)["code"].first()
    theirs = joined.reindex(range(len(lon))).to_numpy(dtype=object)
    theirs = np.where(joined.reindex(range(len(lon))).isna(), None, theirs)
    assert (ours == theirs).all()
    assert (ours == None).sum() > 100  # noqa: E711 - some points fall outside


def test_every_point_inside_the_union_gets_exactly_one_grid(index: GridIndex) -> None:
    # Points on a fine lattice that includes every edge and vertex of the tiny prefecture.
    xs, ys = np.meshgrid(np.linspace(103.0, 103.04, 81), np.linspace(35.0, 35.02, 41))
    got = index.assign(xs.ravel(), ys.ravel())
    assert (got >= 0).all()
    union = shapely.union_all(index.geoms)
    assert shapely.covers(union, shapely.points(xs.ravel(), ys.ravel())).all()


@pytest.mark.parametrize(("lon", "metres", "near", "why"), [
    (103.01 - 10 / 91_300, 30, True, "10 m west of the G1/G2 edge"),
    (103.01 - 100 / 91_300, 30, False, "100 m west of it"),
    (103.0 + 10 / 91_300, 30, False, "10 m inside the prefecture's outer edge: no neighbour"),
    (103.01 - 100 / 91_300, 150, True, "100 m away with a 150 m threshold"),
])
def test_near_boundary(index: GridIndex, lon: float, metres: float, near: bool,
                       why: str) -> None:
    lat = np.array([35.01])
    pos = index.assign(np.array([lon]), lat)
    assert index.near_boundary(np.array([lon]), lat, pos, metres)[0] == near, why


def test_nearest_grid_for_a_point_outside(index: GridIndex) -> None:
    pos, dist = index.nearest(102.999, 35.01)
    assert index.codes[pos] == G1
    # 0.001° of longitude at 35°N is about 91.3 m.
    assert dist == pytest.approx(91.3, abs=0.5)


def test_empty_index_assigns_nothing() -> None:
    empty = GridIndex([], [])
    assert empty.assign([103.0], [35.0]).tolist() == [-1]
    assert empty.nearest(103.0, 35.0) == (-1, float("inf"))
