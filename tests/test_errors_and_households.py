"""The one error shape for framework errors too, and households per area with PII rules."""

from __future__ import annotations

import pandas as pd
import pytest
import shapely
import sqlalchemy as sa

from geo_service.app import create_app, services
from geo_service.auth import create_token
from geo_service.households import import_households
from geo_service.store.tables import households
from geo_service.versions import build_indexes, live_version

from .conftest import bearer
from .tiny import G1, G4


def _shape(resp) -> dict:
    body = resp.get_json()
    assert set(body) == {"error"} and {"code", "message", "field"} <= set(body["error"])
    return body["error"]


def test_unknown_route_and_method(client, tokens) -> None:
    assert _shape(client.get("/api/v1/nope", headers=bearer(tokens["admin"])))["code"] \
        == "not_found"
    resp = client.delete("/api/v1/lookup", headers=bearer(tokens["admin"]))
    assert resp.status_code == 405 and _shape(resp)["code"] == "method_not_allowed"


def test_oversized_body_is_413_with_the_limit(tmp_path) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
                      "MAX_BODY_BYTES": 2000}, migrate=True)
    with services(app).engine.begin() as conn:
        token = create_token(conn, name="big", role="viewer")
    resp = app.test_client().post("/api/v1/lookup", data="x" * 5000,
                                  content_type="application/json", headers=bearer(token))
    assert resp.status_code == 413 and "2000" in _shape(resp)["message"]
    services(app).close()


@pytest.fixture
def roster(engine, tiny):
    vi = services_vi(engine)
    df = pd.DataFrame({"code": ["H1", "H2", "H3"], "address": ["甲村1号", "甲村2号", "乙村1号"],
                       "lon": [103.005, 103.006, 103.03], "lat": [35.01, 35.011, 35.01],
                       "head_name": ["王小明", "李四", "欧阳娜娜"],
                       "phone": ["13912345678", "13800001111", "13700002222"],
                       "members": [3, 2, 5], "care_tags": ["elderly", "", "disabled;orphan"]})
    with engine.begin() as conn:
        result = import_households(conn, df, vi.grids, vi.groups)
    assert result.accepted == 3 and result.written
    return df


def services_vi(engine):
    with engine.connect() as conn:
        return build_indexes(conn, live_version(conn))


@pytest.mark.parametrize(("role", "name", "phone"), [
    ("admin", "王小明", "13912345678"),        # need to know
    ("dispatcher", "王小明", "13912345678"),   # need to know
    ("planner", "王**", "139****5678"),        # masked
    ("worker", "王**", "139****5678"),         # masked
])
def test_households_pii_per_role(client, tokens, roster, role, name, phone) -> None:
    body = client.get(f"/api/v1/areas/{G1}/households", headers=bearer(tokens[role])
                      ).get_json()
    assert body["total"] == 2
    first = body["households"][0]
    assert (first["head"]["name"], first["head"]["phone"]) == (name, phone)
    assert first["grid_code"] == G1 and first["group_code"] == G1 + "001"


def test_households_of_a_county_and_paging(client, tokens, roster) -> None:
    h = bearer(tokens["admin"])
    county = client.get("/api/v1/areas/900002/households", headers=h).get_json()
    assert [x["code"] for x in county["households"]] == ["H3"]
    assert county["households"][0]["care_tags"] == ["disabled", "orphan"]
    assert county["households"][0]["grid_code"] == G4
    page2 = client.get("/api/v1/areas/900000/households?per_page=2&page=2", headers=h
                       ).get_json()
    assert page2["total"] == 3 and [x["code"] for x in page2["households"]] == ["H3"]
    bad = client.get("/api/v1/areas/900000/households?per_page=0", headers=h)
    assert bad.status_code == 400 and _shape(bad)["field"] == "per_page"


def test_viewer_may_not_list_households(client, tokens, roster) -> None:
    resp = client.get(f"/api/v1/areas/{G1}/households", headers=bearer(tokens["viewer"]))
    assert resp.status_code == 403


