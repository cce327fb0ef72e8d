"""validate_areas on a village cut into four grids by hand, near 103°E 35°N.

    35.02 +--------+--------+
          |   G3   |   G4   |      village 623001001001 = the 2 x 2 block,
    35.01 +--------+--------+      each grid one 0.01° cell: about 913 m east-west
          |   G1   |   G2   |      by 1,109 m north-south, 1.01 km²
    35.00 +--------+--------+
        103.00   103.01   103.02

Areas are checked against a flat-earth estimate at 35°N (metres per degree on WGS84),
good to well under 1 % over a few kilometres.
"""

from __future__ import annotations

import json
import math
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely import LineString, MultiPolygon, Point, Polygon

from boundaries.files import read_areas
from boundaries.validate import Problem, Report, validate_areas

D = 0.01  # one grid cell, in degrees
M_LON = 91_288.0  # metres per degree of longitude at 35°N
M_LAT = 110_941.0  # metres per degree of latitude at 35°N
CELL_M2 = D * M_LON * D * M_LAT  # about 1.0128 km²
VILLAGE = "623001001001"
G1, G2, G3, G4 = (VILLAGE + s for s in ("001", "002", "003", "004"))


def cell(col: float, row: float, width: float = 1.0, height: float = 1.0) -> Polygon:
    """A rectangle in grid-cell units from the village's south-west corner."""
    x, y = 103.0 + col * D, 35.0 + row * D
    return shapely.box(x, y, x + width * D, y + height * D)


def village() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": [VILLAGE], "name": ["当周村"], "parent_code": ["623001001"]},
        geometry=[cell(0, 0, 2, 2)], crs="EPSG:4326",
    )


def grids(**changes: dict) -> gpd.GeoDataFrame:
    """The four grids, with `changes` keyed by grid ("G1"...) applied to their fields."""
    rows = {
        "G1": {"code": G1, "name": "第一网格", "geometry": cell(0, 0)},
        "G2": {"code": G2, "name": "第二网格", "geometry": cell(1, 0)},
        "G3": {"code": G3, "name": "第三网格", "geometry": cell(0, 1)},
        "G4": {"code": G4, "name": "第四网格", "geometry": cell(1, 1)},
    }
    out = []
    for i, (key, row) in enumerate(rows.items()):
        row = {"parent_code": VILLAGE, "kind": "urban", "index": i, **row}
        out.append({**row, **changes.get(key, {})})
    return gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326")


def codes_at(report: Report, index: int) -> set[str]:
    return {p.code for p in report.problems if p.index == index}


def only(report: Report, code: str) -> Problem:
    found = [p for p in report.problems if p.code == code]
    assert len(found) == 1, report.summary()
    return found[0]


# --------------------------------------------------------------------------- clean data


def test_a_clean_village_has_no_problems_and_multipolygons():
    cleaned, report = validate_areas(grids(), level="grid", parents=village())
    assert report.ok and report.problems == [], report.summary()
    assert report.summary() == "no problems"
    assert set(cleaned.geometry.geom_type) == {"MultiPolygon"}
    assert cleaned.crs == "EPSG:4326"
    assert cleaned["code"].tolist() == [G1, G2, G3, G4]


def test_prefecture_needs_no_parent():
    gdf = gpd.GeoDataFrame({"code": ["623000"], "name": ["甘南州"], "parent_code": [None]},
                           geometry=[cell(0, 0, 2, 2)], crs="EPSG:4326")
    _, report = validate_areas(gdf, level="prefecture", parents=None)
    assert report.ok and report.problems == []


def test_unknown_level_is_refused_naming_the_field():
    from boundaries.errors import Invalid

    with pytest.raises(Invalid, match="unknown level") as err:
        validate_areas(grids(), level="street", parents=village())
    assert (err.value.code, err.value.field, err.value.status) == ("invalid_level", "level", 400)


# --------------------------------------------------------------------------- edge cases

