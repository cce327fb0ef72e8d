"""Dispatch: candidates ranked by the rule, assigning by name or automatically, the live
index kept current across processes, my cases; on SQLite and PostGIS.

The tiny prefecture's county 900001 (village 900001001001, grids G1 and G2). A case in
G1 at CASE; W1 and W1B answer for G1 (W1B for its group), W2 for G2, V1 for the village,
W3 for G3 in the other county:

    W1 (1.06 km)    W1B (0.25 km)  CASE   W2 (0.50 km)   V1 (0.91 km)  |  W3 (G3, 2.7 km)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from geo_service.app import create_app, services
from geo_service.auth import create_token
from geo_service.dispatch.nearby import NearbyWorkers, haversine_m
from geo_service.events import listen
from geo_service.store.tables import worker_areas, worker_state, workers
from geo_service.store.uow import unit_of_work
from geo_service.workers import read_batch, record_fixes

from .conftest import bearer
from .test_reports import act, post, report
from .tiny import G1, G2, G3

CASE = (103.005, 35.01)
VILLAGE = G1[:12]
PLACES = {"W1": (G1, (103.001, 35.001)), "W1B": (G1 + "001", (103.0075, 35.0105)),
          "W2": (G2, (103.0105, 35.01)), "V1": (VILLAGE, (103.015, 35.01)),
          "W3": (G3, (103.035, 35.01))}


def _now() -> str:
    """Two minutes ago: online, and a later fix a kilometre away is not impossibly fast."""
    return (datetime.now(UTC) - timedelta(minutes=2)).isoformat()


def fix(client, token, code, lon, lat, when=None):
    r = client.post(f"/api/v1/workers/{code}/positions", headers=bearer(token),
                    json={"fixes": [{"lon": lon, "lat": lat, "recorded_at": when or _now()}]})
    assert r.status_code == 200, r.get_json()
    return r


def duty(client, token, code, on):
    r = client.post(f"/api/v1/workers/{code}/duty", json={"on_duty": on}, headers=bearer(token))
    assert r.status_code == 200, r.get_json()


@pytest.fixture
def field(app, client, engine, tokens):
    """Every worker of PLACES on duty with a fix a few seconds old; their own tokens."""
    app.config["DISPATCH_REFRESH_S"] = 0.0  # catch up before every query
    own = {}
    with engine.begin() as conn:
        for code, (area, _) in PLACES.items():
            wid = conn.execute(workers.insert().values(
                code=code, name="网格员" + code, role="grid_worker", phone="13800001234",
                on_duty=True)).inserted_primary_key[0]
            conn.execute(worker_areas.insert().values(worker_id=wid, area_code=area))
            own[code] = create_token(conn, name=f"phone-{code}", role="worker",
                                     worker_code=code)  # limited to its own area
    for code, (_, (lon, lat)) in PLACES.items():
        fix(client, tokens["admin"], code, lon, lat)
    return own


def new_case(client, tokens, *, up=0):
    """A case at CASE, escalated `up` levels (grid → village → township → county →
    prefecture) and accepted; returns (id, version)."""
    d = tokens["dispatcher"]
    body = post(client, d, report(lon=CASE[0], lat=CASE[1])).get_json()
    rid, v = body["id"], body["version"]
    for _ in range(up):
        assert act(client, d, rid, "escalate", v).status_code == 200
        assert act(client, d, rid, "accept", v + 1).status_code == 200
        v += 2
    if not up:
        assert act(client, d, rid, "accept", v).status_code == 200
        v += 1
    return rid, v


def candidates(client, token, rid, **q):
    r = client.get(f"/api/v1/reports/{rid}/candidates", query_string=q, headers=bearer(token))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def assign(client, token, rid, **body):
    return client.post(f"/api/v1/reports/{rid}/assign", json=body, headers=bearer(token))


def test_candidates_are_the_own_team_first_then_the_nearest_inside_the_owning_level(
        client, tokens, field):
    rid, _ = new_case(client, tokens, up=1)  # the village owns it
    got = candidates(client, tokens["dispatcher"], rid)
    assert got["owner"] == {"level": "village", "code": VILLAGE} and got["grid"] == G1
    assert [(c["code"], c["own_team"]) for c in got["candidates"]] == [
        ("W1B", True), ("W1", True), ("W2", False), ("V1", False)]  # W3: another county
    metres = {c["code"]: c["distance_m"] for c in got["candidates"]}
    for code in metres:
        expected = haversine_m(*CASE, *PLACES[code][1])
        assert metres[code] == pytest.approx(expected, abs=0.5)
    assert metres["W2"] < metres["W1"]  # nearer, yet after the own team
    first = got["candidates"][0]
    assert first["grid"] == G1 and first["open_cases"] == 0 and first["role"] == "grid_worker"
    assert 1.9 <= first["minutes_since_fix"] < 3  # the fixes are two minutes old
    assert first["name"] == "网格员W1B" and first["phone"] == "13800001234"
    assert [c["code"] for c in candidates(client, tokens["dispatcher"], rid,
                                          limit=3)["candidates"]] == ["W1B", "W1", "W2"]


def test_a_case_its_grid_owns_has_only_its_grid_team(client, tokens, field):
    rid, _ = new_case(client, tokens)
    codes = [c["code"] for c in candidates(client, tokens["admin"], rid)["candidates"]]
    assert codes == ["W1B", "W1"]


def test_stale_and_off_duty_workers_are_not_candidates(client, tokens, field, engine):
    rid, _ = new_case(client, tokens, up=1)
    duty(client, tokens["dispatcher"], "W1B", False)
    with engine.begin() as conn:  # W2's phone went silent eleven minutes ago
        now = datetime.now(UTC)
        conn.execute(worker_state.update().where(worker_state.c.worker_code == "W2").values(
            recorded_at=now - timedelta(minutes=11), updated_at=now))
    got = candidates(client, tokens["dispatcher"], rid)["candidates"]
    assert [c["code"] for c in got] == ["W1", "V1"]
    client.application.config["STALE_MIN"] = 1.0  # everyone's fix is two minutes old
    assert candidates(client, tokens["dispatcher"], rid)["candidates"] == []


def test_scope_limits_the_report_and_the_workers(client, tokens, field, engine):
    rid, _ = new_case(client, tokens, up=4)  # the prefecture owns it: both counties
    everyone = [c["code"] for c in candidates(client, tokens["dispatcher"], rid)["candidates"]]
    assert everyone == ["W1B", "W1", "W2", "V1", "W3"]
    with engine.begin() as conn:
        mine = create_token(conn, name="d900001", role="dispatcher", area_code="900001")
        theirs = create_token(conn, name="d900002", role="dispatcher", area_code="900002")
    scoped = [c["code"] for c in candidates(client, mine, rid)["candidates"]]
    assert scoped == ["W1B", "W1", "W2", "V1"]
    r = client.get(f"/api/v1/reports/{rid}/candidates", headers=bearer(theirs))
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "unknown_report"
    for role in ("worker", "viewer", "planner"):
        r = client.get(f"/api/v1/reports/{rid}/candidates", headers=bearer(tokens[role]))
        assert r.status_code == 403, role


def test_assigning_an_unavailable_or_out_of_area_worker_is_refused_with_the_reason(
        client, tokens, field):
    rid, v = new_case(client, tokens)
    d = tokens["dispatcher"]
    out = assign(client, d, rid, worker="W2", version=v)  # G2's: the grid G1 owns the case
    assert out.status_code == 409 and out.get_json()["error"]["code"] == "worker_out_of_area"
    duty(client, d, "W1", False)
    off = assign(client, d, rid, worker="W1", version=v).get_json()["error"]
    assert (off["code"], off["detail"]) == ("worker_unavailable", {"status": "off_duty"})
    assert "off duty" in off["message"]
    client.application.config["STALE_MIN"] = 1.0  # the fixes are two minutes old
    stale = assign(client, d, rid, worker="W1B", version=v).get_json()["error"]
    assert (stale["code"], stale["detail"]) == ("worker_unavailable", {"status": "stale"})
    client.application.config["STALE_MIN"] = 10.0
    through_actions = act(client, d, rid, "assign", v, worker="W1")  # the same rule
    assert through_actions.get_json()["error"]["code"] == "worker_unavailable"
    with listen() as seen:
        ok = assign(client, d, rid, worker="W1B", version=v)
    assert ok.status_code == 200, ok.get_json()
    assert [(e.kind, e.action, e.worker) for e in seen] == [
        ("report.changed", "assign", "W1B")]  # the worker's own stream can pick it up
    assert ok.get_json()["assigned"] == {"code": "W1B", "distance_m": None, "rule": "named"}
    report_after = ok.get_json()["report"]
    assert report_after["assigned_worker"] == "W1B" and report_after["status"] == "assigned"
    stale_version = assign(client, d, rid, worker="W1B", version=v)
    assert stale_version.get_json()["error"]["code"] == "stale_version"


@pytest.mark.parametrize("body", [{"version": 1}, {"auto": True, "worker": "W1", "version": 1},
                                  {"auto": "yes", "version": 1}, {"worker": "W1", "x": 1,
                                                                  "version": 1}])
def test_an_assign_body_names_a_worker_or_asks_for_auto(client, tokens, field, body):
    rid, _ = new_case(client, tokens)
    assert assign(client, tokens["dispatcher"], rid, **body).status_code == 400


def test_auto_assignment_sends_the_own_team_when_one_is_online(client, tokens, field):
    rid, v = new_case(client, tokens, up=1)
    duty(client, tokens["dispatcher"], "W1B", False)  # W2 is nearer than W1 now
    r = assign(client, tokens["dispatcher"], rid, auto=True, version=v)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["assigned"]["code"] == "W1" and body["assigned"]["rule"] == "own_team"
    assert body["assigned"]["distance_m"] == pytest.approx(
        haversine_m(*CASE, *PLACES["W1"][1]), abs=0.5)
    assert body["report"]["assigned_worker"] == "W1"


def test_auto_assignment_else_sends_the_nearest_inside_the_owning_level(client, tokens,
                                                                       field):
    rid, v = new_case(client, tokens, up=1)
    for code in ("W1", "W1B"):
        duty(client, tokens["dispatcher"], code, False)
    r = assign(client, tokens["dispatcher"], rid, auto=True, version=v).get_json()
    assert (r["assigned"]["code"], r["assigned"]["rule"]) == ("W2", "nearest")
    # nobody at all: a grid's own case whose team is off duty
    other, v2 = new_case(client, tokens)
    none = assign(client, tokens["dispatcher"], other, auto=True, version=v2)
    assert none.status_code == 409
    assert none.get_json()["error"]["code"] == "no_worker_available"


def test_the_index_follows_fixes_taken_in_another_process_and_in_the_store(
        app, client, tokens, field, db_url):
    rid, _ = new_case(client, tokens, up=1)
    assert candidates(client, tokens["dispatcher"], rid)["candidates"][2]["code"] == "W2"
    other = create_app({"DATABASE_URL": db_url, "INDEX_REFRESH_S": 0.0,
                        "ROSTER_REFRESH_S": 0.0, "TOKEN_CACHE_S": 0.0})
    try:  # another gunicorn worker takes V1's fix: V1 walked up to the case
        moved = fix(other.test_client(), field["V1"], "V1", 103.0058, 35.0101,
                    when=datetime.now(UTC).isoformat()).get_json()
        assert moved["flagged"] == [] and moved["position"]["lon"] == 103.0058
    finally:
        services(other).close()
    live = services(app).positions
    before = live.catch_ups
    got = candidates(client, tokens["dispatcher"], rid)["candidates"]
    assert live.catch_ups == before + 1
    assert [c["code"] for c in got[2:]] == ["V1", "W2"]
    assert got[2]["distance_m"] == pytest.approx(haversine_m(*CASE, 103.0058, 35.0101),
                                                 abs=0.5)
    # a fix recorded straight into the store (the intake of any process does this)
    settings = dict(app.config)
    now = datetime.now(UTC)
    vi = services(app).indexes.live()
    batch = read_batch(vi, {"fixes": [{"lon": 103.0051, "lat": 35.0100,
                                       "recorded_at": now.isoformat()}]},
                       now=now, skew_s=300, limit=10)
    with unit_of_work(services(app).engine) as uow:
        record_fixes(uow.conn, "W2", batch, settings=settings, now=now)
    got = candidates(client, tokens["dispatcher"], rid)["candidates"]
    assert [c["code"] for c in got[2:]] == ["W2", "V1"]
    assert got[2]["distance_m"] < 20


def test_my_cases_are_the_open_cases_assigned_to_the_worker(client, tokens, field, engine):
    d = tokens["dispatcher"]
    first, v1 = new_case(client, tokens)
    second, v2 = new_case(client, tokens)
    done, v3 = new_case(client, tokens)
    for rid, v in ((first, v1), (second, v2), (done, v3)):
        assert assign(client, d, rid, worker="W1B", version=v).status_code == 200
    for step, action in enumerate(("start", "resolve", "follow_up", "close")):
        assert act(client, d, done, action, v3 + 1 + step).status_code == 200
    mine = client.get("/api/v1/workers/W1B/cases", headers=bearer(field["W1B"]))
    assert mine.status_code == 200, mine.get_json()
    body = mine.get_json()
    assert body["count"] == 2 and {c["id"] for c in body["cases"]} == {first, second}
    assert all(c["assigned_worker"] == "W1B" for c in body["cases"])
    assert client.get("/api/v1/workers/W1B/cases", headers=bearer(d)).get_json()["count"] == 2
    assert client.get("/api/v1/workers/W1B/cases",
                      headers=bearer(field["W1"])).status_code == 403
    assert client.get("/api/v1/workers/W1/cases", headers=bearer(d)).get_json()["count"] == 0
    with engine.begin() as conn:
        theirs = create_token(conn, name="d900002", role="dispatcher", area_code="900002")
    assert client.get("/api/v1/workers/W1B/cases", headers=bearer(theirs)).status_code == 404
    assert client.get("/api/v1/workers/NOBODY/cases", headers=bearer(d)).status_code == 404
    load = candidates(client, d, first)["candidates"]
    assert [(c["code"], c["open_cases"]) for c in load] == [("W1B", 2), ("W1", 0)]


# The index alone, against a brute-force scan.

def _brute(points, lon, lat, k, keep=lambda c: True):
    ranked = sorted((haversine_m(lon, lat, x, y), c) for c, (x, y) in points.items() if keep(c))
    return [c for _, c in ranked[:k]]


def test_the_index_answers_what_a_full_scan_answers_while_workers_move():
    import random

    rng = random.Random(5)
    index = NearbyWorkers(cell_m=500)
    points = {}
    for i in range(400):  # a town and a sparse pasture around it
        spread = 0.02 if i < 300 else 0.5
        points[f"w{i}"] = (103 + rng.gauss(0, spread), 35 + rng.gauss(0, spread))
    for code, (x, y) in points.items():
        index.put(code, x, y, 0.0, True)
    for step in range(300):
        code = f"w{rng.randrange(400)}"
        if step % 7 == 0:  # a worker leaves, another moves far away
            index.drop(code)
            points.pop(code, None)
        else:
            points[code] = (103 + rng.gauss(0, 0.3), 35 + rng.gauss(0, 0.3))
            index.put(code, *points[code], 0.0, True)
        lon, lat = 103 + rng.gauss(0, 0.4), 35 + rng.gauss(0, 0.4)
        k = rng.choice((1, 10, 25))
        got = index.nearest(lon, lat, k)
        assert [c for c, _ in got] == _brute(points, lon, lat, k)
        odd = index.nearest(lon, lat, k, accept=lambda c: int(c[1:]) % 2 == 1)
        assert [c for c, _ in odd] == _brute(points, lon, lat, k, lambda c: int(c[1:]) % 2)
    assert len(index) == len(points)


@pytest.mark.parametrize("cell_m", [300, 3000, 30_000])
def test_filters_agree_with_a_full_scan_through_repacks(cell_m):
    """Moves within and across cells, drops, duty changes and stale fixes, with the
    index repacking itself along the way (its tail of moved workers grows past the
    limit): every query, with and without each filter, equals a full scan."""
    import random

    rng = random.Random(cell_m)
    index = NearbyWorkers(cell_m=cell_m, capacity=1)  # grows as it fills
    points = {}  # code -> (lon, lat, recorded_at, on duty)
    for step in range(1200):
        code = f"w{rng.randrange(300)}"
        roll = rng.random()
        if roll < 0.08:
            index.drop(code)
            points.pop(code, None)
        elif roll < 0.15 and code in points:
            on = rng.random() < 0.7
            index.set_duty(code, on)
            points[code] = (*points[code][:3], on)
        else:
            if code in points and rng.random() < 0.7:  # a walk: mostly the same cell
                lon, lat = (v + rng.gauss(0, 0.005) for v in points[code][:2])
            else:  # somewhere else: a town, the county, far away
                spread = rng.choice((0.01, 0.3, 3.0))
                lon, lat = 103 + rng.gauss(0, spread), 35 + rng.gauss(0, spread)
            points[code] = (lon, lat, rng.uniform(0, 100), rng.random() < 0.8)
            index.put(code, *points[code])
        if step % 4:
            continue
        lon, lat = 103 + rng.gauss(0, 0.5), 35 + rng.gauss(0, 0.5)
        k = rng.choice((1, 10, 25))
        fresh = rng.choice((-float("inf"), 30.0, 90.0))
        duty = rng.random() < 0.7
        odd = (lambda c: int(c[1:]) % 2 == 1) if rng.random() < 0.3 else None

        def keep(c, fresh=fresh, duty=duty, odd=odd):
            _, _, t, on = points[c]
            return t >= fresh and (on or not duty) and (odd is None or odd(c))

        got = index.nearest(lon, lat, k, fresh_since=fresh, duty=duty, accept=odd)
        assert [c for c, _ in got] == _brute({c: p[:2] for c, p in points.items()}, lon,
                                             lat, k, keep)
        for c, m in got:
            assert m == pytest.approx(haversine_m(lon, lat, *points[c][:2]), abs=0.01)
    assert len(index) == len(points)
    assert all(index.position(c) == p for c, p in points.items())


@pytest.mark.parametrize(("duty", "t", "fresh_since", "found"), [
    (True, 100.0, 50.0, True),     # on duty, fresh
    (True, 100.0, 100.0, True),    # exactly at the cut
    (True, 100.0, 150.0, False),   # stale
    (False, 100.0, 50.0, False),   # off duty
])
def test_availability_is_filtered_at_query_time(duty, t, fresh_since, found):
    index = NearbyWorkers()
    index.put("a", 103.0, 35.0, t, duty)
    assert bool(index.nearest(103.001, 35.0, 1, fresh_since=fresh_since)) is found
    assert bool(index.distances(["a"], 103.001, 35.0, fresh_since=fresh_since)) is found


def test_an_empty_index_and_fewer_workers_than_asked():
    index = NearbyWorkers()
    assert index.nearest(103.0, 35.0, 10) == []
    index.put("a", 103.0, 35.0, 0.0, True)
    index.put("b", 104.0, 36.0, 0.0, True)  # ~140 km away: found all the same
    assert [c for c, _ in index.nearest(103.0, 35.0, 10)] == ["a", "b"]
    index.set_duty("a", False)
    assert [c for c, _ in index.nearest(103.0, 35.0, 10)] == ["b"]
    assert index.position("a") == (103.0, 35.0, 0.0, False)
