"""Report intake and the case workflow, through the API, on SQLite and PostGIS."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from geo_service.auth import create_token
from geo_service.events import listen
from geo_service.store.tables import (
    outbox,
    report_events,
    reports,
    worker_areas,
    worker_state,
    workers,
)

from .conftest import bearer
from .tiny import G1, G4

IN_G1 = (103.005, 35.01)
IN_G4 = (103.03, 35.01)
OUTSIDE = (103.05, 35.01)  # east of G3, in no grid (county 900002's township is nearest)


def report(**kw):
    body = {"id": str(uuid.uuid4()), "subtype": "dispute", "description": "邻里纠纷：院墙",
            "lon": IN_G1[0], "lat": IN_G1[1],
            "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}
    body.update(kw)
    return body


def post(client, token, body):
    """POST a report; NaN is written as JSON's NaN (the test client's encoder sends null)."""
    text = json.dumps(body, ensure_ascii=False)
    return client.post("/api/v1/reports", data=text.encode(), headers=bearer(token),
                       content_type="application/json")


def act(client, token, rid, action, version, **kw):
    return client.post(f"/api/v1/reports/{rid}/actions",
                       json={"action": action, "version": version, **kw}, headers=bearer(token))


def test_intake_places_the_report_and_records_its_first_step(client, tokens, engine):
    with listen() as seen:
        r = post(client, tokens["dispatcher"], report(
            reporter={"name": "王小明", "phone": "13912345678"}))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert r.headers["Location"] == f"/api/v1/reports/{body['id']}"
    assert client.get(r.headers["Location"], headers=bearer(tokens["viewer"])).status_code == 200
    assert body["grid"]["code"] == G1 and body["group"]["code"] == G1 + "001"
    assert [c["code"] for c in body["chain"]] == [G1, G1[:12], G1[:9], G1[:6], "900000"]
    assert body["class"] == "management" and body["status"] == "reported"
    assert body["owner"] == {"level": "grid", "code": G1, "name": "第一网格"}
    assert body["reporter"]["name"] == "王小明" and body["version"] == 1
    assert [e.kind for e in seen] == ["report.created"] and seen[0].area_code == G1
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(report_events)).scalar() == 1
        outbox = conn.execute(sa.text(
            "SELECT kind, area_code FROM outbox WHERE kind LIKE 'report%'")).all()
    assert [tuple(o) for o in outbox] == [("report.created", G1)]


def test_a_retry_answers_the_stored_report_and_other_content_under_the_id_is_refused(
        client, tokens, engine):
    body = report()
    first = post(client, tokens["worker"], body)
    again = post(client, tokens["worker"], body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json() | {"overdue": again.get_json()["overdue"]}
    changed = post(client, tokens["worker"], {**body, "description": "另一件事"})
    assert changed.status_code == 409 and changed.get_json()["error"]["code"] == "id_reused"
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar() == 1


def _stored(engine) -> tuple[int, int, int]:
    """Reports, history rows and report events in the outbox."""
    with engine.connect() as conn:
        return tuple(conn.execute(sa.select(sa.func.count()).select_from(t).where(w)).scalar()
                     for t, w in ((reports, sa.true()), (report_events, sa.true()),
                                  (outbox, outbox.c.kind.like("report%"))))


def _at_once(client, token, bodies: list[dict]) -> list[int]:
    """POST the bodies from one thread each, released together; their statuses."""
    answers: list[int] = []
    barrier = threading.Barrier(len(bodies))

    def send(b: dict) -> None:
        barrier.wait()
        answers.append(post(client, token, b).status_code)

    threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(answers)


def test_concurrent_first_deliveries_of_one_id_store_it_once(client, tokens, engine):
    """Deliveries of one id at once (in one shared commit, or one after the other): one
    201, the same content 200, other content 409; one row, one step, one event."""
    d = tokens["dispatcher"]
    for k in range(4):
        body = report()
        if k % 2 == 0:
            assert _at_once(client, d, [body] * 4) == [200, 200, 200, 201]
        else:  # whichever content came first is stored; the other is refused
            assert _at_once(client, d, [body] * 3 + [{**body, "description": "另一件事"}]) in (
                [200, 200, 201, 409], [201, 409, 409, 409])
        assert _stored(engine) == (k + 1, k + 1, k + 1)


def test_a_retry_is_answered_by_its_id_even_where_its_point_would_be_refused(
        client, tokens, engine, scoped):
    body = report()  # in G1, county 900001
    assert post(client, scoped["900001"], body).status_code == 201
    before = _stored(engine)
    same = post(client, scoped["900002"], body)  # may not place a point in 900001
    assert same.status_code == 403 and same.get_json()["error"]["field"] == "id"
    other = post(client, scoped["900002"], {**body, "description": "另一件事"})
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "id_reused"
    fresh = post(client, scoped["900002"], report())  # a new report there: its point
    assert fresh.status_code == 403 and fresh.get_json()["error"]["field"] == "lon"
    again = post(client, tokens["dispatcher"], body)
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    assert _stored(engine) == before  # no retry wrote anything


def test_a_report_in_no_grid_is_kept_and_routed_to_the_nearest_grids_township(client, tokens):
    r = post(client, tokens["dispatcher"], report(lon=OUTSIDE[0], lat=OUTSIDE[1]))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["outside"] is True and body["grid"] is None
    assert body["owner"]["level"] == "township" and body["owner"]["code"] == "900002001"
    assert body["nearest_m"] > 0


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"subtype": "riot"}, "invalid_choice", "subtype"),
    ({"class": "service"}, "invalid_class", "class"),  # a dispute is a management matter
    ({"description": ""}, "missing", "description"),
    ({"description": "x" * 4001}, "too_long", "description"),
    ({"lon": float("nan")}, "invalid_number", "lon"),
    ({"lon": "103.0"}, "invalid_number", "lon"),
    ({"crs": "EPSG:9999"}, "unknown_crs", "crs"),
    ({"occurred_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}, "future_time",
     "occurred_at"),
    ({"occurred_at": "2026-11-29 08:00"}, "invalid_time", "occurred_at"),
    ({"id": "42"}, "invalid_id", "id"),
    ({"severity": "critical"}, "invalid_choice", "severity"),
    ({"channel": "fax"}, "invalid_choice", "channel"),
    ({"media_urls": ["javascript:alert(1)"]}, "invalid_media", "media_urls"),
    ({"surprise": 1}, "unknown_field", "surprise"),
    ({"description": "a\x00b"}, "invalid_text", "description"),  # no store keeps NUL
    ({"reporter": {"name": 5}}, "invalid_type", "reporter.name"),
])
def test_bad_reports_are_refused_naming_the_field(client, tokens, engine, change, code, field):
    r = post(client, tokens["dispatcher"], report(**change))
    assert r.status_code == 400, r.get_json()
    assert (r.get_json()["error"]["code"], r.get_json()["error"]["field"]) == (code, field)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar() == 0


@pytest.mark.parametrize(("lon", "lat", "code"), [
    (35.01, 103.005, "swapped_axes"), (200.0, 35.0, "out_of_range"),
])
def test_impossible_coordinates_are_unprocessable(client, tokens, lon, lat, code):
    r = post(client, tokens["dispatcher"], report(lon=lon, lat=lat))
    assert r.status_code == 422 and r.get_json()["error"]["code"] == code


def test_a_ten_megabyte_description_is_refused_without_storing_anything(client, tokens):
    r = post(client, tokens["dispatcher"], report(description="长" * 10_000_000))
    assert r.status_code in (400, 413)


def test_roles_that_do_not_take_reports_are_refused(client, tokens):
    for role in ("viewer", "planner"):
        assert post(client, tokens[role], report()).status_code == 403


@pytest.fixture
def scoped(engine, tiny):
    """A dispatcher of county 900001 (grids G1, G2) and one of county 900002."""
    with engine.begin() as conn:
        return {c: create_token(conn, name=f"d{c}", role="dispatcher", area_code=c)
                for c in ("900001", "900002")}


def test_a_scoped_token_sees_and_acts_on_its_own_subtree_only(client, tokens, scoped):
    mine = post(client, scoped["900001"], report()).get_json()
    theirs = post(client, tokens["dispatcher"], report(lon=IN_G4[0], lat=IN_G4[1])).get_json()
    outside = post(client, scoped["900001"], report(lon=IN_G4[0], lat=IN_G4[1]))
    assert outside.status_code == 403 and outside.get_json()["error"]["code"] == "out_of_scope"
    h = bearer(scoped["900001"])
    listed = client.get("/api/v1/reports", headers=h).get_json()["reports"]
    assert [r["id"] for r in listed] == [mine["id"]]
    assert client.get(f"/api/v1/reports/{theirs['id']}", headers=h).status_code == 404
    assert act(client, scoped["900001"], theirs["id"], "accept", 1).status_code == 404
    wide = client.get("/api/v1/reports?area=900002", headers=h)
    assert wide.status_code == 403 and wide.get_json()["error"]["field"] == "area"
    stats = client.get("/api/v1/stats", headers=h).get_json()
    assert stats["reports"] == 1
    assert client.get("/api/v1/stats?area=900002", headers=h).status_code == 403


def test_a_citizens_name_and_phone_reach_admin_and_dispatcher_only(client, tokens):
    rid = post(client, tokens["dispatcher"], report(
        reporter={"name": "王小明", "phone": "13912345678"}))
    rid = rid.get_json()["id"]
    for role, name, phone in (("admin", "王小明", "13912345678"),
                              ("dispatcher", "王小明", "13912345678"),
                              ("viewer", "王**", "139****5678"),
                              ("worker", "王**", "139****5678"),
                              ("planner", "王**", "139****5678")):
        got = client.get(f"/api/v1/reports/{rid}", headers=bearer(tokens[role])).get_json()
        assert got["reporter"]["name"] == name and got["reporter"]["phone"] == phone, role
        listed = client.get("/api/v1/reports", headers=bearer(tokens[role])).get_json()
        assert listed["reports"][0]["reporter"]["phone"] == phone


def _worker(engine, code="W1", area=G1):
    """A worker on duty with a fresh fix in its grid: one that may be sent (assign)."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        wid = conn.execute(workers.insert().values(code=code, name="网格员甲", role="grid_worker",
                                                   phone="13800000000", on_duty=True)
                           ).inserted_primary_key[0]
        conn.execute(worker_areas.insert().values(worker_id=wid, area_code=area))
        conn.execute(worker_state.insert().values(
            worker_code=code, lon=IN_G1[0], lat=IN_G1[1], recorded_at=now, grid_code=area,
            status="online", status_at=now, updated_at=now))
    return code


