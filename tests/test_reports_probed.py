"""Holes a hostile probe found in the case endpoints, each pinned (SQLite and PostGIS)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from geo_service.auth import create_token

from .conftest import bearer
from .test_reports import IN_G1, _worker, act, post, report
from .tiny import G1


@pytest.mark.parametrize(("raw", "field", "code"), [
    ('"lon": 1' + "0" * 400, "lon", "invalid_number"),  # an integer no float can hold
    ('"occurred_at": "0001-01-01T00:00:00+01:00"', "occurred_at", "invalid_time"),
    ('"occurred_at": "0001-01-01T00:00:00Z"', "occurred_at", "invalid_time"),
    ('"occurred_at": "2026-11-29 08:30+08:00"', "occurred_at", "invalid_time"),  # no T
    ('"occurred_at": "2026W485T083000+0800"', "occurred_at", "invalid_time"),  # ISO week
    ('"media_urls": ["http://x/\\u0000y"]', "media_urls", "invalid_media"),
])
def test_edge_values_are_refused_not_500(client, tokens, raw, field, code):
    body = report()
    key = raw.split('"')[1]
    body.pop(key, None)
    text = json.dumps(body, ensure_ascii=False)[:-1] + ", " + raw + "}"
    r = client.post("/api/v1/reports", data=text.encode(), content_type="application/json",
                    headers=bearer(tokens["dispatcher"]))
    assert r.status_code == 400, r.get_data(as_text=True)
    assert (r.get_json()["error"]["field"], r.get_json()["error"]["code"]) == (field, code)


@pytest.mark.parametrize(("query", "field"), [
    ("cursor=2147483648", "cursor"), ("status=", "status"),
    ("since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", "since"),
    ("until=0001-01-01T00:00:00%2B01:00", "until"),
])
def test_bad_list_queries_are_400(client, tokens, query, field):
    r = client.get(f"/api/v1/reports?{query}", headers=bearer(tokens["viewer"]))
    assert r.status_code == 400 and r.get_json()["error"]["field"] == field


def test_a_stats_window_before_1970_is_400(client, tokens):
    r = client.get("/api/v1/stats?until=0001-01-01T00:00:00%2B01:00",
                   headers=bearer(tokens["viewer"]))
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "until"


def test_an_id_in_capitals_names_the_same_report(client, tokens):
    rid = post(client, tokens["dispatcher"], report()).get_json()["id"]
    got = client.get(f"/api/v1/reports/{rid.upper()}", headers=bearer(tokens["viewer"]))
    assert got.status_code == 200 and got.get_json()["id"] == rid


def test_a_version_that_is_not_a_number_says_so(client, tokens):
    rid = post(client, tokens["dispatcher"], report()).get_json()["id"]
    r = act(client, tokens["dispatcher"], rid, "accept", "1")
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_version"


def test_a_position_far_from_every_grid_is_not_routed(client, tokens):
    r = post(client, tokens["dispatcher"], report(lon=0.0, lat=0.0))
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "no_grid"


def test_the_assigned_worker_works_its_case_after_escalation(client, tokens, engine):
    _worker(engine, "W1")
    _worker(engine, "W2")
    with engine.begin() as conn:
        w1 = create_token(conn, name="w1", role="worker", worker_code="W1")
        w2 = create_token(conn, name="w2", role="worker", worker_code="W2")
    d = tokens["dispatcher"]
    rid = post(client, d, report()).get_json()["id"]
    for version, action in enumerate(("escalate", "accept"), start=1):  # the village owns it
        assert act(client, d, rid, action, version).status_code == 200
    assert act(client, d, rid, "assign", 3, worker="W1").status_code == 200
    assert act(client, w2, rid, "escalate", 4).status_code == 403  # a colleague's case
    assert act(client, w1, rid, "start", 4).status_code == 200
    assert act(client, w1, rid, "resolve", 5).status_code == 200
    assert act(client, w1, rid, "close", 6).status_code == 403  # closing is the center's


def test_two_merges_of_one_pair_at_once_leave_one_open(client, tokens):
    d = tokens["dispatcher"]
    a = post(client, d, report()).get_json()["id"]
    b = post(client, d, report(lon=IN_G1[0] + 0.0003)).get_json()["id"]
    answers: list[int] = []
    barrier = threading.Barrier(2)

    def merge(one: str, into: str) -> None:
        barrier.wait()
        answers.append(act(client, d, one, "merge", 1, into=into).status_code)

    threads = [threading.Thread(target=merge, args=p) for p in ((a, b), (b, a))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200, 409]
    states = [client.get(f"/api/v1/reports/{r}", headers=bearer(d)).get_json() for r in (a, b)]
    assert sorted(s["status"] for s in states) == ["closed", "reported"]


def test_a_worker_token_cannot_be_widened_beyond_the_workers_areas(engine, tiny):
    _worker(engine, "W1")
    with engine.begin() as conn:
        assert create_token(conn, name="ok", role="worker", worker_code="W1", area_code=G1)
        from geo_service.errors import Forbidden

        for wider in ("900001", "900002001001"):
            with pytest.raises(Forbidden, match="cannot be limited"):
                create_token(conn, name="x", role="worker", worker_code="W1", area_code=wider)


def test_a_scoped_admin_cannot_write_fixes_for_a_worker_elsewhere(client, engine, tiny):
    _worker(engine, "W1")
    with engine.begin() as conn:
        other = create_token(conn, name="a2", role="admin", area_code="900002")
    fix = {"lon": 103.005, "lat": 35.01, "recorded_at": datetime.now(UTC).isoformat()}
    r = client.post("/api/v1/workers/W1/positions", json={"fixes": [fix]},
                    headers=bearer(other))
    assert r.status_code == 404


def test_fixes_with_edge_values_are_rejected_one_by_one(client, engine, tokens):
    _worker(engine, "W1")
    now = datetime.now(UTC)
    fixes = [{"lon": 103.005, "lat": 35.01, "recorded_at": now.isoformat()},
             {"lon": 103.005, "lat": 35.01, "recorded_at": "0001-01-01T00:00:00+01:00"}]
    text = json.dumps({"fixes": fixes})[:-2] + ', {"lon": 1' + "0" * 400 + \
        f', "lat": 35.0, "recorded_at": "{(now - timedelta(seconds=5)).isoformat()}"' + "}]}"
    r = client.post("/api/v1/workers/W1/positions", data=text, content_type="application/json",
                    headers=bearer(tokens["admin"]))
    assert r.status_code == 200, r.get_data(as_text=True)
    assert [(e["index"], e["code"]) for e in r.get_json()["rejected"]] == [
        (1, "invalid_time"), (2, "invalid_number")]
