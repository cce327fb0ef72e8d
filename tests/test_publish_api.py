"""The publish endpoints over HTTP: roles, scope, the answers' shapes (checked against the
OpenAPI document), and every process's lookups following the new version."""

from __future__ import annotations

import pytest
import schemathesis

from geo_service.app import create_app, services
from geo_service.auth import create_token

from .conftest import bearer
from .publish_world import G5, merge_g2_into_g1, move_edge, populate, split_g2
from .tiny import G1, G2


@pytest.fixture
def world(engine, tiny):
    return populate(engine)


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def _checked(api_schema, resp, template: str, method: str):
    api_schema[template][method].validate_response(resp)
    return resp.get_json()


def test_preview_publish_and_every_lookup_follows(app, client, engine, tokens, world,
                                                  api_schema, db_url) -> None:
    other = create_app({"DATABASE_URL": db_url, "INDEX_REFRESH_S": 0.0,
                        "ROSTER_REFRESH_S": 0.0})  # a second process on the same store
    try:
        services(other).indexes.live()
        draft = merge_g2_into_g1(engine)
        planner = bearer(tokens["planner"])
        resp = client.get(f"/api/v1/drafts/{draft}/impact", headers=planner)
        assert resp.status_code == 200
        preview = _checked(api_schema, resp, "/api/v1/drafts/{draft_id}/impact", "GET")
        assert preview["households"] == 10 and preview["workers"] == 3
        resp = client.post(f"/api/v1/drafts/{draft}/publish", json={"note": "合并网格"},
                           headers=planner)
        assert resp.status_code == 200, resp.get_json()
        done = _checked(api_schema, resp, "/api/v1/drafts/{draft_id}/publish", "POST")
        assert done["version"] == draft and done["households_moved"] == 10
        for each in (app, other):
            vi = services(each).indexes.settle()
            assert vi.version == draft
            services(each).people.settle()
            ans = each.test_client().get("/api/v1/lookup", query_string={
                "lon": 103.015, "lat": 35.01}, headers=bearer(tokens["admin"])).get_json()
            assert ans["version"] == draft and ans["grid"]["code"] == G1
            assert {"W1", "W2", "GG"} <= {p["code"] for p in ans["people"]}
        again = client.post(f"/api/v1/drafts/{draft}/publish", headers=planner)
        assert again.status_code == 409 and again.get_json()["error"]["code"] == "not_a_draft"
    finally:
        services(other).close()


def test_the_second_planner_gets_409_with_what_changed(client, engine, tokens, world,
                                                       api_schema) -> None:
    first, second = move_edge(engine), split_g2(engine)
    planner = bearer(tokens["planner"])
    assert client.post(f"/api/v1/drafts/{first}/publish", headers=planner).status_code == 200
    resp = client.post(f"/api/v1/drafts/{second}/publish", headers=planner)
    assert resp.status_code == 409
    error = _checked(api_schema, resp, "/api/v1/drafts/{draft_id}/publish", "POST")["error"]
    assert error["code"] == "stale_draft"
    assert error["detail"]["changed"]["reshaped"] == [G1, G2]


def test_roles_and_scope(client, engine, tokens, world) -> None:
    draft = merge_g2_into_g1(engine)
    for role in ("viewer", "dispatcher", "worker"):
        h = bearer(tokens[role])
        assert client.get(f"/api/v1/drafts/{draft}/impact", headers=h).status_code == 403
        assert client.post(f"/api/v1/drafts/{draft}/publish", headers=h).status_code == 403
        assert client.post("/api/v1/versions/1/rollback", headers=h).status_code == 403
    with engine.begin() as conn:
        elsewhere = create_token(conn, name="p2", role="planner", area_code="900002")
    for resp in (client.get(f"/api/v1/drafts/{draft}/impact", headers=bearer(elsewhere)),
                 client.post(f"/api/v1/drafts/{draft}/publish", headers=bearer(elsewhere))):
        assert resp.status_code == 403
        assert resp.get_json()["error"]["code"] == "out_of_scope"
    missing = client.get("/api/v1/drafts/99999/impact", headers=bearer(tokens["planner"]))
    assert missing.status_code == 404
    huge = client.post(f"/api/v1/drafts/{10**20}/publish", headers=bearer(tokens["admin"]))
    assert huge.status_code == 404


def test_bad_publish_bodies_are_refused(client, engine, tokens, world) -> None:
    draft = split_g2(engine)
    h = bearer(tokens["planner"])
    for body, code in (([1], "invalid_body"), ({"why": "x"}, "unknown_field"),
                       ({"note": 5}, "invalid_note"), ({"note": "x" * 2001}, "invalid_note")):
        resp = client.post(f"/api/v1/drafts/{draft}/publish", json=body, headers=h)
        assert resp.status_code == 400 and resp.get_json()["error"]["code"] == code
    resp = client.post(f"/api/v1/drafts/{draft}/publish", data="note",
                       content_type="text/plain", headers=h)
    assert resp.status_code == 415


def test_history_diff_and_rollback(client, engine, tokens, world, tiny, api_schema) -> None:
    draft = split_g2(engine)
    admin, viewer = bearer(tokens["admin"]), bearer(tokens["viewer"])
    assert client.get(f"/api/v1/versions/{tiny}/diff/{draft}",
                      headers=viewer).status_code == 404  # a draft is private
    diff = client.get(f"/api/v1/versions/{tiny}/diff/{draft}", headers=admin)
    assert [a["code"] for a in diff.get_json()["added"]] == [G5, G5 + "001"]
    client.post(f"/api/v1/drafts/{draft}/publish", json={"note": "分网格"}, headers=admin)
    resp = client.get(f"/api/v1/versions/{tiny}/diff/{draft}", headers=viewer)
    body = _checked(api_schema, resp, "/api/v1/versions/{a}/diff/{b}", "GET")
    assert [r["code"] for r in body["reshaped"]] == [G2, G2 + "001"]
    resp = client.get(f"/api/v1/versions/{tiny}/diff/{draft}",
                      query_string={"format": "geojson", "level": "grid"}, headers=viewer)
    fc = _checked(api_schema, resp, "/api/v1/versions/{a}/diff/{b}", "GET")
    assert {(f["id"], f["properties"]["change"]) for f in fc["features"]} == {
        (G5, "added"), (G2, "reshaped")}
    resp = client.get("/api/v1/versions", headers=admin)
    listed = {v["id"]: v for v in _checked(api_schema, resp, "/api/v1/versions", "GET")
              ["versions"]}
    assert listed[draft]["note"] == "分网格" and listed[draft]["counts"]["grid"] == 5
    assert listed[draft]["households_moved"] == 4
    resp = client.post(f"/api/v1/versions/{tiny}/rollback", headers=admin)
    assert resp.status_code == 200, resp.get_json()
    back = _checked(api_schema, resp, "/api/v1/versions/{version_id}/rollback", "POST")
    assert back["previous"] == draft and back["households_moved"] == 4
    again = client.post(f"/api/v1/versions/{back['version']}/rollback", headers=admin)
    assert again.status_code == 409