def test_the_whole_lifecycle_with_history(client, tokens, engine):
    w = _worker(engine)
    rid = post(client, tokens["worker"], report()).get_json()["id"]
    d = tokens["dispatcher"]
    steps = [("accept", {}), ("assign", {"worker": w}), ("start", {}), ("resolve", {}),
             ("follow_up", {"note": "回访：满意"}), ("close", {})]
    for version, (action, kw) in enumerate(steps, start=1):
        r = act(client, d, rid, action, version, **kw)
        assert r.status_code == 200, (action, r.get_json())
    done = client.get(f"/api/v1/reports/{rid}", headers=bearer(d)).get_json()
    assert done["status"] == "closed" and done["version"] == 7
    assert done["assigned_worker"] == w and done["closed_at"] and done["accepted_at"]
    assert [s["action"] for s in done["history"]] == ["report"] + [a for a, _ in steps]
    assert [s["to_status"] for s in done["history"]] == [
        "reported", "accepted", "assigned", "in_progress", "resolved", "followed_up", "closed"]
    assert done["history"][5]["note"] == "回访：满意"
    assert done["allowed_actions"] == ["reopen"]


def test_an_illegal_transition_names_the_allowed_ones(client, tokens):
    rid = post(client, tokens["dispatcher"], report()).get_json()["id"]
    r = act(client, tokens["dispatcher"], rid, "close", 1)
    assert r.status_code == 409
    err = r.get_json()["error"]
    assert err["code"] == "illegal_transition"
    assert err["detail"]["allowed"] == ["accept", "escalate", "merge"]