BOWTIE = Polygon([(103.0, 35.0), (103.01, 35.01), (103.01, 35.0), (103.0, 35.01)])
SWAPPED = Polygon([(y, x) for x, y in cell(1, 1).exterior.coords])

EDGE_CASES = [
    # The ring of G1 crosses itself at the cell's centre (two triangles tip to tip).
    pytest.param("G1", {"geometry": BOWTIE}, "invalid_geometry", 0, id="bow-tie"),
    # A liaison head's position uploaded in place of the grid outline.
    pytest.param("G2", {"geometry": Point(103.015, 35.005)}, "not_polygon", 1, id="point"),
    # A road centre line uploaded as a grid.
    pytest.param("G2", {"geometry": LineString([(103.01, 35.0), (103.02, 35.01)])},
                 "not_polygon", 1, id="line"),
    # A point hidden in a collection next to a real polygon is still not an area.
    pytest.param("G2", {"geometry": shapely.GeometryCollection([cell(1, 0), Point(103, 35)])},
                 "not_polygon", 1, id="collection-with-point"),
    # An outline with no coordinates at all.
    pytest.param("G3", {"geometry": Polygon()}, "empty_geometry", 2, id="empty-polygon"),
    # A feature whose geometry is null in the file.
    pytest.param("G3", {"geometry": None}, "empty_geometry", 2, id="null-geometry"),
    # A grid nobody gave a code.
    pytest.param("G3", {"code": None}, "missing_code", 2, id="no-code"),
    # A code of blanks is no code either.
    pytest.param("G3", {"code": "   "}, "missing_code", 2, id="blank-code"),
    # The village column left empty.
    pytest.param("G4", {"parent_code": None}, "missing_parent", 3, id="no-parent-code"),
    # A village code that does not exist (a typo: 099 for 001).
    pytest.param("G4", {"parent_code": "623001001099"}, "missing_parent", 3,
                 id="unknown-parent"),
    # lat/lon written in the wrong order: (35.01, 103.01) instead of (103.01, 35.01).
    pytest.param("G4", {"geometry": SWAPPED}, "swapped_axes", 3, id="swapped-axes"),
    # Projected metres read as degrees.
    pytest.param("G4", {"geometry": shapely.box(512_000, 3_874_000, 513_000, 3_875_000)},
                 "coordinates_out_of_range", 3, id="metres-as-degrees"),
    # G4 pushed a tenth of a cell (about 91 m) east, out of its village.
    pytest.param("G4", {"geometry": cell(1.1, 1)}, "outside_parent", 3, id="outside-parent"),
    # G2 widened a fifth of a cell west, over G1.
    pytest.param("G2", {"geometry": cell(0.8, 0, 1.2)}, "overlap", 0, id="overlap"),
]


@pytest.mark.parametrize(("grid", "change", "expected", "index"), EDGE_CASES)
def test_edge_case_is_reported_with_index_and_code(grid, change, expected, index):
    gdf = grids(**{grid: change})
    cleaned, report = validate_areas(gdf, level="grid", parents=village())
    assert not report.ok
    assert expected in codes_at(report, index), report.summary()
    problem = next(p for p in report.problems if p.code == expected)
    assert problem.fatal
    code = None if expected == "missing_code" else gdf["code"].iloc[index]
    assert problem.feature_code == code
    feature = f"#{index}" if code is None else f"#{index} ({code})"
    assert f"{feature} {expected}: " in report.summary()
    assert len(cleaned) == len(gdf)


def test_bowtie_reason_names_the_crossing():
    _, report = validate_areas(grids(G1={"geometry": BOWTIE}), level="grid", parents=village())
    problem = only(report, "invalid_geometry")
    assert problem.message.startswith("Self-intersection[103.005 35.005]")


def test_repair_makes_a_bowtie_two_triangles_and_only_warns():
    cleaned, report = validate_areas(
        grids(G1={"geometry": BOWTIE}), level="grid", parents=village(), repair=True
    )
    assert report.ok, report.summary()
    assert only(report, "repaired").index == 0
    fixed = cleaned.geometry.iloc[0]
    assert fixed.geom_type == "MultiPolygon" and fixed.is_valid and len(fixed.geoms) == 2
    assert fixed.area == pytest.approx(D * D / 2)  # two triangles of a quarter cell each
    # half of G1's cell is now uncovered: a gap, a warning only
    assert only(report, "gap").detail["area_m2"] == pytest.approx(CELL_M2 / 2, rel=0.01)


