"""read_areas / write_areas: every format a planner uploads, and every way a file goes wrong.

Fixtures are written to tmp_path by the tests themselves: two grid cells of 0.01° near
103°E 35°N (about 913 m x 1,109 m each) with Chinese names.
"""

from __future__ import annotations

import json
import zipfile

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from boundaries.crs import distance_m, geometry_from_wgs84
from boundaries.errors import Invalid
from boundaries.files import AREA_COLUMNS, read_areas, write_areas

G1, G2 = "623001001001001", "623001001001002"
VILLAGE = "623001001001"
CELL1 = shapely.box(103.00, 35.00, 103.01, 35.01)
CELL2 = shapely.box(103.01, 35.00, 103.02, 35.01)


def two_grids(**extra: list) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": [G1, G2], "name": ["当周街道第一网格", "伊合昂第二网格"],
         "parent_code": [VILLAGE, VILLAGE], "kind": ["urban", "pastoral"], **extra},
        geometry=[CELL1, CELL2], crs="EPSG:4326",
    )


def write_geojson(path, features: list[dict], **top) -> None:
    path.write_text(json.dumps({"type": "FeatureCollection", **top, "features": features},
                               ensure_ascii=False), encoding="utf-8")


def feature(props: dict, geom=CELL1) -> dict:
    return {"type": "Feature", "properties": props,
            "geometry": shapely.geometry.mapping(geom) if geom is not None else None}


def problem_codes(problems) -> list[str]:
    return [p.code for p in problems]


# --------------------------------------------------------------------------- reading


def test_reads_the_area_columns_in_wgs84(tmp_path):
    path = write_areas(two_grids(), tmp_path / "grids.geojson")
    gdf, problems = read_areas(path)
    assert problems == []
    assert tuple(gdf.columns) == AREA_COLUMNS
    assert gdf["code"].tolist() == [G1, G2]
    assert gdf["index"].tolist() == [0, 1]
    assert gdf["name"].tolist() == ["当周街道第一网格", "伊合昂第二网格"]
    assert gdf.crs == "EPSG:4326"
    assert gdf.geometry.iloc[1].equals(CELL2)


def test_integer_codes_read_as_strings(tmp_path):
    # a spreadsheet export: codes stored as JSON numbers, one missing (pandas makes it float)
    path = tmp_path / "counties.geojson"
    write_geojson(path, [feature({"code": 623001, "parent_code": 623000, "name": "合作市"}),
                         feature({"code": 623021, "parent_code": None, "name": "临潭县"}),
                         feature({"code": None, "parent_code": 623000, "name": None})])
    gdf, problems = read_areas(path)
    assert problems == []
    assert gdf["code"].tolist() == ["623001", "623021", None]
    assert gdf["parent_code"].tolist() == ["623000", None, "623000"]
    assert gdf["name"].tolist() == ["合作市", "临潭县", None]


def test_integer_codes_from_a_geopackage_read_as_strings(tmp_path):
    frame = two_grids().assign(code=[623001001001001, 623001001001002])
    assert frame["code"].dtype == np.int64
    gdf, problems = read_areas(write_areas(frame, tmp_path / "ints.gpkg"))
    assert problems == [] and gdf["code"].tolist() == [G1, G2]


def test_fields_by_other_names(tmp_path):
    path = tmp_path / "counties.geojson"
    write_geojson(path, [feature({"ADCODE": "623001", "NAME_ZH": "合作市", "up": "623000"})])
    gdf, problems = read_areas(path, code_field="adcode", name_field="NAME_ZH",
                               parent_field="up")
    assert problems == []
    assert gdf.loc[0, ["code", "name", "parent_code", "kind"]].tolist() == [
        "623001", "合作市", "623000", None]


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ({}, "code"),  # the default code field is not there: nothing to import by
        ({"code_field": "adcode"}, "adcode"),  # a code field the caller named
        ({"code_field": "gid", "name_field": "mingcheng"}, "mingcheng"),  # a named name field
    ],
)
def test_missing_fields_are_problems(tmp_path, fields, missing):
    path = tmp_path / "grids.geojson"
    write_geojson(path, [feature({"gid": "1", "名称": "一网格"})])
    gdf, problems = read_areas(path, **fields)
    assert missing in [p.detail["field"] for p in problems if p.code == "missing_field"]
    assert all(p.fatal for p in problems)
    assert "gid" in problems[0].message  # says which fields there are
    assert len(gdf) == 1  # the rest is still read, for the other checks


