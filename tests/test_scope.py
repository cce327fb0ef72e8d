"""The one area-scope policy, per endpoint: a token limited to county 900001 never sees
county 900002's grids, chains, households or people, and no endpoint forgets the policy."""

from __future__ import annotations

import pytest
import shapely

from geo_service.auth import PUBLIC, ROLES, create_token
from geo_service.scope import Scope
from geo_service.store.tables import households, worker_areas, workers

from .conftest import bearer
from .test_auth import _endpoints
from .tiny import G1, G2, G3, G4

IN, OUT = (103.005, 35.01), (103.03, 35.01)  # a point in G1 (county 900001), one in G4


@pytest.fixture
def scoped(engine, tiny) -> dict[str, str]:
    """A token per role, each limited to county 900001; people and households in both
    counties."""
    with engine.begin() as conn:
        ids = []
        for code, area in (("W1", G1), ("W4", G4)):
            wid = conn.execute(workers.insert().values(
                code=code, name=f"网格员{code}", role="grid_worker", phone="13812345678",
                on_duty=True)).inserted_primary_key[0]
            conn.execute(worker_areas.insert().values(worker_id=wid, area_code=area))
            ids.append(wid)
        conn.execute(households.insert(), [
            {"code": f"H{g}", "grid_code": g, "group_code": g + "001", "head_name": "张三",
             "phone": "13900000000", "members": 2, "care_tags": "",
             "geom": shapely.Point(x, y)}
            for g, (x, y) in ((G1, IN), (G4, OUT))])
        return {role: create_token(conn, name=f"c1-{role}", role=role, area_code="900001")
                for role in ROLES}


def test_every_endpoint_applies_the_scope_or_says_why_not(app, client, scoped) -> None:
    """Walk every route with a scoped admin token: none answers by skipping the policy
    (the gate refuses those with `out_of_scope` and no field)."""
    walked = 0
    for method, url, roles in _endpoints(app):
        view = app.view_functions[app.url_map.bind("").match(url, method)[0]]
        resp = client.open(url, method=method, headers=bearer(scoped["admin"]),
                           json={"points": [list(IN)]} if method == "POST" else None)
        if url.startswith("/open311/"):  # its own error format: the refusal in words
            forgot = "does not apply area scope" in resp.get_data(as_text=True)
        else:
            body = resp.get_json(silent=True) or {}
            forgot = body.get("error", {}).get("code") == "out_of_scope" and \
                body["error"].get("field") is None
        assert not forgot, (method, url)
        if PUBLIC not in roles and not getattr(view, "unscoped", ""):
            walked += 1
    assert walked >= 5


def test_a_view_that_forgets_the_scope_fails_closed(app, scoped) -> None:
    from geo_service.web import allow

    @app.get("/api/v1/forgetful")
    @allow(*ROLES)
    def forgetful():
        return {"secret": "every county"}

    client = app.test_client()
    resp = client.get("/api/v1/forgetful", headers=bearer(scoped["viewer"]))
    assert resp.status_code == 403 and "secret" not in resp.get_data(as_text=True)
    with app.app_context():
        from geo_service.app import services

        with services(app).engine.begin() as conn:
            unscoped = create_token(conn, name="all", role="viewer")
    assert client.get("/api/v1/forgetful", headers=bearer(unscoped)).status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_single_lookup_outside_the_scope_is_refused(client, scoped, role) -> None:
    ok = client.get("/api/v1/lookup", query_string=dict(zip(("lon", "lat"), IN,
                                                             strict=True)),
                    headers=bearer(scoped[role]))
    assert ok.status_code == 200 and ok.get_json()["grid"]["code"] == G1
    resp = client.get("/api/v1/lookup", query_string=dict(zip(("lon", "lat"), OUT,
                                                               strict=True)),
                      headers=bearer(scoped[role]))
    text = resp.get_data(as_text=True)
    assert resp.status_code == 403, role
    assert resp.get_json()["error"] == {
        "code": "out_of_scope", "field": "lon",
        "message": "this token is limited to area 900001"}
    assert G4 not in text and "W4" not in text and "138" not in text


def test_nearest_grid_outside_the_scope_is_not_named(client, engine, tiny) -> None:
    with engine.begin() as conn:
        east = create_token(conn, name="c2", role="viewer", area_code="900002")
    body = client.get("/api/v1/lookup", query_string={"lon": 102.999, "lat": 35.01},
                      headers=bearer(east)).get_json()
    assert body["grid"] is None and body["nearest"] is None  # G1 is the other county's


