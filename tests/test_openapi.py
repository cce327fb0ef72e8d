"""The OpenAPI document at /api/v1/openapi.json: valid, complete, true to the app, offline docs.

Schemathesis fuzzes every operation through the WSGI app on the tiny prefecture (SQLite):
no input may get a 5xx, and every answer must match the document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import schemathesis
import shapely
from apispec_webframeworks.flask import FlaskPlugin
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from boundaries.levels import LEVELS
from geo_service.app import create_app, services
from geo_service.auth import PUBLIC, create_token
from geo_service.store.tables import households, worker_areas, workers
from geo_service.web.areas import MAX_SIMPLIFY_M

from .conftest import bearer, load_tiny
from .tiny import G1, G4

METHODS_UNDOCUMENTED = {"HEAD", "OPTIONS"}


@pytest.fixture(scope="module")
def tiny_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The tiny prefecture on SQLite with one worker and one household in G1.

    Not TESTING: an exception must reach schemathesis as the 500 a client would get.
    Event streams end after 0.2 s, so the fuzzer (which reads a whole answer) gets each
    one whole, replay and all; tests/test_event_stream.py reads them live.
    """
    db = tmp_path_factory.mktemp("openapi") / "geo.sqlite3"
    app = create_app({"DATABASE_URL": f"sqlite:///{db}", "STREAM_MAX_S": 0.2}, migrate=True)
    engine = services(app).engine
    load_tiny(engine)
    with engine.begin() as conn:
        wid = conn.execute(workers.insert().values(
            code="W1", name="张三丰", role="grid_leader", phone="13812345678", on_duty=True)
        ).inserted_primary_key[0]
        conn.execute(worker_areas.insert().values(worker_id=wid, area_code=G1))
        conn.execute(households.insert().values(
            code="H1", address="一号院", grid_code=G1, group_code=G1 + "001",
            head_name="李四", phone="13900001111", members=3, care_tags="elderly;",
            geom=shapely.Point(103.005, 35.01)))
        app.config["TEST_TOKENS"] = {
            role: create_token(conn, name=f"oa-{role}", role=role,
                               area_code="900000" if role == "worker" else None)
            for role in ("admin", "worker")}
    yield app
    services(app).close()


@pytest.fixture(scope="module")
def api_schema(tiny_app: Flask):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", tiny_app)


@pytest.fixture(scope="module")
def spec(tiny_app: Flask) -> dict:
    resp = tiny_app.test_client().get("/api/v1/openapi.json")
    assert resp.status_code == 200
    return resp.get_json()


def test_document_is_valid_openapi(api_schema) -> None:
    api_schema.validate()  # against the OpenAPI meta-schema; raises when invalid
    assert api_schema.raw_schema["openapi"].startswith("3.")


def test_document_lists_every_registered_route(tiny_app: Flask, spec: dict) -> None:
    registered = {(FlaskPlugin.flaskpath2openapi(rule.rule), method.lower())
                  for rule in tiny_app.url_map.iter_rules()
                  if rule.rule.startswith(("/api/v1/", "/open311/v2/"))
                  for method in rule.methods - METHODS_UNDOCUMENTED}
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops
                  if method in {"get", "post", "put", "patch", "delete"}}
    assert registered - documented == set(), "routes missing from the document"
    assert documented - registered == set(), "documented operations with no route"
    assert len(registered) >= 9


def test_document_says_what_the_gate_enforces(tiny_app: Flask, spec: dict) -> None:
    for rule in tiny_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        roles = tiny_app.view_functions[rule.endpoint].allowed_roles
        for method in rule.methods - METHODS_UNDOCUMENTED:
            op = spec["paths"][FlaskPlugin.flaskpath2openapi(rule.rule)][method.lower()]
            where = (method, rule.rule)
            assert op["summary"] and op["operationId"], where
            if PUBLIC in roles:
                assert op["security"] == [], where
            else:
                assert op["security"] == [{"bearerAuth": []}], where
                assert {"401", "403"} <= set(op["responses"]), where
                assert all(r in op["description"] for r in roles), where
            errors = {code: r for code, r in op["responses"].items() if int(code) >= 400}
            for code, r in errors.items():
                assert r["$ref"].startswith("#/components/responses/"), (where, code)
    for r in spec["components"]["responses"].values():
        assert r["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"}


