"""GET/POST /api/v1/lookup on the tiny prefecture: borders, CRSs, errors, versions, PII."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from boundaries.crs import from_wgs84
from geo_service.app import services
from geo_service.auth import create_token
from geo_service.store.tables import worker_areas, workers

from .conftest import bearer, import_now
from .tiny import G1, G2, G3, G4, tiny_areas


def get(client, token, **params):
    return client.get("/api/v1/lookup", query_string=params, headers=bearer(token))


@pytest.mark.parametrize(("lon", "lat", "grid", "near", "why"), [
    (103.005, 35.01, G1, False, "middle of a grid"),
    (103.01, 35.01, G1, True, "on the shared edge: lowest code"),
    (103.01, 35.02, G1, True, "on a shared vertex"),
    (103.03, 35.01, G4, False, "in the hole of G3 (the enclave G4)"),
    (103.0299, 35.0101, G4, False, "in the hole, off-centre"),
])
def test_point_lands_in_its_grid(client, tiny, tokens, lon, lat, grid, near, why) -> None:
    body = get(client, tokens["viewer"], lon=lon, lat=lat).get_json()
    assert body["grid"]["code"] == grid, why
    assert body["group"]["code"] == grid + "001"
    assert body["near_boundary"] is near, why
    assert body["version"] == tiny
    assert [c["level"] for c in body["chain"]] == ["grid", "village", "township", "county",
                                                   "prefecture"]


def test_point_just_outside_answers_nearest(client, tiny, tokens) -> None:
    resp = get(client, tokens["viewer"], lon=102.999, lat=35.01)
    body = resp.get_json()
    assert resp.status_code == 200 and body["grid"] is None
    assert body["nearest"]["grid"]["code"] == G1
    assert body["nearest"]["distance_m"] == pytest.approx(91.3, abs=1)


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:4490", "EPSG:3857", "EPSG:4522",
                                 "EPSG:4543", "EPSG:4496", "gcj02", "bd09"])
def test_same_physical_point_in_every_crs(client, tiny, tokens, crs) -> None:
    x, y = from_wgs84(103.0305, 35.0095, crs)
    body = get(client, tokens["viewer"], lon=float(x), lat=float(y), crs=crs).get_json()
    assert body["grid"]["code"] == G4
    assert body["lon"] == pytest.approx(103.0305, abs=1e-6)


def test_gcj02_point_read_as_wgs84_lands_elsewhere(client, tiny, tokens) -> None:
    # Near the G1/G2 edge, the GCJ-02 shift (hundreds of metres) changes the grid.
    x, y = from_wgs84(103.0098, 35.01, "gcj02")
    right = get(client, tokens["viewer"], lon=float(x), lat=float(y), crs="gcj02")
    wrong = get(client, tokens["viewer"], lon=float(x), lat=float(y))
    assert right.get_json()["grid"]["code"] == G1
    assert wrong.get_json()["grid"]["code"] != G1


@pytest.mark.parametrize(("params", "status", "code", "field"), [
    ({"lat": 35.01}, 400, "missing", "lon"),
    ({"lon": "abc", "lat": 35.01}, 400, "invalid_number", "lon"),
    ({"lon": "nan", "lat": 35.01}, 400, "invalid_number", "lon"),
    ({"lon": 103.0, "lat": "inf"}, 400, "invalid_number", "lat"),
    ({"lon": 103.0, "lat": 95}, 422, "out_of_range", "lat"),
    ({"lon": 35.01, "lat": 103.005}, 422, "swapped_axes", "lon"),
    ({"lon": 103.0, "lat": 35.0, "crs": "EPSG:999999"}, 400, "unknown_crs", "crs"),
    ({"lon": 103.0, "lat": 35.0, "crs": "EPSG:32648"}, 400, "unknown_crs", "crs"),
    ({"lon": 103.0, "lat": 35.0, "version": "x"}, 400, "invalid_version", "version"),
    ({"lon": 103.0, "lat": 35.0, "version": 99}, 404, "unknown_version", "version"),
])
def test_bad_input_gets_one_error_shape(client, tiny, tokens, params, status, code, field) -> None:
    resp = get(client, tokens["viewer"], **params)
    assert resp.status_code == status
    err = resp.get_json()["error"]
    assert set(err) >= {"code", "message", "field"}
    assert (err["code"], err["field"]) == (code, field)
    if code == "swapped_axes":
        assert "swapped" in err["message"]


def test_batch_keeps_order_and_reports_bad_points(client, tiny, tokens) -> None:
    points = [[103.005, 35.01], [103.015, 35.01], "bad", [103.0, float("nan")],
              [103.03, 35.01], [200, 35], [103.01, 35.01], [102.0, 35.0], [True, False]]
    body = client.post("/api/v1/lookup", json={"points": points},
                       headers=bearer(tokens["worker"])).get_json()
    assert body["grid"] == [G1, G2, None, None, G4, None, G1, None, None]
    assert [e["index"] for e in body["errors"]] == [2, 3, 5, 8]


def test_batch_geojson_carries_ids_and_chain(client, tiny, tokens) -> None:
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": f"r{i}", "geometry": {"type": "Point", "coordinates": p}}
        for i, p in enumerate([[103.005, 35.01], [103.035, 35.003]])]}
    body = client.post("/api/v1/lookup", json={**fc, "chain": True},
                       headers=bearer(tokens["viewer"])).get_json()
    assert body["ids"] == ["r0", "r1"] and body["grid"] == [G1, G3]
    assert body["chain"][1][-1]["code"] == "900000"


def test_batch_over_the_limit_is_413(client, tiny, tokens) -> None:
    resp = client.post("/api/v1/lookup", json={"points": [[103.0, 35.0]] * 100_001},
                       headers=bearer(tokens["viewer"]))
    assert resp.status_code == 413 and "100000" in resp.get_json()["error"]["message"]


def test_malformed_batch_is_400(client, tiny, tokens) -> None:
    resp = client.post("/api/v1/lookup", data="{not json", content_type="application/json",
                       headers=bearer(tokens["viewer"]))
    assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "body"


def test_version_answers_from_the_earlier_boundaries(app, client, tiny, tokens) -> None:
    # Redraw the two grids of county 900001: move their shared edge east to 103.015.
    grids = tiny_areas()
    grids = grids[(grids.level == "grid") & grids.parent_code.eq("900001001001")].copy()
    grids.loc[grids.code == G1, "geometry"] = shapely.MultiPolygon(
        [shapely.box(103.0, 35.0, 103.015, 35.02)])
    grids.loc[grids.code == G2, "geometry"] = shapely.MultiPolygon(
        [shapely.box(103.015, 35.0, 103.02, 35.02)])
    result = import_now(services(app).engine, grids, "grid", author="t")
    assert result.report.ok and result.written, result.report.summary()
    services(app).indexes.settle()  # the new live index is built in the background
    now = get(client, tokens["viewer"], lon=103.012, lat=35.01).get_json()
    warming = get(client, tokens["viewer"], lon=103.012, lat=35.01, version=tiny)
    assert warming.status_code == 503 and warming.headers["Retry-After"] == "1"
    assert warming.get_json()["error"]["code"] == "version_warming"
    services(app).indexes.settle()
    before = get(client, tokens["viewer"], lon=103.012, lat=35.01, version=tiny).get_json()
    assert now["grid"]["code"] == G1 and now["version"] == result.version
    assert before["grid"]["code"] == G2 and before["version"] == tiny


def test_people_masked_per_role(client, engine, tiny, tokens) -> None:
    with engine.begin() as conn:
        wid = conn.execute(workers.insert().values(
            code="W1", name="张三丰", role="grid_leader", phone="13812345678", on_duty=True)
        ).inserted_primary_key[0]
        conn.execute(worker_areas.insert().values(worker_id=wid, area_code=G1))
    seen = {role: get(client, tokens[role], lon=103.005, lat=35.01).get_json()["people"]
            for role in ("dispatcher", "viewer")}
    assert seen["dispatcher"][0]["name"] == "张三丰"
    assert seen["dispatcher"][0]["phone"] == "13812345678"
    assert seen["viewer"][0]["name"] == "张**"
    assert seen["viewer"][0]["phone"] == "138****5678"


def test_lookup_before_any_boundaries_is_503(client, engine) -> None:
    with engine.begin() as conn:
        token = create_token(conn, name="early", role="viewer")
    resp = get(client, token, lon=103.0, lat=35.0)
    assert resp.status_code == 503 and resp.get_json()["error"]["code"] == "no_boundaries"


def test_many_points_batch_equals_single(client, tiny, tokens) -> None:
    rng = np.random.default_rng(1)
    pts = np.column_stack([rng.uniform(102.998, 103.042, 200),
                           rng.uniform(34.998, 35.022, 200)]).tolist()
    batch = client.post("/api/v1/lookup", json={"points": pts},
                        headers=bearer(tokens["viewer"])).get_json()["grid"]
    single = [(get(client, tokens["viewer"], lon=x, lat=y).get_json()["grid"] or {})
              .get("code") for x, y in pts[:40]]
    assert batch[:40] == single
    with_grid = sum(g is not None for g in batch)
    assert 0 < with_grid < 200


def test_a_deployment_may_lower_the_batch_limit(app, client, tiny, tokens) -> None:
    """GEO_MAX_BATCH_POINTS: the limit the endpoint applies is the one its document states."""
    app.config["MAX_BATCH_POINTS"] = 3
    ok = client.post("/api/v1/lookup", json={"points": [[103.005, 35.01]] * 3},
                     headers=bearer(tokens["viewer"]))
    refused = client.post("/api/v1/lookup", json={"points": [[103.005, 35.01]] * 4},
                          headers=bearer(tokens["viewer"]))
    assert ok.status_code == 200
    assert refused.status_code == 413 and refused.get_json()["error"]["code"] == \
        "too_many_points" and "3 per request" in refused.get_json()["error"]["message"]
    doc = client.get("/api/v1/openapi.json").get_json()
    forms = doc["components"]["schemas"]["BatchRequest"]["oneOf"]
    assert forms[0]["properties"]["points"]["maxItems"] == 3