def test_batch_lookup_hides_points_outside_the_scope(client, scoped) -> None:
    resp = client.post("/api/v1/lookup", headers=bearer(scoped["dispatcher"]),
                       json={"points": [list(IN), list(OUT), [103.015, 35.01]],
                             "chain": True})
    body = resp.get_json()
    assert resp.status_code == 200
    assert body["grid"] == [G1, None, G2]
    assert body["group"] == [G1 + "001", None, G2 + "001"]
    assert body["chain"][1] == []
    assert [e["index"] for e in body["errors"]] == [1]
    assert "900002" not in resp.get_data(as_text=True)


def test_areas_outside_the_scope(client, scoped) -> None:
    h = bearer(scoped["planner"])
    assert client.get(f"/api/v1/areas/{G1}", headers=h).status_code == 200
    resp = client.get(f"/api/v1/areas/{G3}", headers=h)
    assert resp.status_code == 403 and resp.get_json()["error"]["field"] == "code"
    resp = client.get("/api/v1/areas?level=grid&parent=900002001001", headers=h)
    assert resp.status_code == 403 and resp.get_json()["error"]["field"] == "parent"
    # Ancestors: only as names in a chain, never as features.
    counties = client.get("/api/v1/areas?level=county", headers=h).get_json()
    assert [f["id"] for f in counties["features"]] == ["900001"]
    assert client.get("/api/v1/areas/900000", headers=h).status_code == 403


def test_households_outside_the_scope(client, scoped) -> None:
    h = bearer(scoped["dispatcher"])
    mine = client.get("/api/v1/areas/900001/households", headers=h).get_json()
    assert [x["code"] for x in mine["households"]] == [f"H{G1}"]
    for code in (G4, "900002", "900000"):
        resp = client.get(f"/api/v1/areas/{code}/households", headers=h)
        assert resp.status_code == 403, code
        assert f"H{G4}" not in resp.get_data(as_text=True)


def test_a_redrawn_grid_leaks_neither_households_nor_groups(client, engine, scoped) -> None:
    """Split G1 in two (grids only): its ten-household group lies 60 % in the new grid G5,
    so publishing hands it to G5 (the grid covering most of it). A token of G1 must not see
    G5's households through that group, and a lookup in G5 names no group (and no
    person) of G1."""
    from geo_service.households import reassign_households
    from geo_service.versions import build_indexes, live_version

    from .conftest import import_now
    from .tiny import tiny_areas

    grids = tiny_areas()
    grids = grids[(grids.level == "grid") & grids.parent_code.eq("900001001001")].copy()
    g5 = "900001001001005"
    west, east = shapely.box(103.0, 35.0, 103.004, 35.02), shapely.box(103.004, 35.0, 103.01,
                                                                      35.02)
    grids.loc[grids.code == G1, "geometry"] = shapely.MultiPolygon([west])
    grids.loc[len(grids)] = [g5, "第五网格", "grid", "urban", "900001001001",
                             shapely.MultiPolygon([east])]
    assert import_now(engine, grids, "grid").written
    with engine.begin() as conn:  # the household at IN (103.005) is now in G5
        vi = build_indexes(conn, live_version(conn))
        reassign_households(conn, vi.grids, vi.groups)
        g1 = create_token(conn, name="g1", role="dispatcher", area_code=G1)
        g5_token = create_token(conn, name="g5", role="dispatcher", area_code=g5)
    refused = client.get(f"/api/v1/areas/{G1}001/households", headers=bearer(g1))
    assert refused.status_code == 403 and "H" + G1 not in refused.get_data(as_text=True)
    page = client.get(f"/api/v1/areas/{G1}001/households", headers=bearer(g5_token))
    assert [h["code"] for h in page.get_json()["households"]] == ["H" + G1]
    body = client.get("/api/v1/lookup", query_string=dict(zip(("lon", "lat"), IN,
                                                                strict=True)),
                      headers=bearer(g5_token)).get_json()
    assert body["grid"]["code"] == g5
    assert body["group"]["code"] == G1 + "001"  # now G5's group
    assert all(p["area_code"] == g5 for p in body["people"])  # not G1's worker W1
    batch = client.post("/api/v1/lookup", json={"points": [list(IN)]},
                        headers=bearer(g5_token)).get_json()
    assert batch["grid"] == [g5] and batch["group"] == [G1 + "001"]


@pytest.mark.parametrize("scope, worker, own", [
    (Scope(G1, "W1"), "W1", True),  # a worker's token: its own, wherever it lies
    (Scope(G1, "W1"), "W4", False),  # another worker's
    (Scope(G1), "W1", False),  # a scoped center's token has no worker of its own
    (Scope(), None, False),  # unassigned: nobody's own
    (Scope(G1, "W1"), None, False),
])
def test_a_workers_own_cases_and_positions(scope, worker, own) -> None:
    assert scope.own_case(worker) is own
    if worker is not None:
        assert scope.own_positions(worker) is own