def test_document_is_built_once_per_app(tiny_app: Flask) -> None:
    client = tiny_app.test_client()
    client.get("/api/v1/openapi.json")
    first = tiny_app.extensions["openapi"]
    client.get("/api/v1/openapi.json")
    assert tiny_app.extensions["openapi"] is first


def test_docs_page_loads_only_from_this_service(tiny_app: Flask) -> None:
    client = tiny_app.test_client()
    resp = client.get("/api/v1/docs")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert re.search(r'"specUrl": ?"/api/v1/openapi.json"', page)
    links = [u for u in re.findall(r'(?:src|href)="([^"]+)"', page) if u != "data:,"]
    assert len(links) == 3 and all(u.startswith("/static/") for u in links), links
    for url in links:
        asset = client.get(url)
        assert asset.status_code == 200, url
        asset.close()


# Known-good requests, so each success shape is checked against a real answer too (the
# fuzzer rarely guesses an area code). (method, path, query or body, role)
HAPPY = [
    ("GET", "/api/v1/health", None, "admin"),
    ("GET", "/api/v1/ping", None, "worker"),
    ("GET", "/api/v1/versions", None, "admin"),
    ("GET", "/api/v1/lookup", {"lon": 103.005, "lat": 35.01}, "worker"),  # with people
    ("GET", "/api/v1/lookup", {"lon": 102.999, "lat": 35.01}, "admin"),  # nearest
    ("GET", "/api/v1/lookup", {"lon": 103.03, "lat": 35.01, "out_crs": "gcj02"}, "admin"),
    ("POST", "/api/v1/lookup", {"points": [[103.005, 35.01], "bad", [200, 35]],
                                "chain": True}, "admin"),
    ("POST", "/api/v1/lookup", {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "r0",
         "geometry": {"type": "Point", "coordinates": [103.03, 35.01]}}]}, "worker"),
    ("GET", f"/api/v1/areas/{G4}", None, "admin"),
    ("GET", "/api/v1/areas/900000", None, "admin"),
    ("GET", "/api/v1/areas", {"level": "grid", "bbox": "103,35,103.015,35.02",
                              "simplify": "50"}, "admin"),
    ("GET", "/api/v1/areas", {"level": "county", "parent": "900000"}, "admin"),
    ("GET", f"/api/v1/areas/{G1}/households", None, "admin"),
    ("GET", "/api/v1/areas/900001/households", {"per_page": 1}, "worker"),  # masked
    ("GET", "/api/v1/coverage", None, "admin"),  # H1 (elderly) overdue, listed
    ("GET", "/api/v1/coverage", {"area": G1, "days": 7}, "worker"),
    ("GET", "/api/v1/stats", None, "admin"),
    ("GET", "/api/v1/events", {"after": 0}, "worker"),  # replays the boundary version
]


