"""Emergency call-outs ("one order"): who is called by area, radius and role, the scope,
acknowledgements, the view of who answered and who is on the way, and the events that
reach each called worker's own stream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from geo_service.app import services
from geo_service.auth import create_token
from geo_service.events import listen
from geo_service.scope import Scope
from geo_service.store.tables import callout_targets, callouts, outbox, worker_areas, workers

from .conftest import bearer
from .tiny import G1, G2, G4

TOWNSHIP1 = "900001001"
POINT = (103.005, 35.01)  # in G1
# code, role, area, on duty, position (lon, lat, minutes ago) or None
CREW = [
    ("W1", "grid_worker", G1, True, (103.005, 35.01, 1)),  # online, at the point
    ("W2", "militia", TOWNSHIP1, True, (103.015, 35.01, 1)),  # online, in G2, ~912 m
    ("W3", "grid_worker", G2, False, (103.012, 35.01, 1)),  # off duty, ~638 m
    ("W4", "grid_worker", G4, True, (103.03, 35.01, 1)),  # online, other county, ~2.3 km
    ("W5", "liaison_head", G1 + "001", True, (103.002, 35.01, 15)),  # stale, ~273 m
    ("W6", "grid_leader", G1, True, None),  # on duty, never sent a fix: offline
]


def _ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def crew(engine, client, tokens):
    """Six workers in the tiny prefecture (see CREW), each with its own token (limited to
    the area it answers for) and its position sent through the API."""
    out = {}
    with engine.begin() as conn:
        for code, role, area, duty, _ in CREW:
            wid = conn.execute(workers.insert().values(
                code=code, name="民兵" + code, role=role, phone="1380000000" + code[1],
                on_duty=duty)).inserted_primary_key[0]
            conn.execute(worker_areas.insert().values(worker_id=wid, area_code=area))
            out[code] = create_token(conn, name=f"phone-{code}", role="worker",
                                     worker_code=code)
    for code, *_, pos in CREW:
        if pos:
            r = client.post(f"/api/v1/workers/{code}/positions", headers=bearer(out[code]),
                            json={"fixes": [{"lon": pos[0], "lat": pos[1],
                                             "recorded_at": _ago(pos[2])}]})
            assert r.status_code == 200, r.get_json()
    return out


def call(client, token, **body):
    body.setdefault("message", "Flood at the river: gather at the bridge")
    return client.post("/api/v1/callouts", json=body, headers=bearer(token))


def called(resp) -> list[str]:
    assert resp.status_code == 201, resp.get_json()
    return [t["code"] for t in resp.get_json()["targets"]]


def test_an_area_calls_its_on_duty_workers_and_counts_the_others(client, crew, tokens):
    r = call(client, tokens["dispatcher"], area="900001")
    assert called(r) == ["W1", "W2", "W5"]  # W5 is stale but called; W4 is elsewhere
    body = r.get_json()
    assert body["counts"]["not_called"] == {"off_duty": 1, "offline": 1}  # W3, W6
    assert body["counts"]["called"] == 3 and body["counts"]["acked"] == 0
    assert {t["code"]: t["status_when_called"] for t in body["targets"]}["W5"] == "stale"
    assert r.headers["Location"] == f"/api/v1/callouts/{body['id']}"
    assert body["area"]["code"] == "900001" and body["radius_m"] is None
    assert called(call(client, tokens["admin"], area=G1)) == ["W1", "W5"]  # the group's too


def test_roles_choose_who_is_called(client, crew, tokens):
    r = call(client, tokens["dispatcher"], area="900001", roles=["militia"])
    assert called(r) == ["W2"]
    assert r.get_json()["counts"]["not_called"] == {"off_duty": 0, "offline": 0}
    assert called(call(client, tokens["dispatcher"], area="900000",
                       roles=["grid_worker", "liaison_head"])) == ["W1", "W4", "W5"]
    bad = call(client, tokens["dispatcher"], area="900001", roles=["police"])
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "roles"


def test_a_radius_calls_the_workers_whose_position_is_within_it(client, crew, tokens):
    r = call(client, tokens["dispatcher"], lon=POINT[0], lat=POINT[1], radius_m=700)
    assert called(r) == ["W1", "W5"]  # W2 is 912 m away; W6 has no position
    body = r.get_json()
    assert body["counts"]["not_called"] == {"off_duty": 1, "offline": 0}  # W3 at 638 m
    assert body["area"]["code"] == G1 and body["radius_m"] == 700
    w5 = next(t for t in body["targets"] if t["code"] == "W5")
    assert 260 < w5["distance_when_called_m"] < 290
    assert called(call(client, tokens["dispatcher"], lon=POINT[0], lat=POINT[1],
                       radius_m=1000)) == ["W1", "W2", "W5"]


def test_the_area_scope_applies(client, crew, engine):
    with engine.begin() as conn:
        county1 = create_token(conn, name="county1", role="dispatcher", area_code="900001")
        planner = create_token(conn, name="planner", role="planner")
    out = call(client, county1, area="900002")
    assert out.status_code == 403 and out.get_json()["error"]["code"] == "out_of_scope"
    far = call(client, county1, lon=103.03, lat=35.001, radius_m=500)  # a point in G3
    assert far.status_code == 403 and far.get_json()["error"]["field"] == "lon"
    # From G1, 3 km reach W4 in the other county: only the unscoped dispatcher calls it.
    assert called(call(client, county1, lon=POINT[0], lat=POINT[1], radius_m=3000)) == [
        "W1", "W2", "W5"]
    with engine.begin() as conn:
        disp = create_token(conn, name="d", role="dispatcher")
    assert "W4" in called(call(client, disp, lon=POINT[0], lat=POINT[1], radius_m=3000))
    assert call(client, planner, area=G1).status_code == 403  # the role
    assert call(client, county1, area="nowhere").status_code == 404


def test_the_called_worker_acknowledges_once_and_others_cannot(client, crew, tokens,
                                                                engine):
    cid = call(client, tokens["dispatcher"], area="900001", lon=POINT[0], lat=POINT[1]
               ).get_json()["id"]  # an area, and where to gather
    with engine.begin() as conn:  # the order went out 90 s ago
        back = datetime.now(UTC) - timedelta(seconds=90)
        conn.execute(callouts.update().values(created_at=back))
        conn.execute(callout_targets.update().values(notified_at=back))
    url = f"/api/v1/callouts/{cid}/ack"
    assert client.post(url, json={}, headers=bearer(crew["W4"])).status_code == 403
    assert client.post(url, json={}, headers=bearer(crew["W3"])).status_code == 403  # off duty
    assert client.post(url, json={"worker": "W2"}, headers=bearer(crew["W1"])
                       ).status_code == 403
    assert client.post(url, json={}, headers=bearer(tokens["dispatcher"])).status_code == 403
    assert client.post(url, json={}, headers=bearer(tokens["worker"])).status_code == 403
    assert client.post(url, json={}, headers=bearer(tokens["admin"])).status_code == 400
    with listen() as seen:
        first = client.post(url, json={"lon": 103.006, "lat": 35.01},
                            headers=bearer(crew["W1"]))
        again = client.post(url, headers=bearer(crew["W1"]))  # no body at all
    assert first.status_code == 200, first.get_json()
    a, b = first.get_json(), again.get_json()
    assert a["first"] is True and b["first"] is False
    assert a["acked_at"] == b["acked_at"] and 89 <= a["ack_seconds"] < 120
    assert 80 < a["ack_distance_m"] < 100  # 0.001° of longitude at 35°N ≈ 91 m
    assert [e.kind for e in seen] == ["callout.acked"]
    by_admin = client.post(url, json={"worker": "W5"}, headers=bearer(tokens["admin"]))
    assert by_admin.status_code == 200 and by_admin.get_json()["worker"] == "W5"
    assert 260 < by_admin.get_json()["ack_distance_m"] < 290  # from its current position
    missing = client.post("/api/v1/callouts/nope/ack", json={}, headers=bearer(crew["W1"]))
    assert missing.status_code == 404


def test_the_view_shows_who_answered_how_fast_and_who_is_on_the_way(client, crew, tokens):
    cid = call(client, tokens["dispatcher"], area="900001").get_json()["id"]
    client.post(f"/api/v1/callouts/{cid}/ack", json={}, headers=bearer(crew["W1"]))
    # W2 walks from ~912 m to ~456 m of the point after the call.
    r = client.post("/api/v1/workers/W2/positions", headers=bearer(crew["W2"]),
                    json={"fixes": [{"lon": 103.010, "lat": 35.01, "recorded_at": _ago(0)}]})
    assert r.status_code == 200
    view = client.get(f"/api/v1/callouts/{cid}", headers=bearer(tokens["dispatcher"]))
    body = view.get_json()
    targets = {t["code"]: t for t in body["targets"]}
    assert targets["W1"]["acked"] is True and targets["W1"]["ack_seconds"] >= 0
    assert targets["W2"]["acked"] is False and targets["W2"]["moving_towards"] is True
    assert targets["W2"]["distance_now_m"] < targets["W2"]["distance_when_called_m"] - 400
    assert targets["W1"]["moving_towards"] is False
    assert targets["W1"]["name"] == "民兵W1" and targets["W1"]["phone"] == "13800000001"
    assert body["counts"] == {"called": 3, "acked": 1, "moving_towards": 1,
                              "median_ack_s": targets["W1"]["ack_seconds"],
                              "not_called": {"off_duty": 1, "offline": 1}}
    masked = client.get(f"/api/v1/callouts/{cid}", headers=bearer(tokens["viewer"])).get_json()
    assert masked["targets"][0]["phone"] == "138****0001"
    # W1's token (limited to G1) sees the order that called it, and itself among the called.
    own = client.get(f"/api/v1/callouts/{cid}", headers=bearer(crew["W1"])).get_json()
    assert [t["code"] for t in own["targets"]] == ["W1", "W5"]  # in G1 (W5: G1's group)
    assert own["counts"]["called"] == 3
    assert client.get(f"/api/v1/callouts/{cid}", headers=bearer(crew["W4"])
                      ).status_code == 404


def test_events_reach_each_called_workers_scope_and_no_other(app, client, crew, tokens,
                                                              engine):
    with listen() as seen:
        cid = call(client, tokens["dispatcher"], area="900001").get_json()["id"]
    vi = services(app).indexes.live()
    personal = {(e.worker, e.area_code) for e in seen if e.kind == "callout.called"}
    assert personal == {("W1", G1), ("W2", TOWNSHIP1), ("W5", G1 + "001")}
    w1_scope, w4_scope = Scope(G1), Scope(G4)  # what W1's and W4's tokens are limited to
    mine = [e for e in seen if w1_scope.covers(vi, e.area_code)]
    assert {e.worker for e in mine} == {"W1", "W5"}  # its own order (and its group's head)
    assert not [e for e in seen if w4_scope.covers(vi, e.area_code)]
    assert Scope(TOWNSHIP1).covers(vi, next(e.area_code for e in seen
                                            if e.kind == "callout.called"
                                            and e.worker == "W2"))
    created = next(e for e in seen if e.kind == "callout.created")
    assert created.area_code == "900001" and created.called == 3
    with engine.connect() as conn:
        rows = conn.execute(sa.select(outbox.c.kind, outbox.c.area_code, outbox.c.payload)
                            .where(outbox.c.kind.like("callout.%"))).all()
    assert sorted((k, a) for k, a, _ in rows) == sorted([
        ("callout.called", G1), ("callout.called", G1 + "001"),
        ("callout.called", TOWNSHIP1), ("callout.created", "900001")])
    for _, _, payload in rows:
        assert payload["id"] == cid and "name" not in payload and "phone" not in payload
        assert payload["message"].startswith("Flood")


def test_listing_closing_and_acks_after_closing(client, crew, tokens, engine):
    cid = call(client, tokens["dispatcher"], area="900001").get_json()["id"]
    other = call(client, tokens["dispatcher"], area=G4).get_json()["id"]
    with engine.begin() as conn:
        county2 = create_token(conn, name="c2", role="viewer", area_code="900002")
    h = bearer(tokens["dispatcher"])
    listed = client.get("/api/v1/callouts?open=true", headers=h).get_json()
    assert [c["id"] for c in listed["callouts"]] == [other, cid]  # newest first
    assert listed["callouts"][1]["called"] == 3
    seen2 = client.get("/api/v1/callouts", headers=bearer(county2)).get_json()
    assert [c["id"] for c in seen2["callouts"]] == [other]
    mine = client.get("/api/v1/callouts", headers=bearer(crew["W1"])).get_json()
    assert [c["id"] for c in mine["callouts"]] == [cid]  # it was called, though not in G1
    closed = client.post(f"/api/v1/callouts/{cid}/close", headers=h)
    assert closed.status_code == 200 and closed.get_json()["open"] is False
    assert client.post(f"/api/v1/callouts/{cid}/close", headers=h).status_code == 200
    assert [c["id"] for c in client.get("/api/v1/callouts?open=true", headers=h)
            .get_json()["callouts"]] == [other]
    late = client.post(f"/api/v1/callouts/{cid}/ack", json={}, headers=bearer(crew["W1"]))
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "callout_closed"
    assert client.post(f"/api/v1/callouts/{cid}/close", headers=bearer(county2)
                       ).status_code == 403  # a viewer may not
    assert client.get("/api/v1/callouts?open=maybe", headers=h).status_code == 400


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"area": G1, "message": "x" * 501}, 400, "message"),
    ({"area": G1, "message": "go\x00"}, 400, "message"),
    ({"area": G1, "message": "   "}, 400, "message"),
    ({"area": G1}, 400, "message"),
    ({"lon": 103.005, "lat": 35.01, "radius_m": 50_001, "message": "go"}, 400, "radius_m"),
    ({"lon": 103.005, "lat": 35.01, "radius_m": 0, "message": "go"}, 400, "radius_m"),
    ({"lon": 103.005, "lat": 35.01, "message": "go"}, 400, "area"),  # no radius
    ({"area": G1, "radius_m": 100, "message": "go"}, 400, "radius_m"),
    ({"lon": 35.01, "lat": 103.005, "radius_m": 100, "message": "go"}, 422, "lon"),  # swapped
    ({"lon": "103", "lat": 35.01, "radius_m": 100, "message": "go"}, 400, "lon"),
    ({"area": G1, "message": "go", "urgent": True}, 400, "urgent"),
    ([G1], 400, "body"),
])
def test_bad_call_outs_are_refused_naming_the_field(client, tokens, body, status, field):
    r = client.post("/api/v1/callouts", json=body, headers=bearer(tokens["dispatcher"]))
    assert r.status_code == status, r.get_json()
    assert r.get_json()["error"]["field"] == field
