"""Bad input that once got a 500 or a wrong answer: each now gets the one error shape.

Every test here failed before its fix; the tiny prefecture (tests/tiny.py) sits near
103°E 35°N, so (35.01, 103.005) is a point of it with its axes swapped.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from boundaries.crs import from_wgs84

from .conftest import bearer
from .tiny import G1

LOOKUP = "/api/v1/lookup"


def _error(resp, status: int, code: str, field: str | None = None) -> dict:
    body = resp.get_json()
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    assert set(body) == {"error"} and {"code", "message", "field"} <= set(body["error"])
    assert body["error"]["code"] == code, body
    if field is not None:
        assert body["error"]["field"] == field, body
    return body["error"]


def _post(client, token: str, data: bytes | str, content_type: str = "application/json",
          **kw):
    return client.post(LOOKUP, data=data, content_type=content_type, headers=bearer(token),
                       **kw)


# --------------------------------------------------------------------- 1. JSON that crashed


@pytest.mark.parametrize(("body", "says"), [
    ("[" * 1100, "nested"),                                   # RecursionError in json
    ("[" * 1100 + "]" * 1100, "nested"),                      # orjson's depth limit
    ('{"points": [[103.005, 35.01]], "crs": "\\ud800"}', "surrogate"),
    ('{"type": "FeatureCollection", "features": [{"type": "Feature", "id": "\\udc00", '
     '"geometry": {"type": "Point", "coordinates": [103.005, 35.01]}}]}', "surrogate"),
    ('{"points": [[NaN, 35.01]], "crs": "\\ud800"}', "surrogate"),  # via the json fallback
    ('{"points": [[103.005, 35.01]', "not valid JSON"),
])
def test_unparseable_json_is_400_naming_the_problem(client, tiny, tokens, body, says) -> None:
    err = _error(_post(client, tokens["viewer"], body), 400, "invalid_json", "body")
    assert says in err["message"]


def test_nan_still_reported_by_index(client, tiny, tokens) -> None:
    resp = _post(client, tokens["viewer"], '{"points": [[103.005, 35.01], [NaN, 35.0]]}')
    body = resp.get_json()
    assert resp.status_code == 200 and body["grid"] == [G1, None]
    assert [e["index"] for e in body["errors"]] == [1]


# --------------------------------------------------------------------- 6. bodies


def test_chunked_body_over_the_limit_is_413(client, tiny, tokens) -> None:
    big = io.BytesIO(b'{"points": [' + b"[103.005, 35.01]," * (40 * 2**20 // 17) + b"[1, 2]]}")
    resp = client.post(LOOKUP, input_stream=big, content_type="application/json",
                       headers={**bearer(tokens["viewer"]), "Transfer-Encoding": "chunked"})
    err = _error(resp, 413, "too_large")
    assert str(32 * 1024 * 1024) in err["message"]


def test_small_chunked_body_is_read(client, tiny, tokens) -> None:
    resp = client.post(LOOKUP, input_stream=io.BytesIO(b'{"points": [[103.005, 35.01]]}'),
                       content_type="application/json",
                       headers={**bearer(tokens["viewer"]), "Transfer-Encoding": "chunked"})
    assert resp.status_code == 200 and resp.get_json()["grid"] == [G1]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          None])
def test_json_sent_as_something_else_is_415(client, tiny, tokens, content_type) -> None:
    resp = client.post(LOOKUP, data='{"points": [[103.005, 35.01]]}',
                       headers={**bearer(tokens["viewer"]),
                                **({"Content-Type": content_type} if content_type else {})})
    err = _error(resp, 415, "unsupported_media_type", "body")
    assert "application/json" in err["message"]


# --------------------------------------------------------------------- 4. repeated keys


@pytest.mark.parametrize(("url", "key"), [
    ("/api/v1/lookup?lon=103.005&lat=35.01&lon=103.015", "lon"),
    ("/api/v1/lookup?lon=103.005&lat=35.01&crs=EPSG:4326&crs=gcj02", "crs"),
    (f"/api/v1/areas/{G1}?version=1&version=2", "version"),
    ("/api/v1/areas?level=grid&level=county", "level"),
    (f"/api/v1/areas/{G1}/households?page=1&page=2", "page"),
])
def test_repeated_query_key_is_400_everywhere(client, tiny, tokens, url, key) -> None:
    _error(client.get(url, headers=bearer(tokens["admin"])), 400, "repeated_parameter", key)


def test_repeated_query_key_in_batch_is_400(client, tiny, tokens) -> None:
    resp = client.post(f"{LOOKUP}?crs=gcj02&crs=bd09", json={"points": [[103.005, 35.01]]},
                       headers=bearer(tokens["viewer"]))
    _error(resp, 400, "repeated_parameter", "crs")


@pytest.mark.parametrize("body, key", [
    ('{"points": [[103.005, 35.01]], "points": [[103.03, 35.01]]}', "points"),
    ('{"crs": "gcj02", "points": [[103.005, 35.01]], "crs" : "EPSG:4326"}', "crs"),  # spaced
    ('{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": '
     '{"type": "Point", "coordinates": [103.005, 35.01], "type": "Polygon"}}]}', "type"),
    ('{"points": [[103.005, 35.01]], "crs": "gcj02", "\\u0063rs": "bd09"}', "crs"),  # escaped
])
def test_repeated_json_key_is_400_naming_it(client, tiny, tokens, body, key) -> None:
    """A parser keeps the last of two equal keys; which one the client meant is unknown."""
    _error(_post(client, tokens["viewer"], body), 400, "repeated_parameter", key)


def test_equal_keys_in_different_objects_are_fine(client, tiny, tokens) -> None:
    body = ('{"points": [[103.005, 35.01]], "note": "a \\"quoted\\": string", '
            '"chain": {"chain": 1}}')
    assert _post(client, tokens["viewer"], body).status_code != 500
    assert "repeated" not in _post(client, tokens["viewer"], body).get_data(as_text=True)


# --------------------------------------------------------------------- 8. HTTP conventions


def test_401_says_bearer(client, tiny) -> None:
    resp = client.get(f"{LOOKUP}?lon=103.005&lat=35.01")
    _error(resp, 401, "unauthorized")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_405_says_allow(client, tokens) -> None:
    resp = client.delete(LOOKUP, headers=bearer(tokens["admin"]))
    _error(resp, 405, "method_not_allowed")
    assert {"GET", "POST"} <= {m.strip() for m in resp.headers["Allow"].split(",")}


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer", "bEaReR"])
def test_bearer_scheme_is_case_insensitive(client, tiny, tokens, scheme) -> None:
    resp = client.get(f"{LOOKUP}?lon=103.005&lat=35.01",
                      headers={"Authorization": f"{scheme} {tokens['viewer']}"})
    assert resp.status_code == 200 and resp.get_json()["grid"]["code"] == G1


def test_long_url_is_json_414(client, tiny, tokens) -> None:
    resp = client.get(f"{LOOKUP}?lon=103.005&lat=35.01&x={'9' * 5000}",
                      headers=bearer(tokens["viewer"]))
    _error(resp, 414, "uri_too_long", "url")


def test_huge_header_is_json_431(client, tiny, tokens) -> None:
    resp = client.get(f"{LOOKUP}?lon=103.005&lat=35.01",
                      headers={**bearer(tokens["viewer"]), "X-Note": "n" * 9000})
    _error(resp, 431, "header_too_large", "X-Note")


def test_out_of_scope_names_the_field(app, client, tiny) -> None:
    from geo_service.app import services
    from geo_service.auth import create_token

    with services(app).engine.begin() as conn:
        token = create_token(conn, name="scoped", role="viewer", area_code="900002")
    _error(client.get(f"/api/v1/areas/{G1}", headers=bearer(token)), 403, "out_of_scope",
           "code")
    _error(client.get("/api/v1/areas?parent=900001", headers=bearer(token)), 403,
           "out_of_scope", "parent")


@pytest.mark.parametrize(("url", "code", "field"), [
    ("/api/v1/areas?bbox=", "invalid_bbox", "bbox"),
    ("/api/v1/areas?version=", "invalid_version", "version"),
    (f"/api/v1/areas/{G1}?version=", "invalid_version", "version"),
    ("/api/v1/lookup?lon=103.005&lat=35.01&version=", "invalid_version", "version"),
])
def test_empty_parameter_is_not_absent(client, tiny, tokens, url, code, field) -> None:
    _error(client.get(url, headers=bearer(tokens["viewer"])), 400, code, field)


# --------------------------------------------------------------------- 2. range per CRS

# G1's middle (103.005, 35.01) in each CRS, and what wrong versions of it must answer.
_MERC_X, _MERC_Y = 11466464.149161143, 4165240.18717266
_GK_X, _GK_Y = 34591735.06898137, 3876163.917678814  # EPSG:4522, zone prefix 34
_MERC_HALF = 20037508.342789244

OUT_OF_RANGE = [
    # crs, x, y, code, field, why
    ("EPSG:3857", _MERC_X + 2 * _MERC_HALF, _MERC_Y, "out_of_range", "lon",
     "x past the antimeridian wrapped round the globe into G1"),
    ("EPSG:3857", 1e20, _MERC_Y, "out_of_range", "lon", "once answered as 121.36°E"),
    ("EPSG:3857", _MERC_X, -3e7, "out_of_range", "lat", "y beyond ±85.06°"),
    ("EPSG:4522", _GK_X - 34_000_000, _GK_Y, "out_of_range", "lon", "zone prefix left off"),
    ("EPSG:4543", _GK_X, _GK_Y, "out_of_range", "lon", "a prefix where the CRS has none"),
    ("EPSG:4522", _GK_X, 4e7, "out_of_range", "lat", "northing past the pole"),
    ("EPSG:4496", 1e20, 1e20, "out_of_range", "lat", "6° zone, both absurd"),
    ("gcj02", 200.0, 35.01, "out_of_range", "lon", "geographic: |lon| > 180"),
    ("bd09", 103.01, -95.0, "out_of_range", "lat", "geographic: |lat| > 90"),
    ("bd09", 35.0148, 103.0136, "swapped_axes", "lon", "BD-09 point with its axes swapped"),
    ("EPSG:4326", 35.01, 103.005, "swapped_axes", "lon", "WGS84 point swapped"),
]


@pytest.mark.parametrize(("crs", "x", "y", "code", "field", "why"), OUT_OF_RANGE)
def test_out_of_range_in_its_crs_single_and_batch(client, tiny, tokens, crs, x, y, code,
                                                  field, why) -> None:
    resp = client.get(LOOKUP, query_string={"lon": repr(x), "lat": repr(y), "crs": crs},
                      headers=bearer(tokens["viewer"]))
    _error(resp, 422, code, field)
    good = [float(v) for v in from_wgs84(103.005, 35.01, crs)]
    body = client.post(LOOKUP, json={"points": [[x, y], good], "crs": crs},
                       headers=bearer(tokens["viewer"])).get_json()
    assert body["grid"] == [None, G1], why
    assert [(e["index"], e["code"], e["field"]) for e in body["errors"]] == [(0, code, field)]


@pytest.mark.parametrize(("crs", "x", "y"), [("EPSG:3857", _MERC_X, _MERC_Y),
                                             ("EPSG:4522", _GK_X, _GK_Y),
                                             ("EPSG:4543", _GK_X - 34_000_000, _GK_Y)])
def test_in_range_projected_points_still_answer(client, tiny, tokens, crs, x, y) -> None:
    resp = client.get(LOOKUP, query_string={"lon": repr(x), "lat": repr(y), "crs": crs},
                      headers=bearer(tokens["viewer"]))
    assert resp.status_code == 200 and resp.get_json()["grid"]["code"] == G1


# --------------------------------------------------------------------- 3. batch points


def _feature(i: int, geometry: dict | None) -> dict:
    return {"type": "Feature", "id": f"f{i}", "geometry": geometry, "properties": {}}


def test_only_point_features_are_looked_up(client, tiny, tokens) -> None:
    geoms = [
        {"type": "Point", "coordinates": [103.005, 35.01]},
        {"type": "LineString", "coordinates": [[103.005, 35.01], [103.015, 35.01]]},
        {"type": "Polygon", "coordinates": [[[103.005, 35.01], [103.006, 35.01],
                                             [103.006, 35.011], [103.005, 35.01]]]},
        {"type": "MultiPoint", "coordinates": [[103.005, 35.01]]},
        None,
    ]
    fc = {"type": "FeatureCollection", "features": [_feature(i, g) for i, g in enumerate(geoms)]}
    body = client.post(LOOKUP, json=fc, headers=bearer(tokens["viewer"])).get_json()
    assert body["grid"] == [G1, None, None, None, None]
    assert body["ids"] == ["f0", "f1", "f2", "f3", "f4"]
    errors = {e["index"]: e for e in body["errors"]}
    assert set(errors) == {1, 2, 3, 4}
    assert {e["code"] for e in errors.values()} == {"invalid_geometry"}
    for i, kind in ((1, "LineString"), (2, "Polygon"), (3, "MultiPoint")):
        assert kind in errors[i]["reason"]


@pytest.mark.parametrize("others", [[], [[1]], [[103.005, 35.01]], ["x"]])
def test_string_coordinates_are_refused_whatever_the_other_points(client, tiny, tokens,
                                                                  others) -> None:
    points = [["103.005", "35.01"], [103.005, "35.01"], [True, 35.01], *others]
    body = client.post(LOOKUP, json={"points": points},
                       headers=bearer(tokens["viewer"])).get_json()
    assert body["grid"][:3] == [None, None, None]
    errors = {e["index"]: (e["code"], e["field"]) for e in body["errors"]}
    assert [errors[i] for i in range(3)] == [("invalid_number", "lon"),
                                             ("invalid_number", "lat"),
                                             ("invalid_number", "lon")]


# --------------------------------------------------------------------- 5. query numbers


@pytest.mark.parametrize("lon", ["١٠٣.٠٠٥", "１０３.００５", "1_03.005", " 103.005", "103.005 ",
                                 "0x67", "nan", "infinity", "103,005", "1e", "."])
def test_query_numbers_are_plain_ascii_decimals(client, tiny, tokens, lon) -> None:
    resp = client.get(LOOKUP, query_string={"lon": lon, "lat": "35.01"},
                      headers=bearer(tokens["viewer"]))
    _error(resp, 400, "invalid_number", "lon")


@pytest.mark.parametrize("lon", ["103.005", "+103.005", "1.03005e2", "1.03005E+2",
                                 "10300.5e-2"])
def test_plain_decimals_still_read(client, tiny, tokens, lon) -> None:
    resp = client.get(LOOKUP, query_string={"lon": lon, "lat": "35.01"},
                      headers=bearer(tokens["viewer"]))
    assert resp.status_code == 200 and resp.get_json()["grid"]["code"] == G1


def test_bbox_numbers_are_plain_ascii_decimals(client, tiny, tokens) -> None:
    resp = client.get("/api/v1/areas", query_string={"bbox": "１０３,35,103.1,35.1"},
                      headers=bearer(tokens["viewer"]))
    _error(resp, 400, "invalid_number", "bbox")


# --------------------------------------------------------------------- 7. CRS names, cost


class _NoProj:
    """Stands in for pyproj: any use fails the test."""

    def __getattr__(self, name: str):
        raise AssertionError(f"pyproj.{name} used to refuse a CRS name")


def _forbid_proj(monkeypatch) -> None:
    """Replace pyproj by _NoProj in every module of boundaries.crs that uses it."""
    import importlib
    import pkgutil

    import boundaries.crs

    for info in pkgutil.iter_modules(boundaries.crs.__path__):
        module = importlib.import_module(f"boundaries.crs.{info.name}")
        if hasattr(module, "pyproj"):
            monkeypatch.setattr(module, "pyproj", _NoProj())


@pytest.mark.parametrize("crs", [
    "+proj=longlat +datum=WGS84 +no_defs",
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
    'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]',
    "EPSG:32648",          # a real EPSG code, but not one the service documents
    "EPSG:4555",           # just past the Gauss-Krüger range
    "urn:ogc:def:crs:EPSG::4326",
    "EPSG:٤٣٢٦",           # non-ASCII digits
    "x" * 500,
])
def test_undocumented_crs_refused_without_proj(client, tiny, tokens, monkeypatch, crs) -> None:
    _forbid_proj(monkeypatch)
    resp = client.get(LOOKUP, query_string={"lon": "103.005", "lat": "35.01", "crs": crs},
                      headers=bearer(tokens["viewer"]))
    err = _error(resp, 400, "unknown_crs", "crs")
    assert "EPSG:4491–4554" in err["message"] and len(err["message"]) < 400
    resp = client.post(LOOKUP, json={"points": [[103.005, 35.01]], "crs": crs},
                       headers=bearer(tokens["viewer"]))
    _error(resp, 400, "unknown_crs", "crs")


@pytest.mark.parametrize("crs", ["wgs84", "CRS84", "epsg:4326", "4490", "CGCS2000", "GCJ-02",
                                 "bd09ll", "BD_09", " EPSG:3857 "])
def test_documented_aliases_still_accepted(client, tiny, tokens, crs) -> None:
    resp = client.get(LOOKUP, query_string={"lon": "103.03", "lat": "35.01", "crs": crs},
                      headers=bearer(tokens["viewer"]))
    assert resp.status_code in (200, 422), resp.get_json()  # 3857 degrees: out of service
    assert resp.status_code == 200 or crs.strip() == "EPSG:3857"


def test_100000_swapped_bd09_points_get_their_errors(client, tiny, tokens) -> None:
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(103.001, 103.039, 100_000), rng.uniform(35.001, 35.019, 100_000)
    x, y = from_wgs84(lon, lat, "bd09")
    swapped = np.column_stack([y, x]).tolist()
    body = client.post(LOOKUP, json={"points": swapped, "crs": "bd09"},
                       headers=bearer(tokens["viewer"])).get_json()
    assert body["grid"] == [None] * 100_000
    assert [e["index"] for e in body["errors"]] == list(range(100_000))
    assert {(e["code"], e["field"]) for e in body["errors"]} == {("swapped_axes", "lon")}
    right = client.post(LOOKUP, json={"points": np.column_stack([x, y]).tolist()[:1000],
                                      "crs": "bd09"},
                        headers=bearer(tokens["viewer"])).get_json()
    assert right["errors"] == [] and None not in right["grid"]


# --------------------------------------------------------------------- helpers, directly


@pytest.mark.parametrize("qs", [
    "lon=103.005&lat=35.01", "", "&&", "a", "a=", "=1", "a=1&b", "a=%41%2B+b&b=%E9",
    "a=%ED%A0%80", "a%3D=1", "crs=EPSG%3A4326", "a=1=2",
])
def test_query_reads_what_parse_qsl_reads(qs: str) -> None:
    from urllib.parse import parse_qsl

    from flask import Flask

    from geo_service.web import query

    with Flask("q").test_request_context("/?" + qs):
        assert query() == dict(parse_qsl(qs, keep_blank_values=True))


@pytest.mark.parametrize(("name", "canonical"), [
    ("EPSG:4326", "EPSG:4326"), ("epsg:4522", "EPSG:4522"), (" 4490 ", "EPSG:4490"),
    (4490, "EPSG:4490"), ("WGS 84", "EPSG:4326"), ("bd-09", "bd09"), ("Gcj_02", "gcj02"),
    ("EPSG:٤٣٢٦", None), ("+proj=longlat", None), ("EPSG::4326", None), (True, None),
    (4.0, None), ("9" * 100, None),
])
def test_canonical_name_never_asks_proj(monkeypatch, name, canonical) -> None:
    from boundaries.crs import canonical_name

    _forbid_proj(monkeypatch)
    assert canonical_name(name) == canonical


def test_gauss_kruger_bounds_hold_their_zone() -> None:
    from boundaries.crs import valid_bounds

    x0, y0, x1, y1 = valid_bounds("EPSG:4522")  # zone 34, central meridian 102°E
    assert 34_000_000 < x0 < 34_500_000 < x1 < 35_000_000
    assert y0 < 3_876_164 < y1  # Gannan's northing
    x0, _, x1, _ = valid_bounds("EPSG:4543")  # the same zone without its prefix
    assert 0 < x0 < 500_000 < x1 < 1_000_000


@pytest.mark.parametrize("version", ["１", "١", "+1", " 1", "01", "1_0", "1.0", "0x1"])
def test_version_is_plain_ascii_digits(client, tiny, tokens, version) -> None:
    resp = client.get("/api/v1/lookup", query_string={"lon": 103.005, "lat": 35.01,
                                                      "version": version},
                      headers={"Authorization": f"Bearer {tokens['viewer']}"})
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "invalid_version"
    body = client.post("/api/v1/lookup", json={"points": [[103.005, 35.01]],
                                               "version": str(tiny)},
                       headers={"Authorization": f"Bearer {tokens['viewer']}"})
    assert body.status_code == 400  # a JSON body's version is a JSON integer


def test_a_position_may_carry_an_altitude(client, tiny, tokens) -> None:
    body = client.post("/api/v1/lookup", headers={"Authorization": f"Bearer {tokens['viewer']}"},
                       json={"type": "FeatureCollection", "features": [
                           {"type": "Feature", "id": 1, "geometry": {
                               "type": "Point", "coordinates": [103.005, 35.01, 3000.0]}},
                           {"type": "Feature", "id": 2, "geometry": {
                               "type": "Point", "coordinates": [103.005, 35.01, "high"]}}]}
                       ).get_json()
    assert body["grid"][0] == "900001001001001" and body["grid"][1] is None
    assert body["errors"][0]["index"] == 1 and body["errors"][0]["field"] == "altitude"


@pytest.mark.parametrize("bbox", ["104,36,102,34", "-200,-100,200,100", "35,103,35.02,103.04"])
def test_a_bbox_must_be_a_box_in_range(client, tiny, tokens, bbox) -> None:
    resp = client.get("/api/v1/areas", query_string={"bbox": bbox},
                      headers={"Authorization": f"Bearer {tokens['viewer']}"})
    assert resp.status_code == 422 and resp.get_json()["error"]["field"] == "bbox"