@pytest.mark.parametrize(("method", "path", "data", "role"), HAPPY)
def test_known_good_answers_match_the_document(tiny_app, api_schema, method, path, data,
                                               role) -> None:
    client = tiny_app.test_client()
    headers = bearer(tiny_app.config["TEST_TOKENS"][role])
    if method == "GET":
        resp = client.get(path, query_string=data, headers=headers)
    else:
        resp = client.post(path, json=data, headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    template = re.sub(r"/areas/[0-9]+", "/areas/{code}", path)
    api_schema[template][method].validate_response(resp)


def test_callout_answers_match_the_document(tiny_app, api_schema) -> None:
    """A call-out's whole life (sent, listed, seen, acknowledged, closed), each answer
    checked against the document; W1 first sends a fix so that it is online and called."""
    client = tiny_app.test_client()
    headers = bearer(tiny_app.config["TEST_TOKENS"]["admin"])
    fix = {"lon": 103.005, "lat": 35.01, "recorded_at": datetime.now(UTC).isoformat()}
    assert client.post("/api/v1/workers/W1/positions", json={"fixes": [fix]},
                       headers=headers).status_code == 200
    sent = client.post("/api/v1/callouts", json={"area": G1, "message": "集合"},
                       headers=headers)
    assert sent.status_code == 201, sent.get_json()
    api_schema["/api/v1/callouts"]["POST"].validate_response(sent)
    cid = sent.get_json()["id"]
    assert [t["code"] for t in sent.get_json()["targets"]] == ["W1"]
    one = "/api/v1/callouts/{callout_id}"
    steps = [("GET", "/api/v1/callouts", None, "/api/v1/callouts"),
             ("POST", f"/api/v1/callouts/{cid}/ack", {"worker": "W1", "lon": 103.006,
                                                       "lat": 35.01}, one + "/ack"),
             ("POST", f"/api/v1/callouts/{cid}/close", None, one + "/close"),
             ("GET", f"/api/v1/callouts/{cid}", None, one)]
    for method, path, body, template in steps:
        resp = client.open(path, method=method, json=body, headers=headers)
        assert resp.status_code == 200, (path, resp.get_json())
        api_schema[template][method].validate_response(resp)
    assert resp.get_json()["counts"]["acked"] == 1


def test_draft_answers_match_the_document(tiny_app, api_schema) -> None:
    """A draft's whole life (opened, listed, read, edited with a problem, undone, redone,
    validated, exported, imported into, discarded), each answer checked against the
    document."""
    client = tiny_app.test_client()
    headers = bearer(tiny_app.config["TEST_TOKENS"]["admin"])
    opened = client.post("/api/v1/drafts", json={"note": "test"}, headers=headers)
    assert opened.status_code == 201, opened.get_json()
    api_schema["/api/v1/drafts"]["POST"].validate_response(opened)
    one = "/api/v1/drafts/{draft_id}"
    path = f"/api/v1/drafts/{opened.get_json()['id']}"
    square = shapely.geometry.mapping(shapely.box(103.005, 35.005, 103.015, 35.015))
    layer = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "geometry": shapely.geometry.mapping(shapely.box(
            103.0, 35.0, 103.01, 35.02)),
        "properties": {"code": G1, "name": "一号", "parent_code": G1[:12]}}]}
    steps = [("GET", "/api/v1/drafts", None, "/api/v1/drafts", 200),
             ("GET", path, None, one, 200),
             ("POST", path + "/edits", {"op": "add", "level": "grid", "code": "900001001001009",
                                        "name": "新", "parent_code": G1[:12],
                                        "geometry": square}, one + "/edits", 200),
             ("GET", path + "/problems", None, one + "/problems", 200),
             ("GET", path, None, one, 200),
             ("POST", path + "/undo", None, one + "/undo", 200),
             ("POST", path + "/redo", None, one + "/redo", 200),
             ("GET", path + "/areas?level=group", None, one + "/areas", 200),
             ("GET", path + "/export?format=gpkg", None, one + "/export", 200),
             ("POST", path + "/import?level=grid", layer, one + "/import", 200),
             ("POST", path + "/edits", {"op": "delete", "code": "nope"}, one + "/edits", 404),
             ("DELETE", path, None, one, 204)]
    for method, url, body, template, status in steps:
        resp = client.open(url, method=method, json=body, headers=headers)
        assert resp.status_code == status, (url, resp.get_data(as_text=True)[:500])
        api_schema[template][method].validate_response(resp)


def test_a_visit_and_its_resend_match_the_document(tiny_app, api_schema) -> None:
    client = tiny_app.test_client()
    headers = bearer(tiny_app.config["TEST_TOKENS"]["admin"])
    body = {"household": "H1", "visited_at": "2026-01-05T09:30:00+08:00", "kind": "care"}
    for status in (201, 200):
        resp = client.post("/api/v1/workers/W1/visits", json=body, headers=headers)
        assert resp.status_code == status, resp.get_data(as_text=True)
        api_schema["/api/v1/workers/{code}/visits"]["POST"].validate_response(resp)


def test_docstring_limits_match_the_code(spec: dict) -> None:
    params = {p["name"]: p["schema"] for p in spec["paths"]["/api/v1/areas"]["get"]["parameters"]
              if "name" in p}
    assert params["level"]["enum"] == list(LEVELS)
    assert params["simplify"]["maximum"] == MAX_SIMPLIFY_M


