"""The full Gannan demo through the real import core, on both backends.

Built once per session (it is the expensive part); loaded into each backend.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import geopandas as gpd
import numpy as np
import pytest
import sqlalchemy as sa

from geo_service.app import services
from geo_service.demo import load_demo
from geo_service.exports import export_level
from geo_service.store.tables import households
from geo_service.store.uow import unit_of_work


@pytest.fixture
def demo(full_demo):
    return full_demo


@pytest.fixture
def loaded(app, demo):
    with unit_of_work(services(app).engine) as uow:
        summary = load_demo(uow.conn, demo=demo)
    return app, summary


def test_demo_has_gannan_scale(loaded) -> None:
    _, s = loaded
    assert [s[k] for k in ("prefecture", "county", "township", "village")] == [1, 8, 102, 697]
    assert [s[k] for k in ("grid", "group", "households")] == [959, 8_626, 206_400]


def test_stored_grids_equal_the_imported_layer(loaded, demo) -> None:
    """The same areas come back on either backend: codes, names, parents, geometries."""
    from geo_service.versions import area_frame, live_version

    app, _ = loaded
    with services(app).engine.connect() as conn:
        stored = area_frame(conn, live_version(conn), "grid").set_index("code")
    given = demo.areas[demo.areas.level == "grid"].set_index("code").loc[stored.index]
    assert len(stored) == 959
    assert (stored["name"] == given["name"]).all()
    assert (stored["parent_code"] == given["parent_code"]).all()
    assert stored.geometry.geom_equals_exact(given.geometry, tolerance=0).all()


def test_every_household_in_exactly_one_grid_equal_to_sjoin(loaded, demo) -> None:
    app, _ = loaded
    engine = services(app).engine
    with engine.connect() as conn:
        rows = conn.execute(sa.select(households.c.code, households.c.grid_code,
                                      households.c.group_code, households.c.geom)).all()
    assert len(rows) == 206_400
    stored = gpd.GeoDataFrame({"code": [r[0] for r in rows], "grid": [r[1] for r in rows],
                               "group": [r[2] for r in rows]},
                              geometry=[r[3] for r in rows], crs="EPSG:4326")
    assert stored["grid"].notna().all() and stored["group"].notna().all()
    grids = demo.areas[demo.areas.level == "grid"][["code", "geometry"]]
    joined = gpd.sjoin(stored, grids, predicate="covered_by", how="left")
    counts = joined.groupby(level=0).size()
    theirs = joined.sort_values("code_right").groupby(level=0)["code_right"].first()
    differ = stored["grid"].to_numpy() != theirs.reindex(stored.index).to_numpy()
    # Only points covered by more than one grid (exactly on an edge) may differ, and there
    # the documented rule (lowest code) is what sjoin's first-by-code gives too.
    assert not (differ & (counts.reindex(stored.index).to_numpy() == 1)).any()
    assert differ.sum() == 0
    # Groups sit inside their grid.
    parents = demo.areas.set_index("code")["parent_code"]
    assert (parents.reindex(stored["group"]).to_numpy() == stored["grid"].to_numpy()).all()


def test_counties_are_converted_from_gcj02(loaded) -> None:
    from boundaries.crs import distance_m, geometry_to_wgs84
    from boundaries.files import read_areas

    app, _ = loaded
    raw, problems = read_areas("boundaries/data/gannan_counties_gcj02.geojson",
                               code_field="adcode", parent_field="parent_adcode",
                               kind_field="level")
    assert not problems
    with services(app).engine.connect() as conn:
        from geo_service.versions import area_frame, live_version

        stored = area_frame(conn, live_version(conn), "county").set_index("code")
    hezuo_raw = raw.set_index("code").loc["623001"].geometry  # read as if WGS84
    hezuo = stored.loc["623001"].geometry
    assert hezuo.equals_exact(geometry_to_wgs84(hezuo_raw, "gcj02"), tolerance=1e-9)
    a = np.asarray(hezuo_raw.exterior.coords if hasattr(hezuo_raw, "exterior")
                   else hezuo_raw.geoms[0].exterior.coords)
    b = np.asarray(hezuo.geoms[0].exterior.coords)
    shift = distance_m(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    assert 100 < np.median(shift) < 400  # GCJ-02 moves Hezuo a few hundred metres


def test_export_reads_back_with_geopandas_and_ogrinfo(loaded, tmp_path) -> None:
    app, _ = loaded
    engine = services(app).engine
    out = tmp_path / "grids.gpkg"
    with engine.connect() as conn:
        assert export_level(conn, "grid", out) == 959
    back = gpd.read_file(out)
    assert len(back) == 959 and back.crs.to_epsg() == 4326
    assert back["name"].str.contains("网格").all()
    hh = tmp_path / "households.gpkg"
    with engine.connect() as conn:
        assert export_level(conn, "household", hh) == 206_400
    pts = gpd.read_file(hh, rows=5)
    assert pts["grid_code"].notna().all() and pts["head_name"].str.contains(r"\*").all()
    ogrinfo = shutil.which("ogrinfo")
    if ogrinfo is None:
        assert os.environ.get("CI") != "true", "CI must install gdal-bin for ogrinfo"
        return
    info = subprocess.run([ogrinfo, "-so", "-al", str(out)], capture_output=True, text=True,
                          check=True).stdout
    assert "Feature Count: 959" in info and "4326" in info


def test_areas_api_simplify_is_a_distance(loaded, demo) -> None:
    """GET /areas?simplify=500 moves no county boundary more than 500 m."""
    from boundaries.crs import geometry_from_wgs84
    from boundaries.simplify import largest_displacement_m
    from geo_service.auth import create_token

    app, _ = loaded
    with services(app).engine.begin() as conn:
        token = create_token(conn, name="wall", role="viewer")
    client = app.test_client()
    h = {"Authorization": f"Bearer {token}"}
    got = {}
    for tol in ("0", "500"):
        body = client.get(f"/api/v1/areas?level=county&simplify={tol}", headers=h).get_json()
        got[tol] = gpd.GeoDataFrame.from_features(body["features"]).geometry.to_numpy()
    a, b = (geometry_from_wgs84(got[t], "EPSG:32648") for t in ("0", "500"))
    assert 0 < largest_displacement_m(a, b) <= 505
