"""The wall in a real headless Chromium (Debian's, driven by Playwright) against a real
gunicorn server on the tiny prefecture: it draws every grid and the API's figures, live
updates arrive through the event stream, an outage shows the banner and loses nothing, a
county's wall ignores the other county, and no request leaves the service.

Screenshots (zh and en) go to test-artifacts/ (git-ignored)."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from geo_service.app import create_app, services
from geo_service.auth import create_token
from geo_service.store.tables import worker_areas, workers

from .conftest import load_tiny
from .serving import server_process
from .tiny import G1, G3

CHROMIUM = os.environ.get("GEO_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():  # .ci/run installs it; elsewhere say how
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"no chromium at {CHROMIUM}: apt-get install chromium")
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


class Site:
    """The server under test (restartable on the same port), its store and tokens."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.url = f"sqlite:///{tmp / 'geo.sqlite3'}"
        app = create_app({"DATABASE_URL": self.url, "ACCESS_LOG": False}, migrate=True)
        self.engine = services(app).engine
        load_tiny(self.engine)
        with self.engine.begin() as conn:
            self.tokens = {role: create_token(conn, name=f"wall-{role}", role=role)
                           for role in ("viewer", "admin")}
            for code, area in (("W1", G1), ("W3", G3)):
                wid = conn.execute(workers.insert().values(
                    code=code, name="网格员" + code, role="grid_worker", phone="13800000000",
                    on_duty=True)).inserted_primary_key[0]
                conn.execute(worker_areas.insert().values(worker_id=wid, area_code=area))
                self.tokens[code] = create_token(conn, name=f"phone-{code}", role="worker",
                                                 worker_code=code)
        self.app = app
        self.stack = ExitStack()
        self.port: int | None = None
        self.start()

    def start(self) -> None:
        base, self.proc = self.stack.enter_context(server_process(
            self.tmp, self.url, port=self.port, WORKERS="1", THREADS="32",
            STREAM_HEARTBEAT_S="1", TOKEN_CACHE_S="0.5", ACCESS_LOG="false"))
        self.base = base.removesuffix("/api/v1")
        self.port = urlsplit(self.base).port

    def stop(self) -> None:
        self.stack.close()
        self.stack = ExitStack()

    def call(self, method: str, path: str, body: dict | None = None, token: str = "admin"):
        req = urllib.request.Request(
            f"{self.base}/api/v1{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.tokens.get(token, token)}",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())


def report(lon: float, lat: float, **kw) -> dict:
    return {"id": str(uuid.uuid4()), "subtype": "dispute", "description": "院墙纠纷",
            "lon": lon, "lat": lat, "occurred_at": datetime.now(UTC).isoformat(), **kw}


def fix(lon: float, lat: float, ago_s: float = 0) -> dict:
    at = datetime.now(UTC) - timedelta(seconds=ago_s)
    return {"fixes": [{"lon": lon, "lat": lat, "recorded_at": at.isoformat()}]}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    s = Site(tmp_path_factory.mktemp("wall"))
    try:
        yield s
    finally:
        s.stop()
        services(s.app).close()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


class Wall:
    """One page of the wall, recording every request it makes."""

    def __init__(self, browser, site: Site, query: str = "") -> None:
        # bypass_csp: the test evaluates its own probes; the page itself never needs eval
        self.context = browser.new_context(viewport={"width": 1920, "height": 1080},
                                           bypass_csp=True)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        sep = "&" if query else ""
        self.page.goto(f"{site.base}/wall?{query}{sep}token={site.tokens['viewer']}")
        self.page.wait_for_function("document.body.dataset.ready === '1'", timeout=20_000)

    def js(self, expression: str, arg=None):
        return self.page.evaluate(expression, arg)

    def wait(self, expression: str, arg=None, timeout: float = 2_000) -> None:
        self.page.wait_for_function(expression, arg=arg, timeout=timeout)


@pytest.fixture(scope="module")
def wall(browser, site) -> Iterator[Wall]:
    w = Wall(browser, site)
    yield w
    w.context.close()


