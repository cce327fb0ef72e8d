"""The wall in a real headless Chromium (Debian's, driven by Playwright) against a real
gunicorn server on the tiny prefecture: it draws every grid and the API's figures, live
updates arrive through the event stream, an outage shows the banner and loses nothing, a
county's wall ignores the other county, and no request leaves the service. A dispatcher's
wall assigns a case and draws a call-out that a second wall shows live; a viewer's wall
has no controls, and another site's page cannot write with the wall's cookie.

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
                           for role in ("viewer", "dispatcher", "admin")}
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

    def __init__(self, browser, site: Site, query: str = "", role: str = "viewer") -> None:
        # bypass_csp: the test evaluates its own probes; the page itself never needs eval
        self.context = browser.new_context(viewport={"width": 1920, "height": 1080},
                                           bypass_csp=True)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        sep = "&" if query else ""
        self.page.goto(f"{site.base}/wall?{query}{sep}token={site.tokens[role]}")
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


@pytest.fixture(scope="module")
def desk(browser, site) -> Iterator[Wall]:
    """A dispatcher's wall (its own browser context: its own session cookie)."""
    w = Wall(browser, site, role="dispatcher")
    yield w
    w.context.close()


def click_at(wall: Wall, lon: float, lat: float) -> None:
    """A real mouse click on the map where (lon, lat) is drawn."""
    x, y = wall.js("""([lon, lat]) => {
        const p = window.wall.map.latLngToContainerPoint([lat, lon]);
        const box = window.wall.map.getContainer().getBoundingClientRect();
        return [box.left + p.x, box.top + p.y]; }""", [lon, lat])
    wall.page.mouse.click(x, y)


def test_the_dispatcher_assigns_a_candidate_from_the_map_and_another_wall_sees_it(
        desk, wall, site):
    site.call("POST", "/workers/W1/positions", fix(103.008, 35.012), token="W1")
    case = report(103.006, 35.008, subtype="safety_hazard", description="路面塌陷")
    site.call("POST", "/reports", case)
    for w in (desk, wall):
        w.wait("id => window.wall.cases.markers.has(id)", case["id"])
        w.wait("() => window.wall.workers.known.has('W1')")
    select_case(desk, case["id"])
    desk.wait("() => document.querySelector('#wall-candidates [data-candidate=W1]')")
    line = desk.page.inner_text("#wall-candidates [data-candidate=W1]")
    assert "公里" in line and "本网格" in line  # its distance, and it is the grid's own team
    assert desk.js("window.wall.dispatch.lines.getLayers().length") >= 2  # line + distance
    assert desk.js("document.querySelector('.worker-marker[data-worker=W1]').classList"
                   ".contains('candidate')")
    ARTIFACTS.mkdir(exist_ok=True)
    desk.page.screenshot(path=str(ARTIFACTS / "wall-dispatch-zh.png"))
    desk.page.click("#wall-candidates button[data-worker=W1]")
    # the other wall (a viewer's, another browser context) changes through its stream
    wall.wait("id => window.wall.cases.markers.get(id)?.status === 'assigned'", case["id"])
    stored = site.call("GET", f"/reports/{case['id']}")
    assert stored["status"] == "assigned" and stored["assigned_worker"] == "W1"
    assert [h["action"] for h in stored["history"]][-2:] == ["accept", "assign"]
    assert desk.page.inner_text("#wall-dispatch-result").startswith("已完成")
    assert desk.errors == [] and wall.errors == []


def select_case(desk: Wall, report_id: str) -> None:
    """Bring a case's marker out of its cluster and click it, as a dispatcher would."""
    desk.wait("id => window.wall.cases.markers.has(id)", report_id)
    desk.js("""id => new Promise((done) => window.wall.cases.cluster.zoomToShowLayer(
        window.wall.cases.markers.get(id).marker, done))""", report_id)
    desk.js("""id => window.wall.map.setView(window.wall.cases.markers.get(id).marker
        .getLatLng(), 18, {animate: false})""", report_id)  # neighbours apart
    desk.page.click(f"[data-report='{report_id}']")
    desk.wait("id => document.getElementById('wall-dispatch-case').dataset.report === id",
              report_id)