# Inputs the fuzzer once turned into a 500, each with the answer it gets now.
HUGE = 10**400  # a JSON integer no float can hold
ONCE_5XX = [
    ("POST", "/api/v1/lookup", {"points": [[HUGE, 35.0], [103.005, 35.01]]}, 200),
    ("POST", "/api/v1/lookup", {"type": "FeatureCollection", "features": [
        {"geometry": {"type": "Point", "coordinates": [HUGE, 1]}}]}, 200),
    ("POST", "/api/v1/lookup", {"points": [], "version": 10**20}, 400),  # read as 1e20
    ("POST", "/api/v1/lookup", {"points": [], "version": [1]}, 400),  # int([1])
    ("GET", "/api/v1/lookup", {"lon": 103, "lat": 35, "version": "9" * 30}, 404),
    ("GET", "/api/v1/lookup", {"lon": 5.0, "lat": 0.0}, 200),  # local projection infinite
    ("GET", "/api/v1/areas", {"simplify": "1e300"}, 400),  # GEOS overflow
    ("GET", f"/api/v1/areas/{G1}/households", {"page": "²"}, 400),  # isdigit, not int
]


@pytest.mark.parametrize(("method", "path", "data", "status"), ONCE_5XX)
def test_inputs_that_once_got_a_5xx(tiny_app, api_schema, method, path, data, status) -> None:
    client = tiny_app.test_client()
    headers = bearer(tiny_app.config["TEST_TOKENS"]["admin"])
    if method == "GET":
        resp = client.get(path, query_string=data, headers=headers)
    else:
        resp = client.post(path, data=json.dumps(data), content_type="application/json",
                           headers=headers)
    assert resp.status_code == status, resp.get_data(as_text=True)
    template = re.sub(r"/areas/[0-9]+", "/areas/{code}", path)
    api_schema[template][method].validate_response(resp)


def test_version_times_carry_their_offset(tiny_app) -> None:
    resp = tiny_app.test_client().get(
        "/api/v1/versions", headers=bearer(tiny_app.config["TEST_TOKENS"]["admin"]))
    for v in resp.get_json()["versions"]:
        assert datetime.fromisoformat(v["created_at"]).utcoffset() is not None


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=30, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_fuzzed_requests_get_no_5xx_and_documented_answers(case, tiny_app) -> None:
    # identity: schemathesis's WSGI transport does not decode gzip (tests/test_compress.py
    # checks that compressed answers are the same JSON)
    case.call_and_validate(
        headers={**bearer(tiny_app.config["TEST_TOKENS"]["admin"]),
                 "Accept-Encoding": "identity"},
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance])


def test_root_leads_to_the_docs(tiny_app: Flask) -> None:
    resp = tiny_app.test_client().get("/")
    assert resp.status_code == 302 and resp.headers["Location"] == "/api/v1/docs"


def test_open311_answers_match_the_document(tiny_app, api_schema) -> None:
    """A request filed and read back through every Open311 operation, each answer (and a
    few errors) checked against its documented shape, in both formats."""
    client = tiny_app.test_client()
    key = tiny_app.config["TEST_TOKENS"]["admin"]
    created = client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "dispute", "lat": "35.01", "long": "103.005",
        "description": "院墙纠纷", "first_name": "小明", "last_name": "王"})
    assert created.status_code == 200, created.get_data(as_text=True)
    api_schema["/open311/v2/requests.json"]["POST"].validate_response(created)
    rid = created.get_json()[0]["service_request_id"]
    calls = [("/open311/v2/discovery.{f}", "/open311/v2/discovery.{f}", 200),
             ("/open311/v2/services.{f}", "/open311/v2/services.{f}", 200),
             ("/open311/v2/services/dispute.{f}", "/open311/v2/services/{{service_code}}.{f}",
              200),
             ("/open311/v2/services/nope.{f}", "/open311/v2/services/{{service_code}}.{f}",
              404),
             ("/open311/v2/requests.{f}?status=open", "/open311/v2/requests.{f}", 200),
             ("/open311/v2/requests.{f}?status=shut", "/open311/v2/requests.{f}", 400),
             (f"/open311/v2/requests/{rid}.{{f}}",
              "/open311/v2/requests/{{service_request_id}}.{f}", 200),
             (f"/open311/v2/tokens/{rid}.{{f}}", "/open311/v2/tokens/{{token}}.{f}", 200)]
    for fmt in ("json", "xml"):
        for url, template, status in calls:
            resp = client.get(url.format(f=fmt), headers=bearer(key))
            assert resp.status_code == status, (url, resp.get_data(as_text=True))
            api_schema[template.format(f=fmt)]["GET"].validate_response(resp)
    refused = client.get("/open311/v2/requests.json")
    assert refused.status_code == 403
    api_schema["/open311/v2/requests.json"]["GET"].validate_response(refused)