def test_the_wall_draws_every_grid_and_the_apis_figures(wall, site):
    assert "token=" not in wall.page.url  # swapped for the cookie, gone from the address bar
    cookie = next(c for c in wall.context.cookies() if c["name"] == "geo_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert wall.js("document.body.dataset.grids") == "4"
    stats = site.call("GET", "/stats", token="viewer")
    wall.wait("() => document.querySelector('[data-kpi=open]').textContent !== '–'")
    kpi = wall.js("Object.fromEntries([...document.querySelectorAll('[data-kpi]')]"
                  ".map(n => [n.dataset.kpi, n.textContent]))")
    assert kpi["open"] == str(stats["open"]) and kpi["overdue"] == str(stats["overdue"])
    assert kpi["workers"] == f"{stats['workers_on_duty']} / {stats['workers_total']}"
    assert wall.js("document.documentElement.lang") == "zh-CN"
    assert "今日" in wall.page.inner_text("#wall-kpis")
    ARTIFACTS.mkdir(exist_ok=True)
    wall.page.screenshot(path=str(ARTIFACTS / "wall-zh.png"))
    assert wall.errors == []


def test_a_report_appears_as_a_marker_within_two_seconds(wall, site):
    new = report(103.005, 35.01, severity="urgent")
    site.call("POST", "/reports", new)
    wall.wait("id => window.wall.cases.markers.has(id)", new["id"])
    assert wall.js("id => window.wall.cases.cluster.getLayers()"
                   ".filter(m => m.reportId === id).length", new["id"]) == 1
    wall.wait("() => document.querySelector('#wall-ticker-list li') !== null")
    assert wall.js(f"window.wall.areas.counts.get('{G1}')") >= 1


def test_a_worker_fix_moves_its_marker(wall, site):
    site.call("POST", "/workers/W1/positions", fix(103.002, 35.01, ago_s=120), token="W1")
    wall.wait("() => window.wall.workers.known.has('W1')")
    site.call("POST", "/workers/W1/positions", fix(103.008, 35.012), token="W1")  # 30 km/h
    wall.wait("() => Math.abs(window.wall.workers.known.get('W1').marker.getLatLng().lng"
              " - 103.008) < 1e-9")
    assert wall.js("document.querySelectorAll('[data-worker=W1]').length") == 1


def test_a_stale_worker_turns_grey_with_its_age(wall, site):
    site.call("POST", "/workers/W3/positions", fix(103.03, 35.018, ago_s=11 * 60), token="W3")
    wall.wait("() => document.querySelector('[data-worker=W3]')?.dataset.status === 'stale'")
    assert "11 分钟前定位" in wall.page.inner_text("[data-worker=W3]")


def test_an_outage_shows_the_banner_and_the_missed_events_arrive_once(wall, site):
    site.stop()
    wall.wait("() => !document.getElementById('wall-banner').hidden", timeout=10_000)
    assert wall.page.inner_text("#wall-banner").startswith("自 ")  # 自 hh:mm 起离线
    missed = report(103.015, 35.005)
    with site.app.test_client() as client:  # written while the server is down
        r = client.post("/api/v1/reports", json=missed,
                        headers={"Authorization": f"Bearer {site.tokens['admin']}"})
        assert r.status_code == 201, r.get_json()
    site.start()
    wall.wait("() => document.getElementById('wall-banner').hidden", timeout=15_000)
    wall.wait("id => window.wall.cases.markers.has(id)", missed["id"], timeout=5_000)
    wall.page.wait_for_timeout(1_000)  # time for any duplicate to arrive
    assert wall.js("id => window.wall.cases.cluster.getLayers()"
                   ".filter(m => m.reportId === id).length", missed["id"]) == 1
    ticker = wall.js("[...document.querySelectorAll('#wall-ticker-list li')]"
                     ".map(li => li.textContent)")
    assert sum("第二网格" in line for line in ticker) == 1


def test_a_countys_wall_shows_that_county_only(browser, site):
    county = Wall(browser, site, "area=900001&lang=en")
    try:
        assert county.js("document.body.dataset.grids") == "2"
        other, own = report(103.03, 35.001), report(103.001, 35.001)
        site.call("POST", "/reports", other)
        site.call("POST", "/reports", own)
        county.wait("id => window.wall.cases.markers.has(id)", own["id"])
        assert not county.js("id => window.wall.cases.markers.has(id)", other["id"])
        assert county.js("window.wall.cfg.lang") == "en"
        assert "Reports today" in county.page.inner_text("#wall-kpis")
        ARTIFACTS.mkdir(exist_ok=True)
        county.page.screenshot(path=str(ARTIFACTS / "wall-en-county.png"))
        assert county.errors == []
        assert_only_the_service(county.requests, site)
    finally:
        county.context.close()


def test_the_page_makes_no_request_to_any_other_host(wall, site):
    assert wall.requests
    assert_only_the_service(wall.requests, site)


def assert_only_the_service(urls: list[str], site: Site) -> None:
    origin = urlsplit(site.base)
    strays = [u for u in urls if not u.startswith("data:")
              and (urlsplit(u).scheme, urlsplit(u).netloc) != (origin.scheme, origin.netloc)]
    assert strays == []


def teardown_module() -> None:
    if ARTIFACTS.exists() and not any(ARTIFACTS.iterdir()):
        shutil.rmtree(ARTIFACTS)