def test_the_dispatcher_merges_a_suggested_duplicate_and_escalates_from_the_map(
        desk, wall, site):
    original = report(103.016, 35.014, subtype="environment", description="垃圾堆放")
    duplicate = report(103.0163, 35.0141, subtype="environment", description="又见垃圾")
    site.call("POST", "/reports", original)
    assert site.call("POST", "/reports", duplicate)["suggested_duplicate_of"] == original["id"]
    select_case(desk, duplicate["id"])
    desk.page.click("#wall-dispatch-actions [data-do=merge]")
    wall.wait("id => !window.wall.cases.markers.has(id)", duplicate["id"])  # closed: gone
    assert site.call("GET", f"/reports/{duplicate['id']}")["status"] == "closed"
    desk.js("window.wall.map.closePopup()")
    select_case(desk, original["id"])
    desk.page.click("#wall-dispatch-actions [data-do=escalate]")
    wall.wait("id => window.wall.cases.markers.get(id)?.status === 'escalated'",
              original["id"])
    assert site.call("GET", f"/reports/{original['id']}")["owner"]["level"] == "village"
    assert desk.errors == [] and wall.errors == []


def test_a_call_out_drawn_on_the_map_shows_on_another_wall(desk, wall, site):
    site.call("POST", "/workers/W1/positions", fix(103.008, 35.012), token="W1")
    desk.js("window.wall.map.closePopup(); window.wall.map.setView([35.012, 103.012], 15)")
    desk.page.fill("#wall-callout-form [name=radius_m]", "1500")
    desk.page.fill("#wall-callout-form [name=message]", "河堤险情，速到")
    click_at(desk, 103.0125, 35.0165)
    desk.wait("() => !document.querySelector('#wall-callout-form [type=submit]').disabled")
    desk.page.click("#wall-callout-form [type=submit]")
    wall.wait("() => document.querySelector('#wall-callout-list [data-callout]')")
    cid = wall.js("document.querySelector('#wall-callout-list [data-callout]').dataset.callout")
    view = site.call("GET", f"/callouts/{cid}")
    assert view["radius_m"] == 1500 and abs(view["lon"] - 103.0125) < 1e-4
    assert "W1" in [t["code"] for t in view["targets"]]
    item = f"#wall-callout-list [data-callout='{cid}']"
    assert "河堤险情" in wall.page.inner_text(item)
    assert wall.js(f"document.querySelector(\"{item} [data-worker=W1]\").dataset.state"
                   ) == "waiting"
    assert wall.js("window.wall.callouts.layer.getLayers().length") == 2  # centre + circle
    site.call("POST", f"/callouts/{cid}/ack", {}, token="W1")
    wall.wait(f"() => document.querySelector(\"{item} [data-worker=W1]\")"
              "?.dataset.state === 'acked'")
    assert "已响应 1" in wall.page.inner_text(item)
    assert wall.page.query_selector(f"{item} button") is None  # a viewer cannot stand down
    desk.page.click(f"{item} button[data-close]")
    for w in (wall, desk):
        w.wait(f"() => !document.querySelector(\"{item}\")")
    assert wall.errors == [] and desk.errors == []


def test_a_viewers_wall_has_no_dispatcher_controls(wall):
    assert wall.js("window.wall.dispatch") is None
    assert wall.js("window.wall.cfg.csrf") is None
    assert wall.page.query_selector("#wall-dispatch") is None
    assert wall.page.query_selector("#wall-callout-form") is None


def test_another_sites_page_cannot_write_with_the_walls_cookie(desk, site):
    """A page elsewhere posts to the API from the dispatcher's browser (which holds the
    session cookie): SameSite keeps the cookie home and the gate wants the page's CSRF
    token and Origin, so nothing is written."""
    before = site.call("GET", "/callouts?open=true")["count"]
    target = f"{site.base}/api/v1/callouts"
    evil = desk.context.new_page()
    evil.route("http://evil.test/**", lambda route: route.fulfill(
        content_type="text/html", body=f"""<!doctype html><body>
        <form method="post" action="{target}" enctype="text/plain">
          <input name='{{"lon":103.005,"lat":35.01,"radius_m":500,"message":"x","y":"' value='"}}'>
        </form><script>
        window.answers = [];
        fetch("{target}", {{method: "POST", mode: "no-cors", credentials: "include",
          headers: {{"Content-Type": "text/plain"}},
          body: JSON.stringify({{lon: 103.005, lat: 35.01, radius_m: 500, message: "x"}})}})
          .then(() => window.answers.push("sent"), () => window.answers.push("failed"));
        </script></body>"""))
    statuses: list[int] = []
    evil.on("response", lambda r: statuses.append(r.status) if r.url == target else None)
    try:
        evil.goto("http://evil.test/")
        evil.wait_for_function("window.answers.length === 1")
        with evil.expect_navigation():
            evil.evaluate("document.forms[0].submit()")
        assert "unauthorized" in evil.content()  # the gate saw no credential at all
    finally:
        evil.close()
    assert statuses and all(s in (401, 403, 415) for s in statuses)
    assert site.call("GET", "/callouts?open=true")["count"] == before


def teardown_module() -> None:
    if ARTIFACTS.exists() and not any(ARTIFACTS.iterdir()):
        shutil.rmtree(ARTIFACTS)