def test_a_stale_version_loses_no_update(client, tokens):
    rid = post(client, tokens["dispatcher"], report()).get_json()["id"]
    assert act(client, tokens["dispatcher"], rid, "accept", 1).status_code == 200
    late = act(client, tokens["admin"], rid, "escalate", 1)
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "stale_version"
    assert late.get_json()["error"]["detail"] == {"current_version": 2}


def test_escalation_climbs_the_tree_and_return_comes_back_down(client, tokens):
    d = tokens["dispatcher"]
    rid = post(client, d, report()).get_json()["id"]
    levels = []
    for version in range(1, 5):
        r = act(client, d, rid, "escalate" if version % 2 else "accept", version)
        assert r.status_code == 200, r.get_json()
        levels.append(r.get_json()["owner"]["level"])
    assert levels == ["village", "village", "township", "township"]
    no_reason = act(client, d, rid, "return", 5)
    assert no_reason.status_code == 400 and no_reason.get_json()["error"]["field"] == "note"
    back = act(client, d, rid, "return", 5, note="村里能处理")
    assert back.get_json()["owner"] == {"level": "village", "code": G1[:12], "name": "甲村"}
    assert back.get_json()["escalations"] == 2


def test_escalation_stops_at_the_prefecture(client, tokens):
    d = tokens["dispatcher"]
    r = post(client, d, report()).get_json()
    owners = [r["owner"]["level"]]
    while r["owner"]["level"] != "prefecture":
        r = act(client, d, r["id"], "escalate", r["version"]).get_json()
        r = act(client, d, r["id"], "accept", r["version"]).get_json()
        owners.append(r["owner"]["level"])
    assert owners == ["grid", "village", "township", "county", "prefecture"]
    top = act(client, d, r["id"], "escalate", r["version"])
    assert top.status_code == 409 and "prefecture" in top.get_json()["error"]["message"]


