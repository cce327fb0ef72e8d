"""The boundary editor in a real headless Chromium (Debian's, driven by Playwright) against
a real gunicorn server on the tiny prefecture, as a planner would use it: start a draft,
draw a grid overlapping its neighbour and see it flagged in red and listed under its own
code, fix it, move a vertex two grids share and see both follow, preview the impact (an
open case that would move), publish with the confirmation, and then the lookup API answers
the new grid for a point inside it and the open case moved with it. A second draft, based
on the version replaced, is refused with what changed. No request leaves the service.

Screenshots go to test-artifacts/ (git-ignored)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from geo_service.app import services
from geo_service.auth import create_token

from .test_wall_browser import ARTIFACTS, CHROMIUM, Site, assert_only_the_service, report
from .tiny import G1, G2

playwright_api = pytest.importorskip("playwright.sync_api")

VILLAGE = "900001001001"
NEW = VILLAGE + "003"  # the code the page offers for the next grid of the village
INSIDE = (103.015, 35.009)  # inside the new grid (and in G2 before it)
NEW_RING = [(103.013, 35.006), (103.018, 35.006), (103.018, 35.012), (103.013, 35.012)]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    s = Site(tmp_path_factory.mktemp("editor"))
    with s.engine.begin() as conn:
        s.tokens["planner"] = create_token(conn, name="planner-1", role="planner")
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


class Editor:
    """One editor page, recording every request it makes and every script error."""

    def __init__(self, browser, site: Site, query: str, role: str = "planner") -> None:
        self.context = browser.new_context(viewport={"width": 1920, "height": 1080},
                                           bypass_csp=True)  # the test's own probes
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.posts: list[str] = []  # what the page sent to the API
        self.page.on("request", lambda r: self.posts.append(f"{r.url} {r.post_data}")
                     if r.method == "POST" else None)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.console: list[str] = []
        self.page.on("console", lambda m: self.console.append(m.text))
        self.page.goto(f"{site.base}/editor?{query}&token={site.tokens[role]}")
        try:
            self.page.wait_for_function("document.body.dataset.ready === '1'",
                                        timeout=20_000)
        except playwright_api.TimeoutError:
            raise AssertionError(f"not ready: {self.errors} {self.console}") from None

    def js(self, expression: str, arg=None):
        return self.page.evaluate(expression, arg)

    def wait(self, expression: str, arg=None, timeout: float = 10_000) -> None:
        self.page.wait_for_function(expression, arg=arg, timeout=timeout)

    def settled(self) -> None:
        """Every edit sent has its answer drawn."""
        self.wait("() => document.body.dataset.busy === '0'")

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        """Where (lon, lat) is on the screen."""
        return tuple(self.js("""([lon, lat]) => {
            const m = window.editor.map, p = m.latLngToContainerPoint([lat, lon]);
            const box = m.getContainer().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y]; }""", [lon, lat]))

    def click(self, lon: float, lat: float) -> None:
        self.page.mouse.click(*self.xy(lon, lat))

    def drag(self, frm: tuple[float, float], to: tuple[float, float]) -> None:
        """Drag with the mouse as a person would: not within Geoman's 100 ms of
        re-creating the vertex markers of grids just drawn again."""
        self.page.wait_for_timeout(300)
        sent = self.js("window.editor.sent")
        mouse = self.page.mouse
        mouse.move(*self.xy(*frm))
        mouse.down()
        (x0, y0), (x1, y1) = self.xy(*frm), self.xy(*to)
        for i in range(1, 11):
            mouse.move(x0 + (x1 - x0) * i / 10, y0 + (y1 - y0) * i / 10)
        mouse.up()
        self.wait("n => window.editor.sent > n", sent)  # the gesture became an edit

    def tool(self, name: str) -> None:
        """Click a button of Geoman's toolbar."""
        self.page.click(f".leaflet-pm-toolbar .{name}")

    def vertex_near(self, code: str, lon: float, lat: float, within: float = 1e-7
                    ) -> list[float] | None:
        """The grid's vertex within `within` degrees of (lon, lat), as drawn, or None."""
        return self.js("""([code, lon, lat, within]) => {
            const layer = window.editor.areas.gridLayers.get(code);
            const flat = (ll) => Array.isArray(ll) ? ll.flatMap(flat) : [ll];
            const p = layer && flat(layer.getLatLngs()).find(
                (p) => Math.abs(p.lng - lon) < within && Math.abs(p.lat - lat) < within);
            return p ? [p.lng, p.lat] : null; }""", [code, lon, lat, within])

    def grid_has_vertex(self, code: str, lon: float, lat: float) -> bool:
        return self.vertex_near(code, lon, lat) is not None

    def problems(self) -> list[dict]:
        return self.js("[...document.querySelectorAll('#ed-problem-list li[data-code]')]"
                       ".map(li => ({code: li.dataset.code, kind: li.dataset.kind,"
                       " other: li.dataset.other, text: li.textContent}))")