def test_repair_drops_a_stray_point_from_a_collection():
    stray = shapely.GeometryCollection([cell(0, 0), Point(103.005, 35.005)])
    cleaned, report = validate_areas(grids(G1={"geometry": stray}), level="grid",
                                     parents=village(), repair=True)
    assert report.ok and [p.code for p in report.problems] == ["repaired"]
    assert cleaned.geometry.iloc[0].equals(MultiPolygon([cell(0, 0)]))


def test_swapped_axes_says_so_and_is_not_also_out_of_range():
    _, report = validate_areas(grids(G4={"geometry": SWAPPED}), level="grid", parents=village())
    problem = only(report, "swapped_axes")
    assert "latitude and longitude look swapped" in problem.message
    assert "coordinates_out_of_range" not in codes_at(report, 3)


def test_overlap_area_matches_the_strip_width():
    _, report = validate_areas(grids(G2={"geometry": cell(0.8, 0, 1.2)}), level="grid",
                               parents=village())
    problem = only(report, "overlap")  # once per pair, not once per side
    assert problem.detail["other_index"] == 1 and problem.detail["other_code"] == G2
    assert problem.detail["area_m2"] == pytest.approx(0.2 * CELL_M2, rel=0.01)
    assert "m²" in problem.message


# A problem about a feature names that feature by its own index and code, in the report's
# dict (the API, the editor) and in its summary (the CLI, the refused import's message).
OWN_FEATURE = [
    # G2 widened over G1: reported once, on G1, naming G2 as the other party.
    pytest.param({"G2": {"geometry": cell(0.8, 0, 1.2)}}, "overlap", 0, G1, id="overlap"),
    # G1's ring crosses itself.
    pytest.param({"G1": {"geometry": BOWTIE}}, "invalid_geometry", 0, G1, id="invalid"),
    # G4 written lat/lon.
    pytest.param({"G4": {"geometry": SWAPPED}}, "swapped_axes", 3, G4, id="swapped-axes"),
    # G4 written lat/lon and without a code: its index alone is all there is.
    pytest.param({"G4": {"geometry": SWAPPED, "code": None}}, "swapped_axes", 3, None,
                 id="swapped-axes-no-code"),
]


@pytest.mark.parametrize(("changes", "expected", "index", "code"), OWN_FEATURE)
def test_a_feature_problem_names_the_feature_itself(changes, expected, index, code):
    _, report = validate_areas(grids(**changes), level="grid", parents=village())
    problem = only(report, expected)
    assert (problem.index, problem.feature_code) == (index, code)
    as_dict = next(p for p in report.to_dict()["problems"] if p["code"] == expected)
    assert (as_dict["index"], as_dict["feature_code"]) == (index, code)
    line = next(x for x in report.summary().splitlines() if f" {expected}: " in x)
    feature = f"#{index}" if code is None else f"#{index} ({code})"
    assert line.startswith(f"{feature} {expected}: "), line


def test_overlap_names_both_features():
    _, report = validate_areas(grids(G2={"geometry": cell(0.8, 0, 1.2)}), level="grid",
                               parents=village())
    problem = only(report, "overlap")
    assert (problem.index, problem.feature_code) == (0, G1)
    assert (problem.detail["other_index"], problem.detail["other_code"]) == (1, G2)
    line = next(x for x in report.summary().splitlines() if " overlap: " in x)
    assert line.startswith(f"#0 ({G1}) overlap: overlaps #1 ({G2}) by "), line


def test_problems_not_about_one_feature_are_marked_so():
    _, report = validate_areas(grids(G3={"geometry": None}, G4={"geometry": None}),
                               level="grid", parents=village())
    assert only(report, "gap").feature is None
    assert report.summary().splitlines()[-1].startswith("#- gap: ")