def test_a_report_close_to_an_open_one_is_suggested_as_its_duplicate_and_can_be_merged(
        client, tokens, engine):
    d = tokens["dispatcher"]
    first = post(client, d, report()).get_json()
    near = post(client, d, report(lon=IN_G1[0] + 0.0005)).get_json()  # ~45 m east
    other_kind = post(client, d, report(subtype="safety_hazard")).get_json()
    far = post(client, d, report(lon=IN_G1[0] + 0.004)).get_json()  # ~365 m
    assert near["suggested_duplicate_of"] == first["id"]
    assert other_kind["suggested_duplicate_of"] is None and far["suggested_duplicate_of"] is None
    with listen() as seen:
        merged = act(client, d, near["id"], "merge", 1, into=first["id"])
    assert merged.status_code == 200, merged.get_json()
    assert merged.get_json()["status"] == "closed"
    assert merged.get_json()["merged_into"] == first["id"]
    assert [e.kind for e in seen] == ["report.merged", "report.merged"]
    original = client.get(f"/api/v1/reports/{first['id']}", headers=bearer(d)).get_json()
    assert original["history"][-1]["action"] == "absorb"
    assert near["id"] in original["history"][-1]["note"]


def test_the_duplicate_check_reads_its_candidates_from_its_own_index(engine):
    """Intake runs the check for every report: it must search ix_reports_duplicates by
    subtype and latitude band (where the box and the window are tested too), not scan the
    reports of the subtype. (SQLite's plan; PostgreSQL plans by its statistics.)"""
    from geo_service.cases.duplicates import _CANDIDATES

    if engine.dialect.name != "sqlite":
        pytest.skip("the plan asserted here is SQLite's")
    compiled = _CANDIDATES.compile(dialect=engine.dialect)
    values = {**compiled.params, "subtype": "dispute", "lat0": 35.0, "lat1": 35.1,
              "lon0": 103.0, "lon1": 103.1, "t0": "2026-01-01 00:00:00",
              "t1": "2026-01-02 00:00:00"}
    with engine.connect() as conn:
        plan = " ".join(row[-1] for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {compiled}", tuple(values[k] for k in compiled.positiontup)))
    assert "USING INDEX ix_reports_duplicates (subtype=? AND lat>? AND lat<?)" in plan, plan


def test_lists_filter_page_and_map(client, tokens):
    d = tokens["dispatcher"]
    ids = [post(client, d, report(lon=lon, subtype=st)).get_json()["id"]
           for lon, st in ((103.005, "dispute"), (103.015, "help_request"),
                           (103.03, "dispute"))]
    h = bearer(d)

    def listed(q):
        r = client.get(f"/api/v1/reports?{q}", headers=h)
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    assert [r["id"] for r in listed("")["reports"]] == ids[::-1]
    assert [r["id"] for r in listed("area=900001")["reports"]] == ids[1::-1]
    assert [r["id"] for r in listed(f"area={G4}")["reports"]] == [ids[2]]
    assert [r["id"] for r in listed("class=service")["reports"]] == [ids[1]]
    assert [r["id"] for r in listed("bbox=103.0,35.0,103.01,35.02")["reports"]] == [ids[0]]
    assert listed("status=closed")["reports"] == []
    page1 = listed("limit=2")
    page2 = listed(f"limit=2&cursor={page1['next_cursor']}")
    assert [r["id"] for r in page1["reports"] + page2["reports"]] == ids[::-1]
    assert page2["next_cursor"] is None
    fc = listed("format=geojson")
    assert fc["type"] == "FeatureCollection"
    assert fc["features"][0]["geometry"] == {"type": "Point", "coordinates": [103.03, 35.01]}
    for bad, field in (("status=lost", "status"), ("bbox=1,2,3", "bbox"),
                       ("limit=0", "limit"), ("since=yesterday", "since"),
                       ("area=nowhere", "code"), ("overdue=maybe", "overdue")):
        r = client.get(f"/api/v1/reports?{bad}", headers=h)
        assert r.status_code in (400, 404) and r.get_json()["error"]["field"] == field, bad


def test_descriptions_are_stored_verbatim(client, tokens):
    text = "<script>alert(1)</script> \u202e 𠀀 \t\n"
    r = post(client, tokens["dispatcher"], report(description=text))
    assert r.status_code == 201
    got = client.get(f"/api/v1/reports/{r.get_json()['id']}",
                     headers=bearer(tokens["dispatcher"]))
    assert got.get_json()["description"] == text and got.mimetype == "application/json"


def test_the_readme_shows_the_workflow_table():
    from pathlib import Path

    from geo_service.cases.model import TRANSITIONS

    readme = Path(__file__).resolve().parent.parent.joinpath("README.md").read_text("utf-8")
    for action, t in TRANSITIONS.items():
        row = (f"| `{action}` | {', '.join(f'`{s}`' for s in sorted(t.sources))} | "
               f"`{t.target}` | {', '.join(t.roles)} | {t.why} |")
        assert row in readme, action


def test_a_level_acts_only_on_the_cases_it_owns(client, tokens, engine, tiny):
    with engine.begin() as conn:
        township = create_token(conn, name="t", role="dispatcher", area_code="900001001")
    rid = post(client, township, report()).get_json()["id"]
    steps = ("escalate", "accept", "escalate", "accept", "escalate")  # village, township, county
    for version, action in enumerate(steps, start=1):
        assert act(client, township, rid, action, version).status_code == 200
    refused = act(client, township, rid, "accept", 6)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "out_of_scope"
    seen = client.get(f"/api/v1/reports/{rid}", headers=bearer(township))
    assert seen.status_code == 200 and seen.get_json()["owner"]["level"] == "county"
    assert act(client, tokens["dispatcher"], rid, "accept", 6).status_code == 200