def test_default_optional_fields_may_be_absent(tmp_path):
    path = tmp_path / "grids.geojson"
    write_geojson(path, [feature({"code": G1})])
    gdf, problems = read_areas(path)
    assert problems == []
    assert gdf.loc[0, ["name", "parent_code", "kind"]].tolist() == [None, None, None]


UNREADABLE = [
    # a GeoJSON upload cut off mid-way
    pytest.param("cut.geojson", '{"type": "FeatureCollection", "features": [{"type": "Fea',
                 id="truncated-geojson"),
    # a spreadsheet renamed to .geojson
    pytest.param("table.geojson", "code,name\n623001,合作市\n", id="csv-as-geojson"),
    # not a geo file at all
    pytest.param("notes.txt", "grid boundaries to follow\n", id="text-file"),
    # nothing there
    pytest.param("absent.gpkg", None, id="missing-file"),
]


@pytest.mark.parametrize(("name", "content"), UNREADABLE)
def test_unreadable_files_give_one_problem_and_an_empty_frame(tmp_path, name, content):
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    gdf, problems = read_areas(path)
    assert problem_codes(problems) == ["unreadable_file"]
    assert problems[0].fatal and problems[0].detail["reason"]
    assert problems[0].detail["reason"] in problems[0].message
    assert len(gdf) == 0 and tuple(gdf.columns) == AREA_COLUMNS


def test_unknown_crs_is_a_problem_and_not_an_exception(tmp_path):
    path = write_areas(two_grids(), tmp_path / "grids.geojson")
    gdf, problems = read_areas(path, crs="EPSG:999999")
    assert problem_codes(problems) == ["unknown_crs"]
    assert "EPSG:999999" in problems[0].message
    assert gdf.crs is None and len(gdf) == 2  # geometries left as they were


def test_a_shapefile_without_prj_has_no_crs(tmp_path):
    path = write_areas(two_grids(), tmp_path / "grids.shp")
    (tmp_path / "grids.prj").unlink()
    gdf, problems = read_areas(path)
    assert problem_codes(problems) == ["missing_crs"]
    fixed, problems = read_areas(path, crs="EPSG:4490")  # saying which CRS fixes it
    assert problems == [] and fixed.crs == "EPSG:4326"


@pytest.mark.parametrize("suffix", [".gpkg", ".shp", ".geojson"])
def test_round_trip_keeps_chinese_names_and_codes(tmp_path, suffix):
    path = write_areas(two_grids(), tmp_path / f"网格{suffix}")
    gdf, problems = read_areas(path)
    assert problems == []
    assert gdf["name"].tolist() == ["当周街道第一网格", "伊合昂第二网格"]
    assert gdf["code"].tolist() == [G1, G2]
    assert gdf["parent_code"].tolist() == [VILLAGE, VILLAGE]  # "parent_cod" in a .shp
    assert gdf["kind"].tolist() == ["urban", "pastoral"]
    for got, want in zip(gdf.geometry, [CELL1, CELL2], strict=True):
        assert shapely.equals_exact(shapely.normalize(got), shapely.normalize(want), 1e-12)


def test_a_zipped_shapefile_upload_is_read(tmp_path):
    write_areas(two_grids(), tmp_path / "grids.shp")
    archive = tmp_path / "grids.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in tmp_path.glob("grids.*"):
            if part != archive:
                zf.write(part, part.name)
    gdf, problems = read_areas(archive)
    assert problems == [] and gdf["name"].tolist() == ["当周街道第一网格", "伊合昂第二网格"]


