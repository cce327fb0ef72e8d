"""Overdue cases climb the tree once however many sweeps run; the KPIs add up."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from geo_service.app import services
from geo_service.cases import escalate_overdue
from geo_service.cli import main
from geo_service.store.tables import report_events, reports
from geo_service.store.uow import unit_of_work

from .conftest import bearer
from .test_reports import IN_G4, act, post, report


def _sweep(app, at: datetime) -> int:
    with unit_of_work(services(app).engine) as uow:
        return escalate_overdue(uow.conn, app.config, at)


def test_an_overdue_case_is_escalated_once_with_its_reason(app, client, tokens, engine):
    d = tokens["dispatcher"]
    urgent = post(client, d, report(severity="urgent")).get_json()  # management, 6 h
    normal = post(client, d, report()).get_json()  # 72 h
    assert _sweep(app, datetime.now(UTC) + timedelta(hours=1)) == 0
    later = datetime.now(UTC) + timedelta(hours=7)
    assert _sweep(app, later) == 1
    assert _sweep(app, later) == 0  # its new level has a new deadline
    got = client.get(f"/api/v1/reports/{urgent['id']}", headers=bearer(d)).get_json()
    assert got["status"] == "escalated" and got["owner"]["level"] == "village"
    step = got["history"][-1]
    assert step["actor"] == "sweep" and step["note"].startswith("overdue since")
    assert client.get(f"/api/v1/reports/{normal['id']}", headers=bearer(d)
                      ).get_json()["status"] == "reported"
    overdue = client.get("/api/v1/reports?overdue=true", headers=bearer(d)).get_json()
    assert overdue["reports"] == []  # the village's deadline runs from now
    with engine.connect() as conn:
        kinds = conn.execute(sa.text("SELECT kind FROM outbox WHERE kind LIKE 'report%' "
                                     "ORDER BY id")).scalars().all()
    assert kinds == ["report.created", "report.created", "report.overdue"]


def test_sweeps_running_at_once_escalate_each_case_once(app, client, tokens, engine):
    d = tokens["dispatcher"]
    ids = [post(client, d, report(severity="urgent", lon=103.001 + i * 0.002)).get_json()["id"]
           for i in range(8)]
    later = datetime.now(UTC) + timedelta(hours=7)
    counts: list[int] = []
    barrier = threading.Barrier(3)

    def sweep() -> None:
        barrier.wait()
        counts.append(_sweep(app, later))

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == len(ids)
    with engine.connect() as conn:
        levels = conn.execute(sa.select(reports.c.owner_level, reports.c.escalations)).all()
        steps = conn.execute(sa.select(sa.func.count()).select_from(report_events).where(
            report_events.c.actor == "sweep")).scalar()
    assert {tuple(r) for r in levels} == {("village", 1)} and steps == len(ids)


def test_the_prefecture_is_reminded_once_per_deadline(app, client, tokens):
    d = tokens["dispatcher"]
    r = post(client, d, report(severity="urgent")).get_json()
    at = datetime.now(UTC)
    for _ in range(4):  # village, township, county, prefecture
        at += timedelta(hours=7)
        assert _sweep(app, at) == 1
    got = client.get(f"/api/v1/reports/{r['id']}", headers=bearer(d)).get_json()
    assert got["owner"]["level"] == "prefecture" and got["escalations"] == 4
    at += timedelta(hours=7)
    assert _sweep(app, at) == 1 and _sweep(app, at) == 0
    got = client.get(f"/api/v1/reports/{r['id']}", headers=bearer(d)).get_json()
    assert got["history"][-1]["action"] == "supervise" and got["escalations"] == 4


def test_the_sweep_command(app, client, tokens, monkeypatch, db_url):
    from click.testing import CliRunner

    post(client, tokens["dispatcher"], report())
    monkeypatch.setenv("GEO_DATABASE_URL", db_url)
    out = CliRunner().invoke(main, ["sweep"])
    assert out.exit_code == 0, out.output
    assert "0 overdue case(s) escalated" in out.output


def _close(client, token, rid, version=1, escalate=False):
    steps = (["escalate"] if escalate else []) + ["accept", "resolve", "follow_up", "close"]
    for v, action in enumerate(steps, start=version):
        assert act(client, token, rid, action, v).status_code == 200


def test_stats_for_an_area(client, tokens, engine):
    d = tokens["dispatcher"]
    a = post(client, d, report()).get_json()["id"]  # G1, closed in the grid
    b = post(client, d, report(subtype="help_request")).get_json()["id"]  # closed at village
    post(client, d, report(lon=IN_G4[0], lat=IN_G4[1]))  # county 900002, open
    post(client, d, report(severity="urgent", lon=103.015))  # G2, open
    _close(client, d, a)
    _close(client, d, b, escalate=True)
    s = client.get("/api/v1/stats", headers=bearer(d)).get_json()
    assert (s["reports"], s["open"], s["closed"], s["overdue"]) == (4, 2, 2, 0)
    assert s["resolved_in_grid"] == 0.5 and s["resolved_township_or_below"] == 1.0
    assert s["per_class"]["service"] == {"reports": 1, "open": 0, "overdue": 0, "closed": 1,
                                         "resolved_in_grid": 0.0}
    assert s["median_accept_s"] is not None and s["median_close_s"] >= 0
    assert sum(day["reports"] for day in s["daily"]) == 4
    assert sum(day["closed"] for day in s["daily"]) == 2
    assert s["hourly"]["reports"] == [0] * 23 + [4]  # all received in the last hour
    county = client.get("/api/v1/stats?area=900001", headers=bearer(d)).get_json()
    assert (county["reports"], county["open"], county["closed"]) == (3, 1, 2)
    assert county["hourly"]["reports"][-1] == 3
    with engine.begin() as conn:  # one received 5 h 30 min ago, one 2 days ago
        conn.execute(reports.update().where(reports.c.id == a).values(
            received_at=datetime.now(UTC) - timedelta(hours=5, minutes=30)))
        conn.execute(reports.update().where(reports.c.id == b).values(
            received_at=datetime.now(UTC) - timedelta(days=2)))
    hourly = client.get("/api/v1/stats", headers=bearer(d)).get_json()["hourly"]
    assert hourly["reports"] == [0] * 18 + [1, 0, 0, 0, 0, 2]  # by the hour before now
    assert datetime.fromisoformat(hourly["until"]) <= datetime.now(UTC)
    future = datetime.now(UTC) + timedelta(hours=80)
    with engine.begin() as conn:  # make one overdue without waiting 6 hours
        conn.execute(reports.update().where(reports.c.severity == "urgent").values(
            due_at=datetime.now(UTC) - timedelta(minutes=1)))
    assert client.get("/api/v1/stats", headers=bearer(d)).get_json()["overdue"] == 1
    q = f"since={future.isoformat().replace('+', '%2B')}"
    empty = client.get(f"/api/v1/stats?{q}", headers=bearer(d))
    assert empty.status_code == 400  # since after until (now)


@pytest.mark.parametrize("q", ["area=", "since=yesterday", "until=2026-01-01", "bogus=1"])
def test_bad_stats_queries(client, tokens, q):
    r = client.get(f"/api/v1/stats?{q}", headers=bearer(tokens["viewer"]))
    assert r.status_code == 400 and r.get_json()["error"]["field"]


def test_the_server_sweeps_by_itself_off_the_request_path(app, client, tokens, engine):
    d = tokens["dispatcher"]
    rid = post(client, d, report()).get_json()["id"]
    with engine.begin() as conn:
        conn.execute(reports.update().values(due_at=datetime.now(UTC) - timedelta(minutes=1)))
    sweeper = services(app).sweeper
    sweeper.interval = 0.01
    client.get("/api/v1/ping", headers=bearer(tokens["viewer"]))  # any request ticks it
    sweeper.settle()
    got = client.get(f"/api/v1/reports/{rid}", headers=bearer(d)).get_json()
    assert got["owner"]["level"] == "village" and got["history"][-1]["actor"] == "sweep"


def _expected(rows: list[dict], since: datetime, until: datetime, now: datetime) -> dict:
    """The KPIs computed the plain way, row by row (what `area_stats` must agree with)."""
    from statistics import median

    from geo_service.cases.model import ACTIVE, CLASSES, rank

    def share(p: int, w: int) -> float | None:
        return round(p / w, 4) if w else None

    rec = [r for r in rows if since <= r["received_at"] < until]
    clo = [r for r in rows if r["closed_at"] is not None and since <= r["closed_at"] < until
           and r["merged_into"] is None]
    opn = [r for r in rows if r["status"] != "closed"]
    late = [r for r in opn if r["status"] in ACTIVE and r["due_at"] < now]

    def in_grid(r: dict) -> bool:
        return r["peak_rank"] >= rank("grid") and not r["outside"]

    per_class = {}
    for k in CLASSES:
        closed = [r for r in clo if r["class"] == k]
        per_class[k] = {"reports": sum(r["class"] == k for r in rec),
                        "open": sum(r["class"] == k for r in opn),
                        "overdue": sum(r["class"] == k for r in late), "closed": len(closed)}
        if closed:
            per_class[k]["resolved_in_grid"] = share(sum(map(in_grid, closed)), len(closed))
    days = sorted({r["received_day"] for r in rec} | {r["closed_day"] for r in clo})
    acc = [r["accept_s"] for r in rec if r["accept_s"] is not None]
    cls = [r["close_s"] for r in clo if r["close_s"] is not None]
    edges = [now - timedelta(hours=24 - h) for h in range(25)]
    return {
        "hourly": {"until": now.isoformat(), "reports": [
            sum(edges[h] <= r["received_at"] < edges[h + 1] for r in rows) for h in range(24)]},
        "reports": len(rec), "open": len(opn), "overdue": len(late), "closed": len(clo),
        "resolved_in_grid": share(sum(map(in_grid, clo)), len(clo)),
        "resolved_township_or_below": share(sum(r["peak_rank"] >= rank("township")
                                                for r in clo), len(clo)),
        "median_accept_s": float(median(acc)) if acc else None,
        "median_close_s": float(median(cls)) if cls else None,
        "per_class": per_class,
        "daily": [{"day": d, "reports": sum(r["received_day"] == d for r in rec),
                   "closed": sum(r["closed_day"] == d for r in clo)} for d in days],
    }


def test_the_kpis_agree_with_a_plain_count_of_random_cases(app, engine, tiny):
    """400 random cases written straight into the store: every figure, for the whole
    prefecture (the medians walk their own index there) and a county (a range and a
    sort), over 91 and 30 days, equals the plain computation, on SQLite and PostGIS."""
    import random

    from geo_service.cases import area_stats
    from geo_service.cases.model import CLASSES, LEVELS, STATES, SUBTYPES, rank
    from geo_service.scope import Scope

    rnd = random.Random(9)
    vi = services(app).indexes.live()
    grids = [str(g) for g in vi.grids.codes]
    now = datetime.now(UTC).replace(microsecond=0)
    rows = []
    for k in range(400):
        chain = {a.level: a.code for a in vi.chain(rnd.choice(grids))}
        received = now - timedelta(seconds=rnd.randrange(95 * 86400))
        status = rnd.choice(STATES)
        closed = received + timedelta(seconds=rnd.randrange(1, 9 * 86400))
        closed = closed if status == "closed" and closed < now else None
        accept = rnd.choice([None, rnd.randrange(60, 9000)])
        subtype = rnd.choice(list(SUBTYPES))
        peak = rnd.choice([rank(lv) for lv in LEVELS[1:5]])
        rows.append({
            "id": f"00000000-0000-4000-8000-{k:012d}", "content_hash": "0" * 64,
            "class": SUBTYPES[subtype], "subtype": subtype, "severity": "normal",
            "description": "随机", "channel": "app", "lon": 103.0, "lat": 35.0,
            "occurred_at": received, "received_at": received,
            "received_day": (received + timedelta(hours=8)).date().isoformat(),
            "updated_at": received, "status": "closed" if closed else (
                "accepted" if status == "closed" else status),
            "version": 1, "owner_level": "grid", "owner_code": chain["grid"],
            **{f"{lv}_code": chain[lv] for lv in LEVELS[:5]},
            "outside": rnd.random() < 0.1, "boundary_version": vi.version,
            "due_at": received + timedelta(hours=rnd.choice([6, 24, 72, 999])),
            "escalations": 0, "peak_rank": peak, "reporter_name": "", "reporter_phone": "",
            "media_urls": [], "accept_s": accept, "closed_at": closed,
            "closed_day": (closed + timedelta(hours=8)).date().isoformat() if closed else None,
            "close_s": int((closed - received).total_seconds()) if closed else None,
            "merged_into": "00000000-0000-4000-8000-000000000000" if closed and
            rnd.random() < 0.05 else None})
    with engine.begin() as conn:
        conn.execute(reports.insert(), rows)
    assert {r["class"] for r in rows} == set(CLASSES)
    prefecture = next(a.code for a in vi.chain(grids[0]) if a.level == "prefecture")
    county = rows[0]["county_code"]
    for area, days in ((prefecture, 91), (prefecture, 30), (county, 91), (county, 30)):
        until = now + timedelta(minutes=1)
        since = until - timedelta(days=days)
        mine = [r for r in rows if r["prefecture_code" if area == prefecture
                                       else "county_code"] == area]
        with engine.connect() as conn:
            got = area_stats(conn, vi, area=area, scope=Scope(), since=since, until=until,
                             now=now)
        for key in ("area", "since", "until"):
            del got[key]
        assert got == _expected(mine, since, until, now), (area, days)