def drafts_api(site: Site) -> bool:
    return any(r.rule.startswith("/api/v1/drafts") for r in site.app.url_map.iter_rules())


@pytest.fixture(scope="module")
def editor(browser, site) -> Iterator[Editor]:
    e = Editor(browser, site, f"area={VILLAGE}")
    yield e
    e.context.close()


def test_the_page_opens_on_the_live_grids_read_only(editor, site):
    assert "token=" not in editor.page.url
    cookie = next(c for c in editor.context.cookies() if c["name"] == "geo_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert editor.js("document.body.dataset.grids") == "2"
    assert editor.js("document.body.dataset.groups") == "2"
    assert editor.js("document.documentElement.lang") == "zh-CN"
    assert "预览影响" in editor.page.inner_text("#ed-panel")
    assert editor.js("document.body.classList.contains('no-draft')")  # no toolbar yet
    assert editor.page.is_hidden(".leaflet-pm-toolbar")
    assert editor.js("window.editor.map.pm.Toolbar.buttons.split !== undefined")
    assert editor.js("window.editor.map.pm.Toolbar.buttons.merge !== undefined")
    assert editor.errors == []



def require_api(site: Site) -> None:
    if not drafts_api(site):
        pytest.skip("the draft API (/api/v1/drafts, branch `drafts`) is not in this tree")


def test_a_grid_drawn_over_its_neighbour_is_flagged_and_fixed(editor, site):
    require_api(site)
    editor.page.fill("#ed-note", "新建第五网格")
    editor.page.click("#ed-new")
    editor.wait("() => window.editor.draft !== null && document.body.dataset.busy === '0'")
    assert not editor.js("document.body.classList.contains('no-draft')")
    assert editor.page.is_visible(".leaflet-pm-toolbar")
    editor.js("window.editor.map.setView([35.01, 103.012], 15, {animate: false})")
    # draw the new grid inside G2: an overlap the server flags, naming the new grid's code
    editor.tool("leaflet-pm-icon-polygon")
    for lon, lat in NEW_RING:
        editor.click(lon, lat)
    editor.click(*NEW_RING[0])  # close the ring
    editor.wait("() => !document.getElementById('ed-form').hidden")
    assert editor.page.input_value("#ed-form [name=code]") == NEW
    assert editor.page.input_value("#ed-form [name=parent_code]") == VILLAGE
    editor.page.fill("#ed-form [name=name]", "第五网格")
    editor.page.click("#ed-form [type=submit]")
    editor.settled()
    editor.wait("code => window.editor.areas.gridLayers.has(code)", NEW)
    problems = editor.problems()
    # the overlap of the new grid and G2, each named by its own code
    assert any(p["kind"] == "overlap" and {p["code"], p["other"]} == {NEW, G2}
               for p in problems), problems
    listed = editor.page.inner_text("#ed-problem-list")
    assert NEW in listed and "重叠" in listed  # in the page's language
    assert editor.js("window.editor.areas.layers.problems.getLayers().length") >= 1
    ARTIFACTS.mkdir(exist_ok=True)
    editor.page.screenshot(path=str(ARTIFACTS / "editor-overlap-zh.png"))
    # fix it: reshape the new grid (drag the middle of its east edge out a little); the
    # neighbour gives up what the new grid covers
    editor.tool("leaflet-pm-icon-edit")
    editor.drag((103.018, 35.009), (103.0185, 35.009))
    editor.settled()
    editor.wait("() => !document.querySelector('#ed-problem-list li[data-kind=overlap]')")
    assert not [p for p in editor.problems() if p["kind"] == "overlap"]
    assert editor.js("document.getElementById('ed-undo').disabled") is False
    assert editor.errors == []


def test_a_shared_vertex_moves_for_both_grids(editor, site):
    require_api(site)
    # G1 and G2 share the vertex at the top of their common edge
    assert editor.grid_has_vertex(G1, 103.01, 35.02) and editor.grid_has_vertex(G2, 103.01,
                                                                                 35.02)
    editor.drag((103.01, 35.02), (103.0115, 35.02))
    editor.settled()
    assert '"op":"move_vertex"' in editor.posts[-1]
    moved = editor.vertex_near(G1, 103.0115, 35.02, within=3e-5)  # where the mouse let go
    assert moved is not None, (editor.posts[-1][:300], editor.page.inner_text("#ed-status"))
    assert editor.grid_has_vertex(G2, *moved)  # the neighbour followed, to the same point
    for code in (G1, G2):
        assert not editor.grid_has_vertex(code, 103.01, 35.02), code
    draft = editor.js("window.editor.draft.id")
    stored = site.call("GET", f"/drafts/{draft}/areas?level=grid&area={VILLAGE}",
                       token="planner")
    tops = {f["properties"]["code"]: f["geometry"] for f in stored["features"]}
    assert all(repr(moved[0]) in repr(tops[c]) for c in (G1, G2))
    editor.tool("leaflet-pm-icon-edit")  # leave edit mode
    assert editor.errors == []


def test_split_merge_delete_undo_and_redo_from_the_toolbar(browser, site):
    """Another planner's draft of the same village, edited with every other tool."""
    require_api(site)
    e = Editor(browser, site, f"area={VILLAGE}&lang=en", role="admin")
    try:
        e.page.click("#ed-new")
        e.wait("() => window.editor.draft !== null && document.body.dataset.busy === '0'")
        e.js("window.editor.map.setView([35.01, 103.008], 15, {animate: false})")
        # cut G1 in two along a line across it
        e.tool("ed-split-icon")
        for lon, lat in ((102.9985, 35.013), (103.0115, 35.013)):
            e.click(lon, lat)
        e.click(103.0115, 35.013)  # clicking the last point again finishes the line
        e.wait("() => !document.getElementById('ed-form').hidden")
        part = e.page.input_value("#ed-form [name=code]")
        assert part == VILLAGE + "003"
        e.page.fill("#ed-form [name=name]", "First grid north")
        e.page.fill("#ed-form [name=code]", G2)  # taken: refused, the form stays to fix it
        e.page.click("#ed-form [type=submit]")
        e.settled()
        assert e.js("document.getElementById('ed-status').dataset.kind") == "bad"
        assert e.page.inner_text("#ed-status").startswith("Refused")
        assert not e.js("document.getElementById('ed-form').hidden")
        assert e.js("document.body.dataset.grids") == "2"
        e.page.fill("#ed-form [name=code]", part)
        e.page.click("#ed-form [type=submit]")
        e.settled()
        assert e.js("document.getElementById('ed-form').hidden")
        assert e.js("document.body.dataset.grids") == "3", (e.posts[-1][:300],
                                                            e.page.inner_text("#ed-status"))
        assert '"op":"split"' in e.posts[-1] and f'"code":"{G1}"' in e.posts[-1]
        # merge the two parts again: pick both, then merge
        e.tool("ed-merge-icon")
        e.click(103.005, 35.005)  # G1 (the larger, southern part keeps the code)
        e.click(103.005, 35.017)  # the new northern part
        e.page.click("#ed-merge [data-do=merge]")
        e.settled()
        assert e.js("document.body.dataset.grids") == "2"
        assert '"op":"merge"' in e.posts[-1]
        # delete G2: the village has a gap, flagged
        e.tool("leaflet-pm-icon-delete")
        e.click(103.015, 35.01)
        e.settled()
        assert e.js("document.body.dataset.grids") == "1"
        assert not e.js(f"window.editor.areas.gridLayers.has('{G2}')")
        assert any(p["kind"] == "gap" for p in e.problems()), e.problems()
        e.tool("leaflet-pm-icon-delete")  # leave removal mode
        # undo brings G2 back, redo deletes it again
        e.page.click("#ed-undo")
        e.settled()
        assert e.js(f"window.editor.areas.gridLayers.has('{G2}')")
        assert not e.js("document.getElementById('ed-redo').disabled")
        e.page.click("#ed-redo")
        e.settled()
        assert not e.js(f"window.editor.areas.gridLayers.has('{G2}')")
        e.page.click("#ed-undo")
        e.settled()
        ARTIFACTS.mkdir(exist_ok=True)
        e.page.screenshot(path=str(ARTIFACTS / "editor-en.png"))
        assert e.errors == []
        assert_only_the_service(e.requests, site)
    finally:
        e.context.close()


def test_the_impact_preview_shows_the_case_that_would_move(editor, site):
    require_api(site)
    case = report(*INSIDE, subtype="safety_hazard", description="新网格里的隐患")
    site.call("POST", "/reports", case)
    editor.page.click("#ed-impact-load")
    editor.wait("() => !document.getElementById('ed-impact-table').hidden")
    row = editor.js(f"document.querySelector('#ed-impact-table tr[data-from=\"{G2}\"]"
                    f"[data-to=\"{NEW}\"]')?.textContent")
    assert row is not None and "第五网格" in row
    assert editor.js("Number(document.body.dataset.moved)") >= 1
    assert editor.page.inner_text("#ed-impact-summary")
    ARTIFACTS.mkdir(exist_ok=True)
    editor.page.screenshot(path=str(ARTIFACTS / "editor-impact-zh.png"))
    site.case = case  # for the next test


def test_publishing_moves_the_lookup_and_the_open_case(editor, site):
    require_api(site)
    stale = site.call("POST", "/drafts", {"note": "另一位规划员", "area": VILLAGE},
                      token="admin")  # based on the version about to be replaced
    editor.page.fill("#ed-publish-note", "新增第五网格")
    editor.page.click("#ed-publish-open")
    editor.wait("() => document.getElementById('ed-confirm').open")
    assert "1 件未办结事件" in editor.page.inner_text("#ed-confirm")  # what would move
    editor.page.click("#ed-confirm-ok")
    editor.wait("() => document.querySelector('#ed-publish-result .ok')")
    assert editor.js("window.editor.draft") is None
    # every process's index switches to the new version (built off the request path)
    deadline = time.monotonic() + 15
    while (grid := site.call("GET", f"/lookup?lon={INSIDE[0]}&lat={INSIDE[1]}")["grid"]
           )["code"] != NEW and time.monotonic() < deadline:
        time.sleep(0.2)
    assert grid["code"] == NEW
    moved = site.call("GET", f"/reports/{site.case['id']}")
    assert moved["grid"]["code"] == NEW, moved
    assert moved["history"][-1]["action"] == "boundary_changed"  # a step says why
    # the other planner's draft was based on the replaced version: refused, with what changed
    other = Editor(editor.page.context.browser, site, f"area={VILLAGE}&draft={stale['id']}",
                   role="admin")
    try:
        other.page.click("#ed-publish-open")
        other.wait("() => document.getElementById('ed-confirm').open")
        other.page.click("#ed-confirm-ok")
        other.wait("() => document.getElementById('ed-stale')")
        assert NEW in other.page.inner_text("#ed-publish-result")
        assert other.errors == []
        assert_only_the_service(other.requests, site)
    finally:
        other.context.close()
    assert editor.errors == []


def test_the_page_makes_no_request_to_any_other_host(editor, site):
    assert editor.requests
    assert_only_the_service(editor.requests, site)


BOTTOM = (103.01, 35.0)  # the vertex G1 and G2 share on the village's southern edge
BOTTOM_MOVED = (103.012, 35.0)  # moved along that edge: G1 grows, G2 shrinks
NEAR_BOTTOM = (103.011, 35.001)  # in G2, then in G1 after the move, in G2 after rollback


def lookup_grid(site: Site, point: tuple[float, float], code: str) -> dict:
    """The lookup's answer at `point` once every process answers `code` (the index
    switches off the request path), or the last answer after 15 s."""
    deadline = time.monotonic() + 15
    while (answer := site.call("GET", f"/lookup?lon={point[0]}&lat={point[1]}")
           )["grid"]["code"] != code and time.monotonic() < deadline:
        time.sleep(0.2)
    return answer


def test_history_draws_the_diff_of_two_versions_and_rolls_back(browser, site):
    """A change published (through the API), then in the page's History: the two
    versions with author, time and note, their diff on the map (both grids reshaped,
    orange; the renamed one listed), cleared; then rolled back after the confirmation,
    the live grids drawn again, and the lookup answers the earlier grid again, the open
    case moved back with it."""
    require_api(site)
    listed = site.call("GET", "/versions", token="planner")["versions"]
    before = next(v["id"] for v in listed if v["state"] == "live")
    case = report(*NEAR_BOTTOM, subtype="safety_hazard", description="村南路口的隐患")
    site.call("POST", "/reports", case)
    draft = site.call("POST", "/drafts", {"note": "南边界调整", "area": VILLAGE},
                      token="planner")["id"]
    site.call("POST", f"/drafts/{draft}/edits", {"op": "move_vertex", "level": "grid",
                                                 "at": list(BOTTOM), "to": list(BOTTOM_MOVED)},
              token="planner")
    site.call("POST", f"/drafts/{draft}/edits", {"op": "rename", "code": G2,
                                                 "name": "第二网格（东）"}, token="planner")
    after = site.call("POST", f"/drafts/{draft}/publish", {"note": "第一网格向东扩展"},
                      token="planner")["version"]
    assert lookup_grid(site, NEAR_BOTTOM, G1)["grid"]["code"] == G1
    e = Editor(browser, site, f"area={VILLAGE}")
    try:
        assert e.grid_has_vertex(G1, *BOTTOM_MOVED)  # the live grids, as published
        e.page.click("#ed-history-load")
        e.wait(f"() => document.querySelector('#ed-history-list li[data-version=\"{after}\"]')")
        newest = e.page.inner_text(f"#ed-history-list li[data-version='{after}']")
        assert f"第 {after} 版" in newest and "现行" in newest
        assert "第一网格向东扩展" in newest and "planner-1" in newest
        assert e.page.is_visible(f"#ed-history-list li[data-version='{before}'] "
                                 "button[data-rollback]")
        assert not e.page.query_selector(f"#ed-history-list li[data-version='{after}'] "
                                         "button[data-rollback]")  # live: nothing to undo
        # compare the version before with the one after, grids (the default level)
        e.page.check(f"#ed-history-list li[data-version='{before}'] input[name=ed-from]")
        e.page.check(f"#ed-history-list li[data-version='{after}'] input[name=ed-to]")
        e.page.click("#ed-history-diff")
        e.wait("() => Number(document.body.dataset.diff) > 0")
        drawn = e.js("""window.editor.areas.layers.history.getLayers().map((l) =>
            [l.feature.properties.code, l.feature.properties.change, l.options.color,
             l.options.pane])""")
        orange = e.js("window.editor.cfg.colours.reshaped")
        assert sorted(drawn) == [[G1, "reshaped", orange, "history"],
                                 [G2, "reshaped", orange, "history"]], drawn
        assert e.js(f"""window.editor.areas.layers.history.getLayers().find((l) =>
            l.code === '{G1}').getLatLngs().flat(2).some((p) =>
            Math.abs(p.lng - {BOTTOM_MOVED[0]}) < 1e-9 && Math.abs(p.lat - {BOTTOM_MOVED[1]})
            < 1e-9)""")  # G1's new outline
        rows = e.js("[...document.querySelectorAll('#ed-diff-list li')].map((li) =>"
                    " [li.dataset.change, li.dataset.code])")
        assert sorted(rows) == [["renamed", G2], ["reshaped", G1], ["reshaped", G2]]
        renamed = e.page.inner_text(f"#ed-diff-list li[data-change=renamed][data-code='{G2}']")
        assert "第二网格 → 第二网格（东）" in renamed
        summary = e.page.inner_text("#ed-diff-summary")
        assert f"第 {before} 版 → 第 {after} 版" in summary and "边界调整 2 处" in summary
        ARTIFACTS.mkdir(exist_ok=True)
        e.page.screenshot(path=str(ARTIFACTS / "editor-history-diff-zh.png"))
        e.page.click("#ed-history-clear")
        assert e.js("document.body.dataset.diff") == "0"
        assert e.js("document.querySelectorAll('#ed-diff-list li').length") == 0
        # roll back to the version before: the confirmation says what it will do
        e.page.click(f"#ed-history-list li[data-version='{before}'] button[data-rollback]")
        e.wait("() => document.getElementById('ed-confirm').open")
        confirm = e.page.inner_text("#ed-confirm-text")
        assert f"回退到第 {before} 版" in confirm and f"取代第 {after} 版" in confirm
        assert "边界调整" in confirm
        e.page.click("#ed-confirm-ok")
        e.wait("() => document.querySelector('#ed-history-result .ok')")
        result = e.page.inner_text("#ed-history-result")
        assert f"已回退到第 {before} 版" in result and "1 件未办结事件" in result, result
        rolled = int(e.js("document.querySelector('#ed-history-result .ok').dataset.version"))
        assert f'"note":"回退到第 {before} 版"' in e.posts[-1]  # in the page's language
        # the live grids drawn again: G1's vertex is back where it was
        e.wait(f"() => document.querySelector('#ed-history-list li[data-version=\"{rolled}\"]"
               "[data-state=live]')")
        assert e.grid_has_vertex(G1, *BOTTOM) and not e.grid_has_vertex(G1, *BOTTOM_MOVED)
        assert e.js("window.editor.draft") is None
        answer = lookup_grid(site, NEAR_BOTTOM, G2)
        assert answer["grid"]["code"] == G2 and answer["version"] == rolled
        assert site.call("GET", f"/reports/{case['id']}")["grid"]["code"] == G2
        e.page.screenshot(path=str(ARTIFACTS / "editor-history-rollback-zh.png"))
        assert e.errors == []
        assert_only_the_service(e.requests, site)
    finally:
        e.context.close()
