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
