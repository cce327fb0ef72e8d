"""Workers in the field: fixes in (late, twice, flagged), status from time, the dwell rule,
patrol, listing per scope and role, trails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from geo_service.app import services
from geo_service.auth import create_token
from geo_service.events import listen
from geo_service.store.tables import worker_areas, worker_positions, workers
from geo_service.store.uow import unit_of_work
from geo_service.workers import sweep_statuses

from .conftest import bearer
from .tiny import G1, G2, G4

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=11)  # at(600): 1 min ago


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


@pytest.fixture
def crew(engine, tiny):
    """Worker W1 answers for G1 (county 900001), W4 for G4 (county 900002); a token each."""
    out = {}
    with engine.begin() as conn:
        for code, area, phone in (("W1", G1, "13800000001"), ("W4", G4, "13800000004")):
            wid = conn.execute(workers.insert().values(
                code=code, name="网格员" + code, role="grid_worker", phone=phone,
                on_duty=True)).inserted_primary_key[0]
            conn.execute(worker_areas.insert().values(worker_id=wid, area_code=area))
            out[code] = create_token(conn, name=f"phone-{code}", role="worker",
                                     worker_code=code)
    return out


def send(client, token, code, *fixes, crs=None):
    body = {"fixes": [{"lon": f[0], "lat": f[1], "recorded_at": f[2], **(f[3:] or [{}])[0]}
                      for f in fixes]}
    if crs:
        body["crs"] = crs
    return client.post(f"/api/v1/workers/{code}/positions", json=body, headers=bearer(token))


def test_fixes_move_the_current_position_and_go_into_the_trail(client, crew, engine):
    with listen() as seen:
        now = datetime.now(UTC)  # fresh fixes (T0 is fixed when the module loads)
        r = send(client, crew["W1"], "W1", (103.002, 35.01, (now - timedelta(seconds=60)
                                                             ).isoformat()),
                 (103.003, 35.01, (now - timedelta(seconds=30)).isoformat()))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["stored"], body["duplicates"], body["flagged"], body["rejected"]) == (2, 0, [], [])
    assert body["position"]["lon"] == 103.003 and body["position"]["grid"] == G1
    assert body["status"] == "online"
    kinds = [e.kind for e in seen]
    assert kinds.count("worker.moved") == 1 and "worker.status" in kinds
    assert all(e.area_code == G1 for e in seen)


def test_repeats_and_late_fixes_never_move_the_position_back(client, crew, engine):
    send(client, crew["W1"], "W1", (103.002, 35.01, at(0)), (103.004, 35.01, at(60)))
    again = send(client, crew["W1"], "W1", (103.002, 35.01, at(0)), (103.003, 35.01, at(30)))
    body = again.get_json()
    assert body["duplicates"] == 1 and body["stored"] == 1
    assert body["flagged"] == [{"index": 1, "flag": "late"}]
    assert body["position"]["lon"] == 103.004  # still the newest
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(worker_positions)
                            ).scalar() == 3


def test_inaccurate_and_impossibly_fast_fixes_are_kept_flagged_and_unused(client, crew):
    r = send(client, crew["W1"], "W1", (103.002, 35.01, at(0)),
             (103.003, 35.01, at(10), {"accuracy_m": 5000}),  # 5 km accuracy
             (103.019, 35.01, at(20)))  # 1.5 km in 20 s: 270 km/h
    body = r.get_json()
    assert body["flagged"] == [{"index": 1, "flag": "inaccurate"},
                               {"index": 2, "flag": "too_fast"}]
    assert body["stored"] == 3 and body["position"]["lon"] == 103.002


def test_unreadable_fixes_are_listed_and_the_rest_are_stored(client, crew):
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = send(client, crew["W1"], "W1", (103.002, 35.01, at(0)), (35.01, 103.002, at(5)),
             (200.0, 35.0, at(6)), ("103", 35.0, at(7)), (103.002, 35.01, future),
             (103.002, 35.01, "yesterday"))
    body = r.get_json()
    assert r.status_code == 200 and body["stored"] == 1
    assert [(e["index"], e["code"]) for e in body["rejected"]] == [
        (1, "swapped_axes"), (2, "out_of_range"), (3, "invalid_number"), (4, "future_time"),
        (5, "invalid_time")]
    only_bad = send(client, crew["W1"], "W1", (float("nan"), 35.0, at(9)))
    assert only_bad.status_code in (400, 422)


def test_fixes_in_other_crs_are_placed(client, crew):
    from boundaries.crs import from_wgs84

    x, y = from_wgs84(103.015, 35.01, "gcj02")
    r = send(client, crew["W1"], "W1", (float(x), float(y), at(0)), crs="gcj02")
    assert r.get_json()["position"]["grid"] == G2
    assert abs(r.get_json()["position"]["lon"] - 103.015) < 1e-5


def test_a_worker_posts_only_its_own_positions(client, crew, tokens):
    assert send(client, crew["W1"], "W4", (103.03, 35.01, at(0))).status_code == 403
    assert send(client, tokens["dispatcher"], "W1", (103.0, 35.0, at(0))).status_code == 403
    assert send(client, tokens["admin"], "W1", (103.002, 35.01, at(0))).status_code == 200
    assert send(client, tokens["admin"], "NOBODY", (103.0, 35.0, at(0))).status_code == 404


def test_a_batch_over_the_limit_is_refused(app, client, crew):
    app.config["MAX_FIXES"] = 3
    r = send(client, crew["W1"], "W1", *[(103.002, 35.01, at(i)) for i in range(4)])
    assert r.status_code == 413 and r.get_json()["error"]["code"] == "too_many_fixes"


def test_status_follows_time_and_shifts(app, client, crew, tokens, engine):
    send(client, crew["W1"], "W1", (103.002, 35.01, datetime.now(UTC).isoformat()))
    h = bearer(tokens["dispatcher"])
    assert client.get("/api/v1/workers/W1", headers=h).get_json()["status"] == "online"
    with listen() as seen, unit_of_work(engine) as uow:
        n = sweep_statuses(uow.conn, app.config, datetime.now(UTC) + timedelta(minutes=11))
    assert n == 1
    with unit_of_work(engine) as uow:
        assert sweep_statuses(uow.conn, app.config,
                              datetime.now(UTC) + timedelta(minutes=12)) == 0
    assert [(e.kind, e.status, e.previous) for e in seen] == [
        ("worker.status", "stale", "online")]
    off = client.post("/api/v1/workers/W1/duty", json={"on_duty": False}, headers=h)
    assert off.get_json() == {"code": "W1", "status": "off_duty"}
    listed = client.get("/api/v1/workers?status=off_duty", headers=h).get_json()
    assert [w["code"] for w in listed["workers"]] == ["W1"]
    bad = client.post("/api/v1/workers/W1/duty", json={"on_duty": "yes"}, headers=h)
    assert bad.status_code == 400


def test_the_dwell_rule_keeps_jitter_on_a_boundary_from_flapping(app, client, crew, engine):
    app.config["DWELL_S"] = 60
    # Along the G1|G2 edge at 103.01: jitter either side every 10 s, then a walk into G2.
    jitter = [(103.0099 if i % 2 else 103.0101, 35.01, at(i * 10)) for i in range(8)]
    walk = [(103.015, 35.01, at(80 + i * 30)) for i in range(4)]
    with listen() as seen:
        r = send(client, crew["W1"], "W1", (103.005, 35.01, at(-120)), (103.005, 35.01, at(-60)),
                 *jitter, *walk)
    assert r.status_code == 200
    entered = [(e.left, e.grid) for e in seen if e.kind == "worker.entered"]
    assert entered == [(None, G1), (G1, G2)]
    assert r.get_json()["position"]["in_grid"] == G2


def test_patrol_counts_time_in_own_grids_distance_and_visited_grids(app, client, crew, tokens):
    app.config["DWELL_S"] = 0
    walk = [(103.002 + i * 0.0005, 35.01, at(i * 60)) for i in range(11)]  # 10 min in G1
    send(client, crew["W1"], "W1", *walk)
    day = (T0.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))).date().isoformat()
    r = client.get(f"/api/v1/patrol?date={day}", headers=bearer(tokens["dispatcher"]))
    body = r.get_json()
    assert r.status_code == 200, body
    w1 = next(w for w in body["workers"] if w["code"] == "W1")
    assert w1["minutes_in_own_grids"] == 10.0 and w1["grids"] == [G1]
    assert 400 < w1["distance_m"] < 500  # 10 × 0.0005° at 35°N ≈ 456 m
    assert {g["code"]: g["visited_by_team"] for g in body["grids"]}[G1] is True
    assert body["grids_visited"] == 1 and body["grids_total"] == 4
    assert client.get("/api/v1/patrol?date=29-11-2026", headers=bearer(tokens["viewer"])
                      ).status_code == 400


def test_lists_follow_scope_and_role(client, crew, engine, tiny):
    send(client, crew["W1"], "W1", (103.002, 35.01, at(0)))
    with engine.begin() as conn:
        county = create_token(conn, name="c1", role="viewer", area_code="900001")
        disp = create_token(conn, name="d", role="dispatcher")
    mine = client.get("/api/v1/workers", headers=bearer(county)).get_json()
    assert [w["code"] for w in mine["workers"]] == ["W1"]
    assert mine["workers"][0]["phone"] == "138****0001" and mine["workers"][0]["name"] == "网****"
    assert client.get("/api/v1/workers/W4", headers=bearer(county)).status_code == 404
    assert client.get("/api/v1/workers?area=900002", headers=bearer(county)).status_code == 403
    full = client.get("/api/v1/workers/W1", headers=bearer(disp)).get_json()
    assert full["phone"] == "13800000001" and full["position"]["grid"] == G1
    assert client.get("/api/v1/workers?area=900002", headers=bearer(disp)
                      ).get_json()["count"] == 1
    assert client.get("/api/v1/workers?bogus=1", headers=bearer(disp)).status_code == 400


def test_located_lists_only_workers_with_a_position(client, crew, tokens):
    """What a map can draw (the wall asks for these only): W4 has no fix yet."""
    send(client, crew["W1"], "W1", (103.002, 35.01, at(0)))
    h = bearer(tokens["viewer"])
    every = client.get("/api/v1/workers", headers=h).get_json()
    assert sorted(w["code"] for w in every["workers"]) == ["W1", "W4"]
    located = client.get("/api/v1/workers?located=true", headers=h).get_json()
    assert located["count"] == 1
    assert located["workers"] == [w for w in every["workers"] if w["code"] == "W1"]
    assert client.get("/api/v1/workers?located=false", headers=h).get_json() == every
    bad = client.get("/api/v1/workers?located=yes", headers=h)
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "located"


def test_an_unknown_role_is_400_naming_the_roles(client, crew, tokens):
    """A misspelt role used to answer an empty list, as if nobody had that role."""
    h = bearer(tokens["dispatcher"])
    r = client.get("/api/v1/workers?role=bogus", headers=h)
    assert r.status_code == 400
    error = r.get_json()["error"]
    assert (error["code"], error["field"]) == ("invalid_choice", "role")
    assert "grid_worker" in error["message"] and "militia" in error["message"]
    known = client.get("/api/v1/workers?role=grid_worker", headers=h).get_json()
    assert sorted(w["code"] for w in known["workers"]) == ["W1", "W4"]


def test_trails_are_linestrings_for_the_worker_and_dispatchers(client, crew, tokens):
    send(client, crew["W1"], "W1", *[(103.002 + i * 0.0001, 35.01, at(i * 10))
                                     for i in range(20)])
    r = client.get("/api/v1/workers/W1/trail?simplify=0", headers=bearer(crew["W1"]))
    body = r.get_json()
    assert r.status_code == 200 and body["geometry"]["type"] == "LineString"
    assert body["properties"]["fixes"] == 20 and len(body["geometry"]["coordinates"]) == 20
    simple = client.get("/api/v1/workers/W1/trail", headers=bearer(tokens["dispatcher"]))
    assert len(simple.get_json()["geometry"]["coordinates"]) == 2  # a straight walk
    assert client.get("/api/v1/workers/W1/trail", headers=bearer(crew["W4"])).status_code == 403
    assert client.get("/api/v1/workers/W1/trail", headers=bearer(tokens["viewer"])
                      ).status_code == 403
    assert client.get("/api/v1/workers/W1/trail?simplify=nan",
                      headers=bearer(tokens["dispatcher"])).status_code == 400


def test_the_stats_count_workers_on_duty_and_grids_visited_today(app, client, crew, tokens):
    app.config["DWELL_S"] = 0
    now = datetime.now(UTC)
    send(client, crew["W1"], "W1", *[(103.002, 35.01, (now - timedelta(seconds=s)).isoformat())
                                     for s in (90, 60, 30)])
    s = client.get("/api/v1/stats", headers=bearer(tokens["viewer"])).get_json()
    assert (s["workers_total"], s["workers_on_duty"], s["workers_online"]) == (2, 2, 1)
    assert (s["grids_visited_today"], s["grids_total"]) == (1, 4)
    county2 = client.get("/api/v1/stats?area=900002", headers=bearer(tokens["viewer"])
                         ).get_json()
    assert (county2["workers_total"], county2["grids_visited_today"]) == (1, 0)


def test_the_sweep_prunes_fixes_older_than_the_trail_days(app, client, crew, engine):
    send(client, crew["W1"], "W1", (103.002, 35.01, at(0)))
    done = services(app).sweeper.run()
    assert done["fixes_pruned"] == 0
    app.config["TRAIL_DAYS"] = 1
    services(app).sweeper.settings = app.config
    with engine.begin() as conn:
        conn.execute(worker_positions.update().values(
            recorded_at=datetime.now(UTC) - timedelta(days=2)))
    assert services(app).sweeper.run()["fixes_pruned"] == 1