def test_cousins_may_overlap_only_siblings_may_not():
    # G2 belongs to another village here; their overlap is G2's outside_parent problem
    other = village().assign(code="623001001002")
    parents = gpd.GeoDataFrame(
        pd.concat([village(), other.set_geometry([cell(0.8, 0, 1.2)])]), crs="EPSG:4326"
    )
    gdf = grids(G2={"geometry": cell(0.8, 0, 1.2), "parent_code": "623001001002"})
    _, report = validate_areas(gdf, level="grid", parents=parents)
    assert "overlap" not in {p.code for p in report.problems}, report.summary()


def test_outside_parent_measures_the_area_outside():
    _, report = validate_areas(grids(G4={"geometry": cell(1.1, 1)}), level="grid",
                               parents=village())
    problem = only(report, "outside_parent")
    assert problem.detail["area_m2"] == pytest.approx(0.1 * CELL_M2, rel=0.01)
    assert problem.detail["parent_code"] == VILLAGE


@pytest.mark.parametrize(
    ("shift_m", "reported"),
    [
        (3.0, False),  # inside the 5 m band: a digitising wobble
        (10.0, True),  # beyond it: the grid really leaves its village
    ],
)
def test_outside_parent_tolerance_band(shift_m, reported):
    shifted = cell(1 + shift_m / M_LON / D, 1)
    _, report = validate_areas(grids(G4={"geometry": shifted}), level="grid",
                               parents=village(), tolerance_m=5.0)
    assert ("outside_parent" in codes_at(report, 3)) is reported
    # the strip it left behind is a gap either way, about shift x 1,109 m
    gap = only(report, "gap")
    assert not gap.fatal and gap.index is None and gap.feature_code == VILLAGE
    assert gap.detail["area_m2"] == pytest.approx(shift_m * D * M_LAT, rel=0.02)


def test_a_missing_grid_is_a_gap_warning_for_its_village():
    gdf = grids().iloc[:3]
    _, report = validate_areas(gdf, level="grid", parents=village())
    assert report.ok
    gap = only(report, "gap")
    assert gap.detail["area_m2"] == pytest.approx(CELL_M2, rel=0.01)
    assert report.warnings == [gap] and report.errors == []
    assert re.fullmatch(rf"#- gap: 1,01\d,\d{{3}} m² of village {VILLAGE} is not covered by "
                        "its grid areas", report.summary())


def test_every_duplicate_is_listed():
    _, report = validate_areas(grids(G3={"code": G1}), level="grid", parents=village())
    dups = [p for p in report.problems if p.code == "duplicate_code"]
    assert [p.index for p in dups] == [0, 2]
    assert all(p.detail["indexes"] == [0, 2] for p in dups)


def test_without_parents_only_presence_of_a_parent_code_is_checked():
    gdf = grids(G4={"geometry": cell(1.1, 1), "parent_code": None})
    _, report = validate_areas(gdf, level="grid", parents=None)
    assert {p.code for p in report.problems} == {"missing_parent"}


def test_an_empty_file_is_not_an_import():
    _, report = validate_areas(grids().iloc[:0], level="grid", parents=village())
    assert [p.code for p in report.errors] == ["no_areas"]


# --------------------------------------------------------------------------- one pass


def _feature(props: dict, geom) -> dict:
    return {"type": "Feature", "properties": props,
            "geometry": None if geom is None else shapely.geometry.mapping(geom)}