def test_reimport_replaces_by_code_and_bad_rows_keep_the_rest(engine, roster) -> None:
    vi = services_vi(engine)
    df = pd.DataFrame({"code": ["H1", "H4", "H5", "H4"], "lon": ["103.025", "x", "103.01",
                                                                  "103.011"],
                       "lat": ["35.01", "35.0", "35.01", "35.012"],
                       "members": ["1", "1", "-2", "1"]})
    with engine.begin() as conn:
        result = import_households(conn, df, vi.grids, vi.groups)
    assert [(p.row, p.field) for p in result.rejected] == [(2, "lon"), (3, "members"),
                                                            (4, "code")]
    assert result.accepted == 1
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.select(households.c.code, households.c.grid_code)).all())
    assert rows == {"H1": "900002001001001", "H2": G1, "H3": G4}


def test_roster_as_geopackage_in_gcj02(engine, tiny, tmp_path) -> None:
    import geopandas as gpd

    from boundaries.crs import from_wgs84

    x, y = from_wgs84([103.005, 103.03], [35.01, 35.01], "gcj02")
    gdf = gpd.GeoDataFrame({"code": ["P1", "P2"], "head_name": ["周一", "吴二"]},
                           geometry=gpd.points_from_xy(x, y), crs="EPSG:4326")
    path = tmp_path / "roster.gpkg"
    gdf.to_file(path)
    vi = services_vi(engine)
    with engine.begin() as conn:
        result = import_households(conn, path, vi.grids, vi.groups, crs="gcj02")
    assert result.accepted == 2 and not result.rejected
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.select(households.c.code, households.c.grid_code)).all())
    assert rows == {"P1": G1, "P2": G4}


@pytest.mark.parametrize(("role", "address", "position", "tags"), [
    ("admin", "乙村1号", (103.03, 35.01), ["disabled", "orphan"]),
    ("dispatcher", "乙村1号", (103.03, 35.01), ["disabled", "orphan"]),
    ("worker", "乙村1号", (103.03, 35.01), ["disabled", "orphan"]),  # visits the door
    ("planner", "乙村…", (103.03, 35.01), []),  # where, roughly; never circumstances
])
def test_households_address_position_and_care_per_role(client, tokens, roster, engine, role,
                                                       address, position, tags) -> None:
    with engine.begin() as conn:  # a position with more digits than a planner may see
        conn.execute(households.update().where(households.c.code == "H3").values(
            geom=shapely.Point(103.030444, 35.010321)))
    body = client.get("/api/v1/areas/900002/households", headers=bearer(tokens[role])
                      ).get_json()
    h3 = body["households"][0]
    assert h3["address"] == address and h3["care_tags"] == tags
    exact = role != "planner"
    assert (h3["lon"], h3["lat"]) == ((103.030444, 35.010321) if exact else position)


@pytest.mark.parametrize(("name", "masked"), [
    ("张", "*"), ("李四", "李*"), ("欧阳娜娜", "欧***"), ("", ""),
])
def test_names_are_masked_whatever_their_length(name, masked) -> None:
    from geo_service.privacy import mask_name

    assert mask_name(name) == masked


@pytest.mark.parametrize(("phone", "masked"), [
    ("13812345678", "138****5678"), ("0941-8212345", "094****2345"), ("8212345", "*****45"),
    ("12", "**"), ("138", "***"), ("", ""), ("13812345678 张三", "138****5678"),
    ("一三八", ""), ("１３８１２３４５６７８", ""),  # digits, but not ASCII ones
])
def test_phones_are_masked_whatever_is_written_in_them(phone, masked) -> None:
    from geo_service.privacy import mask_phone

    assert mask_phone(phone) == masked


def test_answers_are_not_cached(client, tokens, roster) -> None:
    resp = client.get(f"/api/v1/areas/{G1}/households", headers=bearer(tokens["admin"]))
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
