"""Bad input that once got a 500 or a wrong answer: each now gets the one error shape.

Every test here failed before its fix; the tiny prefecture (tests/tiny.py) sits near
103°E 35°N, so (35.01, 103.005) is a point of it with its axes swapped.
"""

from __future__ import annotations

import io

import pytest

from .conftest import bearer
from .tiny import G1

LOOKUP = "/api/v1/lookup"


def _error(resp, status: int, code: str, field: str | None = None) -> dict:  # noqa: ANN001
    body = resp.get_json()
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    assert set(body) == {"error"} and {"code", "message", "field"} <= set(body["error"])
    assert body["error"]["code"] == code, body
    if field is not None:
        assert body["error"]["field"] == field, body
    return body["error"]


def _post(client, token: str, data: bytes | str, content_type: str = "application/json",  # noqa: ANN001
          **kw):  # noqa: ANN003, ANN202
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
def test_unparseable_json_is_400_naming_the_problem(client, tiny, tokens, body, says) -> None:  # noqa: ANN001
    err = _error(_post(client, tokens["viewer"], body), 400, "invalid_json", "body")
    assert says in err["message"]


def test_nan_still_reported_by_index(client, tiny, tokens) -> None:  # noqa: ANN001
    resp = _post(client, tokens["viewer"], '{"points": [[103.005, 35.01], [NaN, 35.0]]}')
    body = resp.get_json()
    assert resp.status_code == 200 and body["grid"] == [G1, None]
    assert [e["index"] for e in body["errors"]] == [1]


# --------------------------------------------------------------------- 6. bodies


def test_chunked_body_over_the_limit_is_413(client, tiny, tokens) -> None:  # noqa: ANN001
    big = io.BytesIO(b'{"points": [' + b"[103.005, 35.01]," * (40 * 2**20 // 17) + b"[1, 2]]}")
    resp = client.post(LOOKUP, input_stream=big, content_type="application/json",
                       headers={**bearer(tokens["viewer"]), "Transfer-Encoding": "chunked"})
    err = _error(resp, 413, "too_large")
    assert str(32 * 1024 * 1024) in err["message"]


def test_small_chunked_body_is_read(client, tiny, tokens) -> None:  # noqa: ANN001
    resp = client.post(LOOKUP, input_stream=io.BytesIO(b'{"points": [[103.005, 35.01]]}'),
                       content_type="application/json",
                       headers={**bearer(tokens["viewer"]), "Transfer-Encoding": "chunked"})
    assert resp.status_code == 200 and resp.get_json()["grid"] == [G1]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          None])
def test_json_sent_as_something_else_is_415(client, tiny, tokens, content_type) -> None:  # noqa: ANN001
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
def test_repeated_query_key_is_400_everywhere(client, tiny, tokens, url, key) -> None:  # noqa: ANN001
    _error(client.get(url, headers=bearer(tokens["admin"])), 400, "repeated_parameter", key)


def test_repeated_query_key_in_batch_is_400(client, tiny, tokens) -> None:  # noqa: ANN001
    resp = client.post(f"{LOOKUP}?crs=gcj02&crs=bd09", json={"points": [[103.005, 35.01]]},
                       headers=bearer(tokens["viewer"]))
    _error(resp, 400, "repeated_parameter", "crs")


# --------------------------------------------------------------------- 8. HTTP conventions


def test_401_says_bearer(client, tiny) -> None:  # noqa: ANN001
    resp = client.get(f"{LOOKUP}?lon=103.005&lat=35.01")
    _error(resp, 401, "unauthorized")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_405_says_allow(client, tokens) -> None:  # noqa: ANN001
    resp = client.delete(LOOKUP, headers=bearer(tokens["admin"]))
    _error(resp, 405, "method_not_allowed")
    assert {"GET", "POST"} <= {m.strip() for m in resp.headers["Allow"].split(",")}


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer", "bEaReR"])
def test_bearer_scheme_is_case_insensitive(client, tiny, tokens, scheme) -> None:  # noqa: ANN001
    resp = client.get(f"{LOOKUP}?lon=103.005&lat=35.01",
                      headers={"Authorization": f"{scheme} {tokens['viewer']}"})
    assert resp.status_code == 200 and resp.get_json()["grid"]["code"] == G1


def test_long_url_is_json_414(client, tiny, tokens) -> None:  # noqa: ANN001
    resp = client.get(f"{LOOKUP}?lon=103.005&lat=35.01&x={'9' * 5000}",
                      headers=bearer(tokens["viewer"]))
    _error(resp, 414, "uri_too_long", "url")


def test_huge_header_is_json_431(client, tiny, tokens) -> None:  # noqa: ANN001
    resp = client.get(f"{LOOKUP}?lon=103.005&lat=35.01",
                      headers={**bearer(tokens["viewer"]), "X-Note": "n" * 9000})
    _error(resp, 431, "header_too_large", "X-Note")


def test_out_of_scope_names_the_field(app, client, tiny) -> None:  # noqa: ANN001
    from geo_service import services
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
def test_empty_parameter_is_not_absent(client, tiny, tokens, url, code, field) -> None:  # noqa: ANN001
    _error(client.get(url, headers=bearer(tokens["viewer"])), 400, code, field)