def test_a_file_with_many_problems_reports_all_of_them_at_once(tmp_path):
    features = [
        _feature({"code": G1, "parent_code": VILLAGE}, BOWTIE),  # 0 invalid
        _feature({"code": G2, "parent_code": VILLAGE}, cell(0.8, 0, 1.2)),  # 1 overlaps G1
        _feature({"code": G1, "parent_code": VILLAGE}, Point(103.005, 35.015)),  # 2 dup, point
        _feature({"code": G4, "parent_code": "623001001099"}, cell(1, 1)),  # 3 no such village
        _feature({"code": None, "parent_code": VILLAGE}, SWAPPED),  # 4 no code, swapped
    ]
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    gdf, read_problems = read_areas(path)
    assert read_problems == []
    _, report = validate_areas(gdf, level="grid", parents=village())
    assert codes_at(report, 0) == {"invalid_geometry", "duplicate_code", "overlap"}
    assert codes_at(report, 1) == set()  # the overlap is reported once, on #0
    assert codes_at(report, 2) == {"not_polygon", "duplicate_code"}
    assert codes_at(report, 3) == {"missing_parent"}
    assert codes_at(report, 4) == {"missing_code", "swapped_axes"}
    # the village's upper half has no usable grid: G3 is missing, G4 sits elsewhere
    assert codes_at(report, None) == {"gap"}
    indexes = [p.index for p in report.problems]
    assert indexes == sorted(indexes[:-1]) + [None], "file order, then the village's gap"
    assert len(report.summary().splitlines()) == len(report.problems)
    as_dict = report.to_dict()
    assert as_dict["ok"] is False and as_dict["errors"] == len(report.errors)
    json.dumps(as_dict)  # the API sends it as is


def test_problem_to_dict():
    p = Problem("gap", "1 m² uncovered", fatal=False, detail={"area_m2": 1.0})
    assert p.to_dict() == {"code": "gap", "message": "1 m² uncovered", "index": None,
                           "feature_code": None, "fatal": False, "detail": {"area_m2": 1.0}}


# --------------------------------------------------------------------------- scale


def tiling(n: int, cell_deg: float = 0.002) -> gpd.GeoDataFrame:
    """n x n square groups under one grid, starting at 103°E 35°N."""
    xs, ys = np.meshgrid(np.arange(n), np.arange(n))
    x0 = 103.0 + xs.ravel() * cell_deg
    y0 = 35.0 + ys.ravel() * cell_deg
    boxes = shapely.box(x0, y0, x0 + cell_deg, y0 + cell_deg)
    codes = [f"G{k:05d}" for k in range(n * n)]
    return gpd.GeoDataFrame({"code": codes, "name": codes, "parent_code": "P", "kind": None,
                             "index": range(n * n)}, geometry=boxes, crs="EPSG:4326")


def test_one_overlap_among_two_thousand_neighbours_is_found_once():
    gdf = tiling(45)  # 2,025 groups sharing edges with up to 8 neighbours each
    parent = gpd.GeoDataFrame({"code": ["P"]}, geometry=[shapely.box(103, 35, 103.09, 35.09)],
                              crs="EPSG:4326")
    geoms = gdf.geometry.to_numpy().copy()
    geoms[100] = shapely.buffer(geoms[100], 0.0001, join_style="mitre")  # ~9-11 m all round
    gdf = gdf.set_geometry(list(geoms), crs="EPSG:4326")
    _, report = validate_areas(gdf, level="group", parents=parent)
    overlaps = [p for p in report.problems if p.code == "overlap"]
    # the grown cell overlaps its 4 edge and 4 corner neighbours, each pair once
    assert len(overlaps) == 8
    assert {p.index for p in overlaps} | {p.detail["other_index"] for p in overlaps} == {
        54, 55, 56, 99, 100, 101, 144, 145, 146}
    assert {p.code for p in report.problems} == {"overlap"}


@pytest.mark.parametrize("geom", [
    MultiPolygon([cell(0, 0)]),  # already a MultiPolygon
    cell(0, 0),  # a Polygon is wrapped
    shapely.GeometryCollection([cell(0, 0)]),  # a collection of polygons only
])
def test_polygonal_shapes_come_back_as_multipolygons(geom):
    cleaned, report = validate_areas(grids(G1={"geometry": geom}), level="grid",
                                     parents=village())
    assert report.ok, report.summary()
    out = cleaned.geometry.iloc[0]
    assert out.geom_type == "MultiPolygon" and out.equals(cell(0, 0))
    assert math.isclose(out.area, D * D)
