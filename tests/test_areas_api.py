"""/api/v1/areas on the tiny prefecture: features, children, filters, CRS, simplify."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from boundaries.crs import from_wgs84
from geo_service.app import services
from geo_service.auth import create_token
from geo_service.versions import build_indexes
from geo_service.versions.areas import area_collection

from .conftest import bearer
from .tiny import G1, G2, G3, G4


def test_area_feature_has_chain_and_children(client, tiny, tokens) -> None:
    body = client.get("/api/v1/areas/900002001001", headers=bearer(tokens["viewer"])
                      ).get_json()
    assert body["type"] == "Feature" and body["id"] == "900002001001"
    props = body["properties"]
    assert [c["code"] for c in props["children"]] == [G3, G4]
    assert [c["level"] for c in props["chain"]] == ["township", "county", "prefecture"]
    assert shape(body["geometry"]).area == pytest.approx(0.02 * 0.02)


def test_collection_by_level_parent_and_bbox(client, tiny, tokens) -> None:
    h = bearer(tokens["viewer"])
    grids = client.get("/api/v1/areas?level=grid", headers=h).get_json()
    assert sorted(f["id"] for f in grids["features"]) == [G1, G2, G3, G4]
    village = client.get("/api/v1/areas?level=grid&parent=900001001001", headers=h).get_json()
    assert sorted(f["id"] for f in village["features"]) == [G1, G2]
    box = client.get("/api/v1/areas?level=grid&bbox=103.028,35.008,103.032,35.012",
                     headers=h).get_json()
    assert [f["id"] for f in box["features"]] == [G4]
    bad = client.get("/api/v1/areas?level=street", headers=h)
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "level"


@pytest.mark.parametrize("crs", ["EPSG:3857", "EPSG:4522", "gcj02"])
def test_geometry_in_the_asked_crs(client, tiny, tokens, crs) -> None:
    body = client.get(f"/api/v1/areas/{G1}?out_crs={crs}", headers=bearer(tokens["viewer"])
                      ).get_json()
    assert body["crs"] == crs
    x, y = from_wgs84(103.0, 35.0, crs)
    coords = np.asarray(shape(body["geometry"]).geoms[0].exterior.coords)
    assert np.isclose(coords, [float(x), float(y)], rtol=0, atol=1e-6).all(axis=1).any()


def test_simplify_keeps_neighbours_meeting(engine, tiny) -> None:
    """Jagged shared edges, simplified as a coverage: still no gaps and no overlaps."""
    import geopandas as gpd

    from .conftest import import_now

    teeth = [(103.01 + (0.0004 if i % 2 else -0.0004) * (i % 3), 35.0 + i * 0.0005)
             for i in range(41)]
    left = shapely.Polygon([(103.0, 35.0), *teeth, (103.0, 35.02)])
    right = shapely.Polygon([(103.02, 35.0), (103.02, 35.02), *teeth[::-1]])
    grids = gpd.GeoDataFrame({"code": [G1, G2], "name": ["一", "二"],
                              "parent_code": ["900001001001"] * 2, "kind": [None, None]},
                             geometry=[shapely.MultiPolygon([left]),
                                       shapely.MultiPolygon([right])], crs="EPSG:4326")
    assert import_now(engine, grids, "grid", author="t").written
    with engine.connect() as conn:
        from geo_service.versions import live_version

        vi = build_indexes(conn, live_version(conn))
        raw = area_collection(conn, vi, level="grid", parent="900001001001")
        simple = area_collection(conn, vi, level="grid", parent="900001001001",
                                 simplify_m=200)
    geoms = np.array([shape(f["geometry"]) for f in simple["features"]])
    before = sum(len(shapely.get_coordinates(shape(f["geometry"]))) for f in raw["features"])
    assert len(shapely.get_coordinates(geoms)) < before
    assert shapely.coverage_is_valid(geoms)
    assert shapely.intersection(geoms[0], geoms[1]).area == pytest.approx(0, abs=1e-12)
    assert shapely.union_all(geoms).area == pytest.approx(0.02 * 0.02, rel=1e-9)


def test_crs_means_input_and_out_crs_output(client, tiny, tokens) -> None:
    """One meaning per name: /areas has no input coordinates but the WGS84 bbox."""
    h = bearer(tokens["viewer"])
    for url in (f"/api/v1/areas/{G1}?crs=EPSG:3857", "/api/v1/areas?crs=EPSG:3857"):
        resp = client.get(url, headers=h)
        assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "crs"
        assert "out_crs" in resp.get_json()["error"]["message"]
    bad = client.get(f"/api/v1/areas/{G1}?out_crs=EPSG:9999", headers=h)
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "out_crs"


def test_simplified_layers_carry_no_digits_below_a_tenth_of_a_metre(client, tokens):
    body = client.get("/api/v1/areas?level=grid&simplify=5&out_crs=gcj02",  # many digits
                      headers=bearer(tokens["viewer"])).get_json()
    coords = [c for f in body["features"] for poly in f["geometry"]["coordinates"]
              for ring in poly for c in ring]
    assert coords and all(round(v, 6) == v for c in coords for v in c)


def test_a_whole_simplified_level_is_encoded_once_per_version(app, client, tiny, tokens,
                                                              engine, monkeypatch):
    """Walls ask for whole levels simplified: the answer is made once per version (kept
    gzipped with its index) and says what the level does, gzipped or plain as the client
    accepts; a request filtered by parent, bbox, `within` or the token's area is not it."""
    h = bearer(tokens["viewer"])
    url = "/api/v1/areas?level=grid&simplify=50"
    plain = client.get(url, headers=h)
    packed = client.get(url, headers={**h, "Accept-Encoding": "gzip"})
    assert plain.status_code == packed.status_code == 200
    assert "Content-Encoding" not in plain.headers and "Accept-Encoding" in plain.vary
    assert packed.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(packed.data)) == plain.get_json()
    vi = services(app).indexes.live()
    with engine.connect() as conn:
        fresh = area_collection(conn, vi, level="grid", simplify_m=50)
    assert plain.get_json() == json.loads(json.dumps(fresh))
    assert ("areas.gz", "grid", 50.0, "EPSG:4326") in vi.memo

    def not_again(*_a, **_kw):
        raise AssertionError("computed again")

    monkeypatch.setattr("geo_service.versions.areas.area_collection", not_again)
    assert client.get(url, headers=h).get_json() == plain.get_json()  # from the memo
    with engine.begin() as conn:
        county = create_token(conn, name="county", role="viewer", area_code="900001")
    for other, token in ((f"{url}&within=900001", tokens["viewer"]), (url, county),
                         (f"{url}&parent=900001001001", tokens["viewer"])):
        with pytest.raises(AssertionError, match="computed again"):
            client.get(other, headers=bearer(token))
