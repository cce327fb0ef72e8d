"""diff_areas: what a planner sees before publishing a redrawn village.

The village near 103°E 35°N has three grids, 0.01° cells (about 913 m x 1,109 m):

    G1 | G2 | G3        103.00 .. 103.03 E, 35.00 .. 35.01 N
"""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
import shapely
from shapely import MultiPolygon, Polygon

from boundaries.diff import AreaDiff, diff_areas
from boundaries.errors import Invalid

D = 0.01
CELL_M2 = D * 91_288.0 * D * 110_941.0  # one cell at 35°N, about 1.0128 km²
G1, G2, G3, G4 = "623001001001001", "623001001001002", "623001001001003", "623001001001004"


def cell(col: float, width: float = 1.0) -> Polygon:
    x = 103.0 + col * D
    return shapely.box(x, 35.0, x + width * D, 35.0 + D)


def village(rows: dict[str, tuple[str, Polygon]], parent: str = "623001001001"):
    return gpd.GeoDataFrame(
        {"code": list(rows), "name": [n for n, _ in rows.values()], "parent_code": parent},
        geometry=[g for _, g in rows.values()], crs="EPSG:4326",
    )


OLD = {G1: ("第一网格", cell(0)), G2: ("第二网格", cell(1)), G3: ("第三网格", cell(2))}


def test_the_same_areas_are_unchanged():
    diff = diff_areas(village(OLD), village(OLD))
    assert diff == AreaDiff(unchanged=3)
    assert not diff.changed


def test_added_removed_renamed():
    new = dict(OLD)
    del new[G3]
    new[G4] = ("第四网格", cell(2))
    new[G1] = ("当周第一网格", cell(0))
    diff = diff_areas(village(OLD), village(new))
    assert [a["code"] for a in diff.added] == [G4]
    assert diff.added[0]["area_m2"] == pytest.approx(CELL_M2, rel=0.01)
    assert [r["code"] for r in diff.removed] == [G3]
    assert diff.renamed == [{"code": G1, "old_name": "第一网格", "new_name": "当周第一网格"}]
    assert diff.reshaped == [] and diff.unchanged == 1 and diff.changed


def test_reshaped_reports_area_change_and_symmetric_difference():
    new = dict(OLD)
    new[G1] = ("第一网格", cell(0, 0.9))  # G1 gives a tenth of its width back ...
    new[G2] = ("第二网格", cell(0.9, 1.1))  # ... and G2 takes it
    diff = diff_areas(village(OLD), village(new))
    by_code = {r["code"]: r for r in diff.reshaped}
    assert set(by_code) == {G1, G2} and diff.unchanged == 1
    assert by_code[G1]["area_change_m2"] == pytest.approx(-0.1 * CELL_M2, rel=0.01)
    assert by_code[G2]["area_change_m2"] == pytest.approx(0.1 * CELL_M2, rel=0.01)
    assert by_code[G2]["symmetric_difference_m2"] == pytest.approx(0.1 * CELL_M2, rel=0.01)
    assert by_code[G2]["new_area_m2"] == pytest.approx(1.1 * CELL_M2, rel=0.01)


def test_a_shift_keeps_the_area_but_not_the_shape():
    new = dict(OLD)
    new[G3] = ("第三网格", cell(2.05))  # moved ~46 m east
    (moved,) = diff_areas(village(OLD), village(new)).reshaped
    assert abs(moved["area_change_m2"]) < 1.0
    assert moved["symmetric_difference_m2"] == pytest.approx(0.1 * CELL_M2, rel=0.01)


SAME_SHAPE = [
    # the ring walked the other way round
    pytest.param(Polygon(list(cell(0).exterior.coords)[::-1]), id="reversed-ring"),
    # the ring starting at another corner
    pytest.param(Polygon(list(cell(0).exterior.coords)[2:-1] + list(cell(0).exterior.coords)[:3]),
                 id="rotated-start"),
    # a Polygon saved as a one-part MultiPolygon
    pytest.param(MultiPolygon([cell(0)]), id="multipolygon"),
    # extra vertices on straight edges (a GIS densified it on export)
    pytest.param(shapely.segmentize(cell(0), 0.0005), id="densified"),
    # float noise from a round trip through another format
    pytest.param(shapely.transform(cell(0), lambda c: c + 1e-12), id="float-noise"),
    # every vertex 4 mm off: rounded to 7 decimals by an exporting GIS
    pytest.param(shapely.transform(cell(0), lambda c: c + 4e-8), id="rounded-export"),
]


@pytest.mark.parametrize("geom", SAME_SHAPE)
def test_resaving_the_same_shape_is_not_a_reshape(geom):
    new = dict(OLD)
    new[G1] = ("第一网格", geom)
    diff = diff_areas(village(OLD), village(new))
    assert diff.reshaped == [] and diff.unchanged == 3


M = 1 / 91_288.0  # one metre east-west, in degrees of longitude at 35°N


@pytest.mark.parametrize(
    ("spike_m", "reshaped"),
    [
        (0.05, False),  # 5 cm: digitising noise, under the 0.1 m tolerance
        (2.0, True),  # 2 m: someone moved the boundary, though the area barely changed
    ],
)
def test_a_spike_without_area_still_counts_when_long_enough(spike_m, reshaped):
    x0, y0, x1, y1 = cell(0).bounds
    ym = (y0 + y1) / 2
    # a needle 1 mm wide sticking out of G1's east edge: its area is at most 0.002 m²
    spike = Polygon([(x0, y0), (x1, y0), (x1, ym - 1e-8), (x1 + spike_m * M, ym),
                     (x1, ym + 1e-8), (x1, y1), (x0, y1)])
    assert spike.is_valid
    new = dict(OLD)
    new[G1] = ("第一网格", spike)
    diff = diff_areas(village(OLD), village(new))
    assert [r["code"] for r in diff.reshaped] == ([G1] if reshaped else [])
    if reshaped:
        assert diff.reshaped[0]["symmetric_difference_m2"] < 1.0


def test_moving_a_grid_to_another_village_is_reparenting():
    new = village(OLD)
    new.loc[new["code"] == G3, "parent_code"] = "623001001002"
    diff = diff_areas(village(OLD), new)
    assert diff.reparented == [{"code": G3, "name": "第三网格",
                                "old_parent_code": "623001001001",
                                "new_parent_code": "623001001002"}]
    assert diff.unchanged == 2


def test_to_dict_is_plain_json():
    new = dict(OLD)
    new[G1] = ("第一网格", cell(0, 0.5))
    data = diff_areas(village(OLD), village(new)).to_dict()
    assert set(data) == {"added", "removed", "renamed", "reparented", "reshaped", "unchanged"}
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data


@pytest.mark.parametrize("bad", [
    {G1: ("第一网格", cell(0)), " " + G1 + " ": ("重复", cell(1))},  # the same code twice
    {"": ("无编码", cell(0))},  # no code at all
])
def test_codes_must_be_unique_and_present(bad):
    with pytest.raises(Invalid, match="new areas"):
        diff_areas(village(OLD), village(bad))
