"""Household visits: verified by the trail or flagged, idempotent, scoped; coverage per grid
and group, care households overdue (listed per role), and the figure in /stats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import shapely
import sqlalchemy as sa

from geo_service.auth import create_token
from geo_service.events import listen
from geo_service.store.tables import households, outbox, visits

from . import test_workers
from .conftest import bearer
from .tiny import G1, G2, G3, G4

crew = test_workers.crew  # W1 answers for G1 (token scoped to it), W4 for G4
send = test_workers.send

NOW = datetime.now(UTC).replace(microsecond=0)
NEAR = (103.0052, 35.01)  # ~18 m from H1
FAR = (103.0, 35.01)  # ~456 m from H1
# code, grid, lon, lat, care tags, head, phone
HOUSEHOLDS = [
    ("H1", G1, 103.005, 35.01, "elderly", "李四", "13900001111"),
    ("H2", G1, 103.002, 35.005, "disabled;", "王五", "13900002222"),
    ("H3", G1, 103.008, 35.015, "", "赵六", "13900003333"),
    ("H4", G1, 103.003, 35.018, "", "钱七", "13900004444"),
    ("H5", G2, 103.015, 35.01, "orphan", "孙八", "13900005555"),
    ("H9", G4, 103.03, 35.01, "elderly;low_income", "周九", "13900009999"),
]


@pytest.fixture
def homes(engine, tiny):
    with engine.begin() as conn:
        conn.execute(households.insert(), [
            {"code": c, "address": f"{c}号院", "grid_code": g, "group_code": g + "001",
             "head_name": name, "phone": phone, "members": 2, "care_tags": tags,
             "geom": shapely.Point(x, y)} for c, g, x, y, tags, name, phone in HOUSEHOLDS])


def when(seconds: float) -> str:
    return (NOW + timedelta(seconds=seconds)).isoformat()


def visit(client, token, code="W1", household="H1", at=None, kind="routine", **extra):
    body = {"household": household, "visited_at": at or when(-3600), "kind": kind, **extra}
    return client.post(f"/api/v1/workers/{code}/visits", json=body, headers=bearer(token))


# Fixes (seconds from the visit, position, extra fields) and what the trail then says.
@pytest.mark.parametrize(("fixes", "verified", "reason"), [
    ([(-120, NEAR, {})], True, None),  # two minutes before, 18 m away
    ([(240, NEAR, {})], True, None),  # a fix after the visit counts as well
    ([(-60, FAR, {})], False, "too_far"),  # 456 m away
    ([(-500, NEAR, {}), (30, FAR, {})], False, "too_far"),  # the nearest in time decides
    ([(-1200, NEAR, {})], False, "no_fix"),  # outside ±VISIT_FIX_WINDOW_S (600 s)
    ([], False, "no_fix"),  # no fix at all
    ([(-60, NEAR, {"accuracy_m": 5000})], False, "no_fix"),  # an inaccurate fix does not count
])
def test_a_visit_is_verified_by_the_fix_nearest_in_time(client, crew, homes, fixes, verified,
                                                       reason):
    at = NOW - timedelta(hours=1)
    if fixes:
        r = send(client, crew["W1"], "W1", *[
            (lon, lat, (at + timedelta(seconds=s)).isoformat(), extra)
            for s, (lon, lat), extra in fixes])
        assert r.status_code == 200, r.get_json()
    r = visit(client, crew["W1"], at=at.isoformat(), kind="care", note="血压正常")
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert (body["verified"], body["reason"]) == (verified, reason)
    assert body["grid"] == G1 and body["group"] == G1 + "001" and body["kind"] == "care"
    if reason == "too_far":
        assert 400 < body["distance_m"] < 500 and "m from the household" in body["reason_text"]
    if verified:
        assert body["distance_m"] < 100 and body["reason_text"] is None


def test_a_late_fix_sent_after_newer_ones_still_verifies(client, crew, homes):
    send(client, crew["W1"], "W1", (*NEAR, when(-60)))
    late = send(client, crew["W1"], "W1", (*NEAR, when(-4000)))
    assert late.get_json()["flagged"] == [{"index": 0, "flag": "late"}]
    assert visit(client, crew["W1"], at=when(-4000)).get_json()["verified"] is True


def test_the_visit_and_its_event_are_stored_once(client, crew, homes, engine):
    send(client, crew["W1"], "W1", (*NEAR, when(-3600)))
    with listen() as seen:
        first = visit(client, crew["W1"], note="门口见面")
        again = visit(client, crew["W1"], note="门口见面")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json() == again.get_json()
    assert [e.kind for e in seen] == ["worker.visited"]
    event = seen[0]
    assert event.area_code == G1 and event.verified is True and event.visit_kind == "routine"
    assert "H1" not in str(event.payload()) and "门口" not in str(event.payload())
    other = visit(client, crew["W1"], note="another note")
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "visit_exists"
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(visits)).scalar() == 1
        kinds = conn.execute(sa.select(outbox.c.kind, outbox.c.area_code).where(
            outbox.c.kind == "worker.visited")).all()
    assert [tuple(k) for k in kinds] == [("worker.visited", G1)]


def test_who_may_record_a_visit_and_of_which_household(client, crew, homes, tokens):
    assert visit(client, crew["W1"], code="W4").status_code == 403  # another worker's code
    assert visit(client, tokens["dispatcher"]).status_code == 403  # not a worker's token
    r = visit(client, crew["W1"], household="NOPE")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "unknown_household"
    outside = visit(client, crew["W1"], household="H9")  # G4: another county
    assert outside.status_code == 404
    assert outside.get_json()["error"]["code"] == "unknown_household"
    assert visit(client, crew["W1"], household="H5").status_code == 404  # G2: not W1's grid
    assert visit(client, tokens["admin"], household="H9").status_code == 201  # admin: any
    assert visit(client, tokens["admin"], code="NOBODY").status_code == 404


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"visited_at": (NOW + timedelta(hours=1)).isoformat()}, "future_time", "visited_at"),
    ({"visited_at": "2026-01-01T08:00:00"}, "invalid_time", "visited_at"),  # no offset
    ({"kind": "party"}, "invalid_choice", "kind"),
    ({"kind": None}, "missing", "kind"),
    ({"note": "x" * 2001}, "too_long", "note"),
    ({"note": "a\x00b"}, "invalid_text", "note"),
    ({"note": 5}, "invalid_type", "note"),
    ({"household": None}, "missing", "household"),
    ({"household": 7}, "invalid_type", "household"),
    ({"photo": "x"}, "unknown_field", "photo"),
])
def test_bad_visits_are_refused_naming_the_field(client, crew, homes, change, code, field):
    body = {"household": "H1", "visited_at": when(-60), "kind": "routine", **change}
    body = {k: v for k, v in body.items() if v is not None}
    r = client.post("/api/v1/workers/W1/visits", json=body, headers=bearer(crew["W1"]))
    assert r.status_code == 400, r.get_json()
    assert (r.get_json()["error"]["code"], r.get_json()["error"]["field"]) == (code, field)


@pytest.fixture
def visited(client, crew, homes, tokens):
    """H1 (elderly, every 7 days) verified 8 days ago: overdue; H2 (disabled, 14 days)
    verified 3 days ago; H3 visited 2 days ago without a fix; H4, H5, H9 never."""
    for days, home, fix in ((8, "H1", NEAR), (3, "H2", (103.002, 35.005)), (2, "H3", None)):
        at = NOW - timedelta(days=days)
        if fix:
            assert send(client, crew["W1"], "W1", (*fix, at.isoformat())).status_code == 200
        assert visit(client, crew["W1"], household=home, at=at.isoformat()).status_code == 201


def _coverage(client, token, **params):
    r = client.get("/api/v1/coverage", query_string=params, headers=bearer(token))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_coverage_per_grid_and_group_with_shares(client, tokens, visited):
    body = _coverage(client, tokens["admin"])
    grids = {g["code"]: g for g in body["grids"]}
    assert {k: grids[G1][k] for k in ("households", "visited", "verified", "share",
                                      "care_households", "care_overdue")} == {
        "households": 4, "visited": 3, "verified": 2, "share": 0.5, "care_households": 2,
        "care_overdue": 1}
    assert (grids[G2]["households"], grids[G2]["share"], grids[G2]["care_overdue"]) == (1, 0.0, 1)
    assert (grids[G3]["households"], grids[G3]["share"]) == (0, None)
    groups = {g["code"]: g for g in body["groups"]}
    assert groups[G1 + "001"]["grid"] == G1 and groups[G1 + "001"]["verified"] == 2
    assert (body["households"], body["visited"], body["verified"], body["share"],
            body["care_overdue"]) == (6, 3, 2, 0.3333, 3)
    week = _coverage(client, tokens["admin"], days=7)  # H1's visit is 8 days old
    assert {g["code"]: g["verified"] for g in week["grids"]}[G1] == 1
    assert week["care_overdue"] == 3  # overdue follows the care interval, not the window


def test_overdue_care_households_are_listed_and_masked_per_role(client, tokens, visited):
    admin = _coverage(client, tokens["admin"])["overdue"]
    assert [(o["household"], o["days_since_visit"], o["interval_days"]) for o in admin] == [
        ("H5", None, 7), ("H9", None, 7), ("H1", 8, 7)]  # never visited first
    h1 = admin[2]
    assert (h1["grid"], h1["group"], h1["care_tags"]) == (G1, G1 + "001", ["elderly"])
    assert h1["head"] == {"name": "李四", "phone": "13900001111"}
    assert admin[1]["care_tags"] == ["elderly", "low_income"]
    worker = _coverage(client, tokens["worker"])["overdue"]
    assert worker[2]["head"] == {"name": "李*", "phone": "139****1111"}
    assert _coverage(client, tokens["dispatcher"])["overdue"][2]["head"]["name"] == "李四"
    assert len(_coverage(client, tokens["admin"], limit=1)["overdue"]) == 1
    for role in ("viewer", "planner"):  # counts only: the list says who needs care
        body = _coverage(client, tokens[role])
        assert body["overdue"] is None and body["care_overdue"] == 3
        assert "李" not in str(body) and "H1" not in str(body)


def test_a_scoped_token_sees_only_its_own_coverage(client, engine, tokens, visited):
    with engine.begin() as conn:
        county = create_token(conn, name="county-1", role="dispatcher", area_code="900001")
    mine = _coverage(client, county)
    assert [g["code"] for g in mine["grids"]] == [G1, G2]
    assert mine["households"] == 5 and mine["area"] == "900001"
    assert [o["household"] for o in mine["overdue"]] == ["H5", "H1"]
    other = client.get("/api/v1/coverage?area=900002", headers=bearer(county))
    assert other.status_code == 403 and other.get_json()["error"]["code"] == "out_of_scope"
    one = _coverage(client, tokens["admin"], area=G4)
    assert [g["code"] for g in one["grids"]] == [G4] and one["households"] == 1
    group = _coverage(client, county, area=G1 + "001")  # a ten-household group: its own
    assert [g["code"] for g in group["groups"]] == [G1 + "001"] and group["households"] == 4
    stats = client.get(f"/api/v1/stats?area={G1}001", headers=bearer(county)).get_json()
    assert (stats["households_total"], stats["households_visited_30d"]) == (4, 2)


@pytest.mark.parametrize("query", ["days=0", "days=366", "days=x", "limit=1001", "area=",
                                   "area=nowhere", "colour=red"])
def test_bad_coverage_queries_are_refused(client, tokens, query):
    r = client.get(f"/api/v1/coverage?{query}", headers=bearer(tokens["admin"]))
    assert r.status_code in (400, 404) and "error" in r.get_json()


def test_stats_carry_the_share_of_households_visited(client, engine, tokens, visited):
    body = client.get("/api/v1/stats", headers=bearer(tokens["viewer"])).get_json()
    assert (body["households_total"], body["households_visited_30d"],
            body["households_visited_30d_share"], body["care_households_overdue"]) == (
        6, 2, 0.3333, 3)
    county = client.get("/api/v1/stats?area=900002", headers=bearer(tokens["admin"])).get_json()
    assert (county["households_total"], county["households_visited_30d"]) == (1, 0)


def test_every_demo_care_tag_has_an_interval_of_its_own():
    from boundaries.synthetic.people import CARE_TAGS
    from geo_service.settings import load
    from geo_service.workers.coverage import care_intervals, interval_of

    settings = load(environ={})
    assert {t for t, _ in CARE_TAGS} == {t for t, _ in care_intervals(settings)}
    assert interval_of(["low_income", "disabled"], settings) == 14  # the shortest
    assert interval_of(["blind"], settings) == settings["CARE_OTHER_DAYS"] == 30


# care tags, days since the last verified visit (None: never) -> overdue?
OVERDUE = [
    ("elderly", 6, False), ("elderly", 8, True), ("orphan;", 8, True),
    ("disabled", 13, False), ("disabled", 15, True), ("low_income", 29, False),
    ("low_income;elderly", 10, True),  # the shortest interval of its tags
    ("blind", 29, False), ("blind", 31, True),  # a tag without a setting: CARE_OTHER_DAYS
    ("elderly", None, True), ("", None, False),  # never visited; not a care household
]


def test_the_database_finds_overdue_households_as_the_intervals_say(app, engine, tiny):
    from geo_service.app import services
    from geo_service.scope import EVERYTHING
    from geo_service.workers.coverage import coverage
    from geo_service.workers.visits import remember_visit

    with engine.begin() as conn:
        for i, (tags, days, _) in enumerate(OVERDUE):
            conn.execute(households.insert().values(
                code=f"O{i:02d}", grid_code=G3, group_code=G3 + "001", care_tags=tags,
                geom=shapely.Point(103.021, 35.001)))
            if days is not None:  # then a newer unverified visit, then an older verified one
                for ago, verified in ((timedelta(days=days, hours=1), True),
                                      (timedelta(hours=1), False),
                                      (timedelta(days=days + 5), True)):
                    remember_visit(conn, f"O{i:02d}", NOW - ago, verified)
    with engine.connect() as conn:
        out = coverage(conn, services(app).indexes.live(), scope=EVERYTHING, area=None,
                       days=30, role="admin", now=NOW, settings=app.config)
    expected = {f"O{i:02d}" for i, (_, _, late) in enumerate(OVERDUE) if late}
    assert {o["household"] for o in out["overdue"]} == expected
    assert out["care_overdue"] == len(expected) and out["care_households"] == len(OVERDUE) - 1
    # each visited one also has an unverified visit an hour ago; 31 days is outside the window;
    # the older verified visit recorded last never moved the last one back
    assert out["visited"] == 9 and out["verified"] == 8
