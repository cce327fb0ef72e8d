"""The synthetic Gannan demo: real county outlines, a generated tree below them.

Most tests use 合作市 (623001) alone, which is built exactly as in the full demo; one builds
the whole prefecture and checks Gannan's real counts. Areas of slivers are measured in
degrees² times the local metres per degree: projecting vertex by vertex would bend long
county edges that the tessellation split into several segments, and report area that is not
there.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import shapely

from boundaries.crs import distance_m, gcj02_to_wgs84
from boundaries.levels import LEVELS
from boundaries.synthetic import build_demo

DATA = Path(__file__).resolve().parents[2] / "boundaries" / "data"
HEZUO, MAQU, LUQU = "623001", "623025", "623026"
HEZUO_SEAT = (102.90944, 34.98556)  # GeoNames "Hezuo"
CODE_LENGTH = {"prefecture": 6, "county": 6, "township": 9, "village": 12, "grid": 15,
               "group": 18}
SMALL = {"households": 12_000, "grids": 60, "groups": 540}  # the loader's small Hezuo


def m2(geom) -> float:
    """Area in m² of a small lon/lat geometry (flat-earth scale at its latitude)."""
    if shapely.is_empty(geom):
        return 0.0
    lat = shapely.get_y(shapely.centroid(geom))
    return float(shapely.area(geom) * 111_320.0 * math.cos(math.radians(lat)) * 110_900.0)


def km2(geoms) -> np.ndarray:
    return np.array([m2(g) for g in geoms]) / 1e6


@pytest.fixture(scope="module")
def hezuo():
    return build_demo(counties=[HEZUO])


@pytest.fixture(scope="module")
def maqu():
    return build_demo(counties=[MAQU])


def level(demo, name: str):
    return demo.areas[demo.areas["level"] == name]


# --------------------------------------------------------------------------- the area tree


def test_columns_crs_and_geometry_types(hezuo) -> None:
    areas = hezuo.areas
    assert list(areas.columns) == ["code", "name", "level", "kind", "parent_code", "synthetic",
                                   "geometry"]
    assert areas.crs.to_epsg() == 4326
    assert (areas.geom_type == "MultiPolygon").all()
    assert areas.is_valid.all() and not areas.is_empty.any()
    assert set(areas["level"]) == set(LEVELS)
    assert list(hezuo.households.columns) == ["code", "address", "lon", "lat", "head_name",
                                              "phone", "members", "care_tags"]
    assert list(hezuo.workers.columns) == ["code", "name", "role", "area_code", "phone",
                                           "on_duty"]


def test_only_prefecture_and_counties_are_real(hezuo) -> None:
    real = hezuo.areas.set_index("code")["synthetic"]
    assert not real.loc["623000"] and not real.loc[HEZUO]
    below = hezuo.areas[~hezuo.areas["level"].isin(["prefecture", "county"])]
    assert below["synthetic"].all() and len(below) > 1_000


def test_codes_unique_and_prefixed_by_their_parent(hezuo) -> None:
    areas = hezuo.areas
    assert areas["code"].is_unique
    assert (areas["code"].str.len() == areas["level"].map(CODE_LENGTH)).all()
    assert areas["code"].str.fullmatch(r"\d+").all()
    child = areas[areas["level"] != "prefecture"]
    parent_level = child["parent_code"].map(areas.set_index("code")["level"])
    want = child["level"].map(lambda lv: LEVELS[LEVELS.index(lv) - 1])
    assert (parent_level == want).all()
    below = child[child["level"] != "county"]
    assert all(c.startswith(p) for c, p in zip(below["code"], below["parent_code"], strict=True))


def test_townships_and_village_counts_come_from_the_shared_list(hezuo) -> None:
    with open(DATA / "gannan_townships_list.csv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["county_adcode"] == HEZUO]
    towns = level(hezuo, "township").set_index("code")
    assert list(towns.index) == [r["township_code"] for r in rows]
    assert list(towns["name"]) == [r["township_name"] for r in rows]
    assert list(towns["kind"]) == [r["kind"] for r in rows]
    villages = level(hezuo, "village")
    per_town = villages["parent_code"].value_counts()
    assert [per_town[r["township_code"]] for r in rows] == [
        int(r["n_villages_or_communities"]) for r in rows]
    street_villages = villages[villages["parent_code"].map(towns["kind"]) == "街道"]
    assert (street_villages["kind"] == "community").all()
    assert street_villages["name"].str.endswith("社区").all()
    assert villages[villages["kind"] == "village"]["name"].str.endswith("村").all()


def test_each_level_is_the_exact_union_of_its_children(hezuo) -> None:
    areas = hezuo.areas
    children = areas.groupby("parent_code").geometry
    worst = {}
    for code, kids in children:
        parent = areas.loc[areas["code"] == code]
        lv = parent["level"].iloc[0]
        gap = m2(shapely.symmetric_difference(parent.geometry.iloc[0],
                                              shapely.union_all(kids.to_numpy())))
        worst[lv] = max(worst.get(lv, 0.0), gap)
    assert set(worst) == set(LEVELS[:-1])
    assert max(worst.values()) < 0.01, worst  # m²: floating-point noise only


@pytest.mark.parametrize("name", LEVELS[1:])
def test_siblings_do_not_overlap(hezuo, name) -> None:
    geoms = level(hezuo, name).geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = left < right
    assert pairs.sum() >= len(geoms) - 1  # neighbours touch: the check has something to check
    overlap = [m2(shapely.intersection(geoms[i], geoms[j]))
               for i, j in zip(left[pairs], right[pairs], strict=True)]
    assert max(overlap, default=0.0) <= 1.0


def test_no_gaps_inside_the_county(hezuo) -> None:
    county = level(hezuo, "county").geometry.iloc[0]
    for name in ("township", "village", "grid", "group"):
        cover = shapely.coverage_union_all(level(hezuo, name).geometry.to_numpy())
        assert m2(shapely.difference(county, cover)) < 0.01, name
        assert shapely.get_num_interior_rings(shapely.get_parts(cover)).sum() == \
            shapely.get_num_interior_rings(shapely.get_parts(county)).sum()


def test_counties_are_the_amap_outlines_moved_from_gcj02(hezuo, maqu) -> None:
    with open(DATA / "gannan_counties_gcj02.geojson", encoding="utf-8") as f:
        raw = {ft["properties"]["adcode"]: ft for ft in json.load(f)["features"]}
    for demo, code in ((hezuo, HEZUO), (maqu, MAQU)):
        ours = shapely.get_coordinates(level(demo, "county").geometry.iloc[0])
        gcj = shapely.get_coordinates(shapely.from_geojson(json.dumps(raw[code]["geometry"])))
        assert len(ours) == len(gcj)
        shift = distance_m(gcj[:, 0], gcj[:, 1], ours[:, 0], ours[:, 1])
        # GCJ-02 moves Gannan's outlines 157-337 m (Hezuo's median 229 m, Maqu's 248 m)
        assert 200 < np.median(shift) < 400 and shift.min() > 150 and shift.max() < 400, code
        back = np.column_stack(gcj02_to_wgs84(gcj[:, 0], gcj[:, 1]))
        assert np.abs(back - ours).max() < 1e-9


def test_prefecture_is_the_union_of_its_counties(hezuo) -> None:
    pref = level(hezuo, "prefecture")
    assert pref["code"].tolist() == ["623000"] and pref["name"].tolist() == ["甘南藏族自治州"]
    assert pref.geometry.iloc[0].equals(level(hezuo, "county").geometry.iloc[0])


# --------------------------------------------------------------------------- realism


def test_grids_near_the_hezuo_seat_are_much_smaller_than_in_maqu(hezuo, maqu) -> None:
    grids = level(hezuo, "grid")
    centre = shapely.centroid(grids.geometry.to_numpy())
    near = distance_m(*HEZUO_SEAT, shapely.get_x(centre), shapely.get_y(centre)) < 3_000
    assert near.sum() >= 10
    town = np.median(km2(grids.geometry[near]))
    pastoral = np.median(km2(level(maqu, "grid").geometry))
    assert town < 1.0 and pastoral > 30.0
    assert pastoral > 100 * town
    streets = grids["code"].str[:9].isin(["623001001", "623001002", "623001003", "623001004"])
    assert (grids.loc[streets, "kind"] == "urban").all() and streets.sum() >= 20
    assert (level(maqu, "grid")["kind"] == "pastoral").mean() > 0.7


def test_grids_are_not_plain_voronoi_cells(hezuo) -> None:
    grids = level(hezuo, "grid").geometry.to_numpy()
    county = level(hezuo, "county").geometry.iloc[0]
    cells = shapely.get_parts(shapely.voronoi_polygons(
        shapely.multipoints(shapely.point_on_surface(grids)), extend_to=county))
    cells = shapely.intersection(cells, county)
    ours = np.median(shapely.get_num_coordinates(grids))
    voronoi = np.median(shapely.get_num_coordinates(cells))
    assert ours > 5 * voronoi, (ours, voronoi)
    convexity = shapely.area(grids) / shapely.area(shapely.convex_hull(grids))
    assert np.median(convexity) < 0.9  # ridges and valleys, not convex cells


def test_households_cluster_around_the_seat(hezuo) -> None:
    hh = hezuo.households
    d = distance_m(*HEZUO_SEAT, hh["lon"].to_numpy(), hh["lat"].to_numpy())
    county_km2 = km2(level(hezuo, "county").geometry)[0]
    near_share = (d < 3_000).mean()
    area_share = math.pi * 3.0**2 / county_km2
    assert near_share > 0.3 and near_share > 25 * area_share  # ~50 times denser than average


def test_households_sit_strictly_inside_exactly_one_group(hezuo) -> None:
    hh = hezuo.households
    groups = level(hezuo, "group")
    pts = shapely.points(hh["lon"].to_numpy(), hh["lat"].to_numpy())
    at, poly = shapely.STRtree(groups.geometry.to_numpy()).query(pts, predicate="intersects")
    assert np.array_equal(at, np.arange(len(hh)))  # each point touches exactly one group
    assert (groups["code"].to_numpy()[poly] == hh["code"].str[:18].to_numpy()).all()
    home = groups.geometry.to_numpy()[poly]
    assert shapely.contains_properly(home, pts).all()
    assert shapely.distance(shapely.boundary(home), pts).min() > 2e-6  # ~0.2 m off the edge
    county = level(hezuo, "county").geometry.iloc[0]
    assert shapely.contains_xy(county, hh["lon"], hh["lat"]).all()
    per_group = hh["code"].str[:18].value_counts()
    assert len(per_group) == len(groups) and per_group.median() > 15


def test_household_records(hezuo) -> None:
    hh = hezuo.households
    assert hh["code"].is_unique and hh["code"].str.fullmatch(r"\d{21}").all()
    assert hh["phone"].str.fullmatch(r"1[3-9]\d{9}").all() and hh["phone"].is_unique
    assert hh["members"].between(1, 10).all() and 2.5 < hh["members"].mean() < 4.5
    assert hh["address"].str.startswith("合作市").all()
    tags = hh["care_tags"].str.split(";").explode()
    assert set(tags) <= {"", "elderly", "orphan", "disabled", "low_income"}
    assert 0.6 < (hh["care_tags"] == "").mean() < 0.95
    assert hh["head_name"].str.fullmatch(r"[\u4e00-\u9fff]{2,4}").all()


def test_workers_per_area(hezuo) -> None:
    w = hezuo.workers
    assert w["code"].is_unique
    levels = hezuo.areas.set_index("code")["level"]
    assert (w["area_code"].map(levels) == w["role"].map({
        "grid_leader": "grid", "grid_worker": "grid", "grid_guide": "village",
        "liaison_head": "group", "militia": "township"})).all()
    per = w.groupby(["role", "area_code"]).size()
    assert (per["grid_leader"] == 1).all() and len(per["grid_leader"]) == len(level(hezuo, "grid"))
    assert per["grid_worker"].between(1, 3).all()
    assert len(per["grid_worker"]) == len(level(hezuo, "grid"))
    assert (per["grid_guide"] == 1).all()
    assert len(per["grid_guide"]) == len(level(hezuo, "village"))
    assert (per["liaison_head"] == 1).all()
    assert len(per["liaison_head"]) == len(level(hezuo, "group"))
    assert per["militia"].between(3, 6).all()
    # a liaison head is one of the household heads of the group
    heads = hezuo.households.assign(group=hezuo.households["code"].str[:18])
    lh = w[w["role"] == "liaison_head"].merge(heads, left_on=["area_code", "phone"],
                                              right_on=["group", "phone"])
    assert len(lh) == len(level(hezuo, "group"))
    assert w["on_duty"].dtype == bool and 0.5 < w["on_duty"].mean() < 1.0


# --------------------------------------------------------------------------- counts, seeds


def test_small_hezuo_has_exactly_the_counts_asked_for() -> None:
    demo = build_demo(counties=[HEZUO], **SMALL)
    counts = demo.areas["level"].value_counts()
    assert (counts["township"], counts["village"]) == (10, 47)
    assert (counts["grid"], counts["group"], len(demo.households)) == (60, 540, 12_000)


def test_same_seed_same_demo_other_seed_another() -> None:
    a = build_demo(7, counties=[HEZUO], **SMALL)
    b = build_demo(7, counties=[HEZUO], **SMALL)
    c = build_demo(8, counties=[HEZUO], **SMALL)
    assert a.areas.drop(columns="geometry").equals(b.areas.drop(columns="geometry"))
    assert shapely.equals_exact(a.areas.geometry.to_numpy(), b.areas.geometry.to_numpy(),
                                tolerance=0).all()
    assert a.households.equals(b.households) and a.workers.equals(b.workers)
    grids_a, grids_c = level(a, "grid").geometry.to_numpy(), level(c, "grid").geometry.to_numpy()
    assert not shapely.equals_exact(grids_a, grids_c, tolerance=1e-6).any()
    assert not a.households["lon"].equals(c.households["lon"])
    assert level(a, "county").geometry.iloc[0].equals(level(c, "county").geometry.iloc[0])


def test_luqu_without_geonames_places_still_gets_its_townships() -> None:
    demo = build_demo(counties=[LUQU], households=6_000, grids=40, groups=300)
    towns = level(demo, "township")
    assert len(towns) == 7 and "玛艾镇" in set(towns["name"])
    assert len(level(demo, "village")) == 27 and len(level(demo, "grid")) == 40
    assert demo.areas.is_valid.all()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"counties": ["620000"]}, "unknown county"),
    ({"counties": [HEZUO], "households": 1_000, "grids": 60, "groups": 200}, "households"),
    ({"counties": [HEZUO], "households": 12_000, "grids": 20, "groups": 200}, "grids"),
    ({"counties": [HEZUO], "households": 12_000, "grids": 60, "groups": 100}, "groups"),
])
def test_impossible_requests_are_refused(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        build_demo(**kwargs)


def test_full_demo_has_gannan_scale(hezuo, full_demo) -> None:
    demo = full_demo  # timed in bench/registry.py; tests never fail on timing
    counts = demo.areas["level"].value_counts().to_dict()
    assert counts == {"prefecture": 1, "county": 8, "township": 102, "village": 697,
                      "grid": 959, "group": 8_626}
    assert len(demo.households) == 206_400 and demo.households["code"].is_unique
    assert demo.households["members"].sum() == 691_800
    assert demo.areas["code"].is_unique and demo.areas.is_valid.all()
    # counties built alone are exactly the counties of the full demo
    full_hezuo = demo.areas[demo.areas["code"].str.startswith(HEZUO)].reset_index(drop=True)
    alone = hezuo.areas[hezuo.areas["code"].str.startswith(HEZUO)].reset_index(drop=True)
    assert full_hezuo.drop(columns="geometry").equals(alone.drop(columns="geometry"))
    assert shapely.equals_exact(full_hezuo.geometry.to_numpy(), alone.geometry.to_numpy(),
                                tolerance=0).all()
    # every household falls in exactly one grid, the one its code names
    grids = level(demo, "grid")
    pts = shapely.points(demo.households["lon"].to_numpy(), demo.households["lat"].to_numpy())
    at, poly = shapely.STRtree(grids.geometry.to_numpy()).query(pts, predicate="intersects")
    assert np.array_equal(at, np.arange(len(pts)))
    assert (grids["code"].to_numpy()[poly] == demo.households["code"].str[:15].to_numpy()).all()