def test_shapefile_has_a_cpg_and_short_unique_field_names(tmp_path):
    frame = two_grids(household_head=["扎西", "卓玛"], household_members=[5, 3])
    path = write_areas(frame, tmp_path / "grids.shp")
    assert (tmp_path / "grids.cpg").read_text().strip().upper() in {"UTF-8", "UTF8"}
    fields = list(pyogrio.read_info(path)["fields"])
    assert all(len(f) <= 10 for f in fields)
    assert len(set(fields)) == len(fields) == 6  # household_h and household_m clash at 10
    assert "扎西" in gpd.read_file(path, engine="pyogrio").to_numpy().ravel().tolist()


def test_write_household_points_to_a_geopackage(tmp_path):
    points = gpd.GeoDataFrame(
        {"code": ["H0001", "H0002"], "head_name": ["扎*", "卓*"], "members": [5, 3]},
        geometry=shapely.points([[103.001, 35.001], [103.011, 35.002]]), crs="EPSG:4326",
    )
    path = write_areas(points, tmp_path / "households.gpkg")
    back = gpd.read_file(path, engine="pyogrio")
    assert back["head_name"].tolist() == ["扎*", "卓*"]
    assert back["members"].tolist() == [5, 3]
    assert set(back.geometry.geom_type) == {"Point"}


def test_write_refuses_an_unknown_extension(tmp_path):
    with pytest.raises(Invalid, match=r"\.gpkg"):
        write_areas(two_grids(), tmp_path / "grids.kml")


def test_a_geopackage_with_several_layers_needs_a_choice(tmp_path):
    path = tmp_path / "village.gpkg"
    write_areas(two_grids(), path, layer="grids")
    write_areas(two_grids().iloc[:1], path, layer="groups")
    _, problems = read_areas(path)
    assert problem_codes(problems) == ["ambiguous_layer"]
    assert problems[0].detail["layers"] == ["grids", "groups"]
    gdf, problems = read_areas(path, layer="groups")
    assert problems == [] and gdf["code"].tolist() == [G1]


# --------------------------------------------------------------------------- CRS


def test_gcj02_file_read_as_gcj02_lands_on_the_wgs84_cells(tmp_path):
    # an AMap export: the same cells, but in GCJ-02 (a few hundred metres off)
    shifted = geometry_from_wgs84(np.array([CELL1, CELL2], dtype=object), "gcj02")
    path = write_areas(two_grids().set_geometry(list(shifted), crs="EPSG:4326"),
                       tmp_path / "amap.geojson")
    right, problems = read_areas(path, crs="gcj02")
    wrong, _ = read_areas(path)  # the file says nothing, so it is taken as WGS84
    assert problems == []
    for got, want in zip(right.geometry, [CELL1, CELL2], strict=True):
        assert shapely.hausdorff_distance(got, want) < 1e-7  # ~1 cm
    a, b = right.geometry.iloc[0].centroid, wrong.geometry.iloc[0].centroid
    off = float(distance_m(a.x, a.y, b.x, b.y))
    assert 100 < off < 1000, off


def test_given_crs_overrides_the_files_own(tmp_path):
    # the file claims EPSG:4326 but came from Baidu: the caller knows better
    bd09 = geometry_from_wgs84(CELL1, "bd09")
    path = write_areas(two_grids().iloc[:1].set_geometry([bd09], crs="EPSG:4326"),
                       tmp_path / "baidu.gpkg")
    gdf, problems = read_areas(path, crs="bd09")
    assert problems == []
    assert shapely.hausdorff_distance(gdf.geometry.iloc[0], CELL1) < 1e-7


def test_a_projected_survey_file_is_converted_from_its_own_crs(tmp_path):
    # CGCS2000 3-degree Gauss-Kruger zone, central meridian 102°E (EPSG:4543)
    survey = two_grids().to_crs("EPSG:4543")
    assert survey.geometry.iloc[0].bounds[0] > 1000  # metres, not degrees
    gdf, problems = read_areas(write_areas(survey, tmp_path / "survey.gpkg"))
    assert problems == []
    assert shapely.hausdorff_distance(gdf.geometry.iloc[0], CELL1) < 1e-6
