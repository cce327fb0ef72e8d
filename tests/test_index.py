"""GridIndex: the boundary rule, batch = single, agreement with geopandas, distances."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo_service.index import GridIndex

from .tiny import G1, G2, G3, G4, GRIDS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", params=[True, False], ids=["raster", "plain"])
def index(request: pytest.FixtureRequest) -> GridIndex:
    # Deliberately out of code order: the index must sort by code itself. The plain
    # index (earlier versions) gives the same answers as the raster one.
    codes = [G3, G1, G4, G2]
    return GridIndex(codes, [GRIDS[c][2] for c in codes], version=1, raster=request.param)


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
    (1e308, -1e308, None, "huge but finite: off the raster, no overflow"),
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


def test_tiers_name_how_each_point_is_answered(index: GridIndex) -> None:
    """A point on a boundary is left to shapely; the middle of a grid is its cell's; a
    point with no finite coordinate needs no geometry. A plain index uses shapely only."""
    lon = np.array([103.005, 103.01, 103.02, 103.025, 103.03, float("nan")])
    lat = np.array([35.01, 35.01, 35.00, 35.01, 35.01, 35.01])
    want = (["cell", "exact", "exact", "exact", "cell", "cell"] if index._cells is not None
            else ["exact"] * 5 + ["cell"])
    assert index.tiers(lon, lat).tolist() == want


@pytest.mark.parametrize("max_cells", [1, 16, 400])
def test_a_smaller_raster_gives_the_same_answers(max_cells: int) -> None:
    """max_cells only trades memory for work per point: cells get larger, more points go
    to fine cells and shapely, and every answer stays the same."""
    codes = [G3, G1, G4, G2]
    small = GridIndex(codes, [GRIDS[c][2] for c in codes], max_cells=max_cells)
    default = GridIndex(codes, [GRIDS[c][2] for c in codes])
    assert small._cells.nx * small._cells.ny < default._cells.nx * default._cells.ny
    rng = np.random.default_rng(3)
    lon = np.concatenate([[c[0] for c in CASES], rng.uniform(102.99, 103.05, 5000)])
    lat = np.concatenate([[c[1] for c in CASES], rng.uniform(34.99, 35.03, 5000)])
    assert (small.assign(lon, lat) == default.assign(lon, lat)).all()
    assert (small.tiers(lon, lat) == "cell").sum() < (default.tiers(lon, lat) == "cell").sum()
    ok = np.isfinite(lon) & np.isfinite(lat)
    singles = [small.assign_one(a, b) for a, b in zip(lon[ok].tolist(), lat[ok].tolist(),
                                                     strict=True)]
    assert singles == default.assign(lon[ok], lat[ok]).tolist()


def test_max_cells_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_cells"):
        GridIndex([G1], [GRIDS[G1][2]], max_cells=0)


def _voronoi_coverage(n: int, seed: int) -> tuple[list[str], list[shapely.Geometry]]:
    """A valid coverage of irregular cells (some with holes filled by other cells)."""
    rng = np.random.default_rng(seed)
    frame = shapely.box(102.0, 34.0, 102.5, 34.3)
    cells = shapely.voronoi_polygons(shapely.multipoints(
        np.column_stack([rng.uniform(102.0, 102.5, n), rng.uniform(34.0, 34.3, n)])),
        extend_to=frame)
    geoms = list(shapely.intersection(shapely.get_parts(cells), frame))
    # Punch an enclave into the first cell, filled by a cell of its own.
    hole = shapely.buffer(shapely.point_on_surface(geoms[0]), 0.002, quad_segs=3)
    hole = hole.intersection(geoms[0])
    geoms[0] = geoms[0].difference(hole)
    geoms.append(hole)
    codes = [f"G{i:05d}" for i in rng.permutation(len(geoms))]
    return codes, geoms


@pytest.mark.parametrize("n", [50, 800])
def test_two_tier_index_equals_sjoin_on_edges_vertices_and_random_points(n: int) -> None:
    codes, geoms = _voronoi_coverage(n, seed=n)
    index = GridIndex(codes, geoms)
    rng = np.random.default_rng(3)
    verts = shapely.get_coordinates(np.asarray(geoms))  # every vertex: shared by 2–3 cells
    edges = shapely.get_coordinates(shapely.line_interpolate_point(
        shapely.boundary(np.asarray(geoms)), 0.37, normalized=True))
    xy = np.vstack([verts, edges, np.column_stack([rng.uniform(101.99, 102.51, 50_000),
                                                   rng.uniform(33.99, 34.31, 50_000)])])
    ours = index.codes_of(index.assign(xy[:, 0], xy[:, 1]))
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]))
    polys = gpd.GeoDataFrame({"code": codes}, geometry=geoms)
    joined = gpd.sjoin(pts, polys, predicate="covered_by", how="inner")
    lowest = joined.sort_values("code").groupby(level=0)["code"].first()
    theirs = lowest.reindex(range(len(xy))).to_numpy(dtype=object)
    theirs[pd.isna(theirs)] = None
    assert (ours == theirs).all()
    singles = [index.assign_one(x, y) for x, y in xy[:3000]]
    assert index.codes_of(np.array(singles)).tolist() == ours[:3000].tolist()


def test_near_boundary_equals_brute_force_distances() -> None:
    from boundaries.crs import to_metres

    codes, geoms = _voronoi_coverage(300, seed=11)
    index = GridIndex(codes, geoms)
    rng = np.random.default_rng(5)
    x, y = rng.uniform(102.0, 102.5, 3000), rng.uniform(34.0, 34.3, 3000)
    pos = index.assign(x, y)
    metres = 2.5 * index._cell_m  # large enough that the cell shortcut is taken
    got = index.near_boundary(x, y, pos, metres)
    origin = (102.25, 34.15)
    polys_m = to_metres(index.geoms, *origin)
    pts_m = to_metres(shapely.points(x, y), *origin)
    dist = shapely.distance(polys_m[None, :], pts_m[:, None])  # (points, polygons)
    dist[np.arange(len(x)), pos] = np.inf  # distance to grids other than the own one
    expected = dist.min(axis=1) <= metres
    assert 0 < expected.sum() < len(x)
    assert (got == expected).all()
    singles = [index.near_boundary_one(a, b, int(p), metres)
               for a, b, p in zip(x[:600], y[:600], pos[:600], strict=True)]
    assert singles == expected[:600].tolist()


def test_near_boundary_one_on_the_raster_equals_brute_force_distances() -> None:
    """The single path proper: a distance under half a cell, so the cells around the
    point, the polygon cores and only then a measurement decide."""
    from boundaries.crs import to_metres

    codes, geoms = _voronoi_coverage(300, seed=11)
    index = GridIndex(codes, geoms)
    metres = 0.4 * index._cell_m
    assert 2 * index._deg(metres) < index._cells.size  # the raster path, not the fallback
    rng = np.random.default_rng(6)
    # Random points, and points on boundaries pushed inwards by about `metres` (±3 %),
    # where the core's margin and the exact measurement meet.
    edge = shapely.get_coordinates(shapely.segmentize(shapely.boundary(index.geoms), 1e-3))
    edge = edge[rng.choice(len(edge), 4000)]
    step = rng.normal(size=(4000, 2))
    step *= (index._deg(metres) * rng.uniform(0.5, 1.5, 4000) / np.hypot(*step.T))[:, None]
    xy = np.concatenate([np.column_stack([rng.uniform(102.0, 102.5, 4000),
                                          rng.uniform(34.0, 34.3, 4000)]), edge + step])
    x, y = xy[:, 0], xy[:, 1]
    pos = index.assign(x, y)
    x, y, pos = x[pos >= 0], y[pos >= 0], pos[pos >= 0]
    origin = (102.25, 34.15)
    polys_m = to_metres(index.geoms, *origin)
    pts_m = to_metres(shapely.points(x, y), *origin)
    dist = shapely.distance(polys_m[None, :], pts_m[:, None])
    dist[np.arange(len(x)), pos] = np.inf
    expected = dist.min(axis=1) <= metres
    def singles() -> list[bool]:
        return [index.near_boundary_one(a, b, int(p), metres)
                for a, b, p in zip(x, y, pos, strict=True)]

    # Before the cores exist (a new live version, see IndexCache.finish) the single path
    # measures exactly and never builds them on the caller's request; then with them.
    assert singles() == expected.tolist()
    assert metres not in index._near._core_cache
    index.prepare_near(metres)
    assert singles() == expected.tolist()
    assert (index.near_boundary(x, y, pos, metres) == expected).all()
    cores = [index.in_core(a, b, int(p), metres) for a, b, p in zip(x, y, pos, strict=True)]
    assert not (np.array(cores) & expected).any()  # a point in its core is never near
    band = (dist.min(axis=1) > metres) & (dist.min(axis=1) < 1.5 * metres)
    assert band.sum() > 100 and expected.sum() > 100  # both sides of the line were probed
