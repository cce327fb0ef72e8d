"""The wall page without a browser: who may open it, the kiosk token swapped for a session
cookie that reads, and writes only from a dispatcher's page behind its CSRF token, Origin
and Sec-Fetch-Site; scope that never widens, the language, and catalogues in step with
the code. (tests/test_wall_browser.py drives it in a real Chromium.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from geo_service.auth import create_token, revoke_tokens
from geo_service.web import SESSION_COOKIE

from .conftest import bearer

ROOT = Path(__file__).resolve().parent.parent
SAME = {"Sec-Fetch-Site": "same-origin"}


def config(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="wall-config">(.*?)</script>', html)
    assert found
    return json.loads(found.group(1))


def enter(client, token: str, query: str = "") -> str:
    """Open the wall with the token in the URL; returns where it sends the browser."""
    r = client.get(f"/wall?{query}{'&' if query else ''}token={token}")
    assert r.status_code == 303, r.get_data(as_text=True)
    return r.headers["Location"]


def test_the_url_token_becomes_an_httponly_strict_cookie_and_leaves_the_address_bar(
        client, tokens):
    where = enter(client, tokens["viewer"], "area=900001&lang=en")
    assert where == "/wall?area=900001&lang=en"
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie.http_only and cookie.same_site == "Strict" and cookie.path == "/"
    r = client.get(where, headers=SAME)
    assert r.status_code == 200
    cfg = config(r.get_data(as_text=True))
    assert (cfg["area"], cfg["role"], cfg["lang"]) == ("900001", "viewer", "en")
    assert tokens["viewer"] not in r.get_data(as_text=True)  # the page never shows it
    assert "connect-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["Referrer-Policy"] == "no-referrer"


def test_the_cookie_only_reads_and_only_for_the_services_own_pages(client, tokens):
    enter(client, tokens["dispatcher"])
    assert client.get("/api/v1/stats", headers=SAME).status_code == 200
    # a page of another site (SameSite keeps the cookie home; this is the second lock)
    assert client.get("/api/v1/stats", headers={"Sec-Fetch-Site": "cross-site"}
                      ).status_code == 401
    # writes stay bearer-only: a cookie never changes anything (no CSRF)
    r = client.post("/api/v1/reports", json={"id": "x"}, headers=SAME)
    assert r.status_code == 401
    assert client.post("/api/v1/workers/W1/duty", json={"on_duty": True},
                       headers=SAME).status_code == 401


PAGE = {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}  # the wall's fetch
CALLOUT = {"area": "900001001001001", "message": "集合"}


def dispatcher_page(client, tokens, role: str = "dispatcher") -> str:
    """Open a wall with the kiosk token; returns the CSRF token its page was handed."""
    where = enter(client, tokens[role])
    return config(client.get(where, headers=SAME).get_data(as_text=True)).get("csrf", "")


def test_a_dispatchers_page_writes_with_its_cookie_and_csrf_token(client, tokens):
    csrf = dispatcher_page(client, tokens)
    assert csrf and tokens["dispatcher"] not in csrf
    r = client.post("/api/v1/callouts", json=CALLOUT, headers={**PAGE, "X-CSRF-Token": csrf})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["created_by"] == "test-dispatcher"
    closed = client.post(f"/api/v1/callouts/{r.get_json()['id']}/close",
                         headers={**PAGE, "X-CSRF-Token": csrf})
    assert closed.status_code == 200 and closed.get_json()["open"] is False


RIGHT = object()  # the page's own CSRF token


@pytest.mark.parametrize(("headers", "csrf", "status"), [
    (PAGE, None, 401),                                           # no CSRF token: no cookie
    (PAGE, "", 403),                                             # an empty one
    (PAGE, "0" * 64, 403),                                       # a wrong one
    ({**PAGE, "Origin": "https://evil.example"}, RIGHT, 403),    # another site's page
    ({**PAGE, "Origin": "null"}, RIGHT, 403),                    # a sandboxed one
    ({**PAGE, "Origin": "http://localhost:8080"}, RIGHT, 403),   # another port
    ({"Sec-Fetch-Site": "same-origin"}, RIGHT, 403),             # no Origin at all
    ({**PAGE, "Sec-Fetch-Site": "cross-site"}, RIGHT, 403),      # the browser says so
    ({**PAGE, "Sec-Fetch-Site": "same-site"}, RIGHT, 403),       # a sibling subdomain
    ({**PAGE, "Sec-Fetch-Site": "none"}, RIGHT, 403),            # not a page's fetch
])
def test_a_cookie_write_is_refused_without_every_csrf_lock(client, tokens, headers, csrf,
                                                           status):
    right = dispatcher_page(client, tokens)
    if csrf is not None:
        headers = {**headers, "X-CSRF-Token": right if csrf is RIGHT else csrf}
    r = client.post("/api/v1/callouts", json=CALLOUT, headers=headers)
    assert r.status_code == status, r.get_json()
    assert r.get_json()["error"]["code"] == ("unauthorized" if status == 401
                                             else "csrf_refused")


def test_only_page_write_views_take_a_cookie_write(client, tokens):
    """Deny by default: a write the wall never makes stays bearer-only, CSRF token or not."""
    csrf = dispatcher_page(client, tokens)
    h = {**PAGE, "X-CSRF-Token": csrf}
    assert client.post("/api/v1/reports", json={"id": "x"}, headers=h).status_code == 401
    assert client.post("/api/v1/workers/W1/duty", json={"on_duty": True},
                       headers=h).status_code == 401


def test_another_sessions_csrf_token_does_not_fit(client, app, tokens):
    other = app.test_client()
    theirs = dispatcher_page(other, tokens, "admin")
    dispatcher_page(client, tokens)
    r = client.post("/api/v1/callouts", json=CALLOUT, headers={**PAGE, "X-CSRF-Token": theirs})
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "csrf_refused"


def test_a_viewers_page_gets_no_csrf_token_or_controls_and_cannot_write(client, tokens):
    where = enter(client, tokens["viewer"])
    html = client.get(where, headers=SAME).get_data(as_text=True)
    assert "csrf" not in config(html) and 'id="wall-dispatch"' not in html
    from geo_service.web import csrf_token

    r = client.post("/api/v1/callouts", json=CALLOUT,
                    headers={**PAGE, "X-CSRF-Token": csrf_token(tokens["viewer"])})
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"  # the role


def test_revoking_the_token_ends_the_session(client, engine, tokens):
    enter(client, tokens["viewer"])
    assert client.get("/wall", headers=SAME).status_code == 200
    with engine.begin() as conn:
        revoke_tokens(conn, prefix=tokens["viewer"][:10])
    assert client.get("/wall", headers=SAME).status_code == 401  # TOKEN_CACHE_S is 0 here
    assert client.get("/api/v1/reports", headers=SAME).status_code == 401


@pytest.mark.parametrize(("query", "status", "code"), [
    ("", 401, "unauthorized"),                      # no token at all
    ("token=gs_not_a_token", 401, "unauthorized"),  # a bad one is not exchanged
    ("lang=fr", 400, "invalid_choice"),
    ("color=red", 400, "unknown_parameter"),
    ("area=999999", 404, "unknown_area"),
])
def test_refusals_in_the_one_error_shape(client, tokens, query, status, code):
    headers = {} if query.startswith("token") or not query else bearer(tokens["viewer"])
    r = client.get(f"/wall?{query}", headers=headers)
    assert r.status_code == status and r.get_json()["error"]["code"] == code


def test_roles_without_a_wall_are_refused(client, tokens):
    for role in ("worker", "planner"):
        assert client.get("/wall", headers=bearer(tokens[role])).status_code == 403


def test_a_scoped_token_can_narrow_its_wall_but_never_widen_it(client, engine, tiny):
    with engine.begin() as conn:
        county = create_token(conn, name="c1", role="viewer", area_code="900001")
    h = bearer(county)
    own = client.get("/wall", headers=h)
    assert config(own.get_data(as_text=True))["area"] == "900001"  # its scope by default
    assert config(client.get("/wall?area=900001001", headers=h).get_data(as_text=True)
                  )["area"] == "900001001"
    for wider in ("900000", "900002"):
        r = client.get(f"/wall?area={wider}", headers=h)
        assert r.status_code == 403 and r.get_json()["error"]["code"] == "out_of_scope"
        assert client.get(f"/api/v1/events?area={wider}", headers=h).status_code == 403
        assert client.get(f"/api/v1/areas?within={wider}", headers=h).status_code == 403


def test_the_map_opens_fitted_to_its_areas_grids(client, engine, tiny):
    """The page fits the map to the grids it shows before its script runs, so the first
    geometry it fetches is the right zoom tier's (not a default zoom's, then again)."""
    import re

    from .tiny import tiny_areas

    with engine.begin() as conn:
        county = create_token(conn, name="c1", role="viewer", area_code="900001")
        whole = create_token(conn, name="all", role="viewer")
    grids = tiny_areas()
    grids = grids[grids.level == "grid"]

    def fitted(token):
        html = client.get("/wall", headers=bearer(token)).get_data(as_text=True)
        found = re.search(r"fitBounds\(\s*\[\[([-\d.e]+),\s*([-\d.e]+)\],\s*"
                          r"\[([-\d.e]+),\s*([-\d.e]+)\]\]", html)
        assert found, "no fitBounds in the page"
        return [float(v) for v in found.groups()]

    for token, rows in ((whole, grids), (county, grids[grids.code.str.startswith("900001")])):
        west, south, east, north = rows.total_bounds
        assert fitted(token) == pytest.approx([south, west, north, east])


def test_the_server_prepares_the_geometry_a_wall_opens_with(app, client, tiny, tokens):
    """Before it forks its workers the server encodes each level a wall shades, whole, at
    the tolerances a wall opens at (the tiers below zoom 12, as the page's config says):
    a wall's first reads then wait for no simplifying."""
    from geo_service.app import services
    from geo_service.wall import OPENING_TOLERANCES, TIERS
    from geo_service.web.wall import warm

    enter(client, tokens["viewer"])
    cfg = config(client.get("/wall", headers=SAME).get_data(as_text=True))
    assert [tuple(t) for t in cfg["tiers"]] == list(TIERS)
    assert sorted(OPENING_TOLERANCES) == sorted(m for below, m in TIERS if below <= 12)
    vi = services(app).indexes.live()
    warm(app)
    assert {k for k in vi.memo if k[0] == "areas.gz"} == {
        ("areas.gz", level, float(m), "EPSG:4326") for m in OPENING_TOLERANCES
        for level in ("grid", "township", "county")}
    for m in OPENING_TOLERANCES:  # what the wall then reads is that
        r = client.get(f"/api/v1/areas?level=township&simplify={m}", headers=SAME)
        assert r.status_code == 200 and len(r.get_json()["features"]) == 2


def test_areas_within_an_area(client, tokens):
    h = bearer(tokens["viewer"])
    grids = client.get("/api/v1/areas?level=grid&within=900002", headers=h).get_json()
    assert sorted(f["id"] for f in grids["features"]) == ["900002001001001", "900002001001002"]
    assert client.get("/api/v1/areas?within=nowhere", headers=h).status_code == 404


def test_simplified_chinese_by_default_english_on_request(client, tokens):
    h = bearer(tokens["viewer"])
    zh = client.get("/wall", headers=h).get_data(as_text=True)
    en = client.get("/wall?lang=en", headers=h).get_data(as_text=True)
    assert '<html lang="zh-CN">' in zh and "今日上报" in zh
    assert config(zh)["strings"]["offline_since"] == "自 {time} 起离线"
    assert '<html lang="en">' in en and "Reports today" in en
    assert config(en)["strings"]["offline_since"] == "Offline since {time}"


def test_the_page_loads_only_local_files(client, tokens):
    html = client.get("/wall", headers=bearer(tokens["viewer"])).get_data(as_text=True)
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and all(r.startswith(("/static/", "data:", "?")) for r in refs), refs
    for ref in refs:
        if ref.startswith("/static/"):
            assert (ROOT / ref.removeprefix("/")).is_file(), ref


def test_the_catalogues_are_in_step_with_the_code():
    """Every string the code marks is translated (and nothing else is), and each compiled
    .mo says what its .po says: run `make translations` after changing a string."""
    method_map = [("geo_service/**.py", "python"), ("geo_service/templates/**.html", "jinja2")]
    marked = {msg[2] for msg in extract_from_dir(str(ROOT), method_map)}
    for po_path in (ROOT / "geo_service" / "translations").glob("*/LC_MESSAGES/messages.po"):
        with po_path.open("rb") as f:
            po = read_po(f)
        with po_path.with_suffix(".mo").open("rb") as f:
            mo = read_mo(f)
        have = {m.id for m in po if m.id}
        assert have == marked, (sorted(marked - have), sorted(have - marked))
        assert all(m.string and not m.fuzzy for m in po if m.id), po_path
        assert {m.id: m.string for m in mo if m.id} == {m.id: m.string for m in po if m.id}


def test_the_wall_page_json_cannot_end_its_script():
    from geo_service.wall import page_json

    text = page_json({"name": "</script><script>alert(1)</script>"})
    assert "</" not in text and json.loads(text)["name"].startswith("</script>")


# --- Zoomed out (GET /stats/caseload), the tour (?cycle=) ---

def new_report(client, token: str, lon: float, lat: float) -> dict:
    import uuid
    from datetime import UTC, datetime

    r = client.post("/api/v1/reports", headers=bearer(token), json={
        "id": str(uuid.uuid4()), "subtype": "dispute", "description": "院墙",
        "lon": lon, "lat": lat, "occurred_at": datetime.now(UTC).isoformat()})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_open_caseload_per_township_and_county_within_the_scope(client, engine, tokens):
    for lon, lat in ((103.005, 35.01), (103.015, 35.01), (103.03, 35.001)):
        new_report(client, tokens["admin"], lon, lat)
    closed = new_report(client, tokens["admin"], 103.006, 35.01)
    r = client.post(f"/api/v1/reports/{closed['id']}/actions", headers=bearer(
        tokens["admin"]), json={"action": "merge", "version": closed["version"],
                                "into": closed["suggested_duplicate_of"]})
    assert r.status_code == 200, r.get_json()  # closed: no longer open
    h = bearer(tokens["viewer"])
    town = client.get("/api/v1/stats/caseload?level=township", headers=h).get_json()
    assert town["level"] == "township"
    assert [(a["code"], a["name"], a["open"]) for a in town["areas"]] == [
        ("900001001", "甲镇", 2), ("900002001", "乙乡", 1)]  # most first
    county = client.get("/api/v1/stats/caseload?level=county&area=900002", headers=h)
    assert [(a["code"], a["open"]) for a in county.get_json()["areas"]] == [("900002", 1)]
    with engine.begin() as conn:  # a township's token: its own, never its county's total
        scoped = bearer(create_token(conn, name="t", role="viewer", area_code="900001001"))
    own = client.get("/api/v1/stats/caseload?level=county", headers=scoped).get_json()
    assert own["areas"] == []  # 900001 lies above the scope: not even a partial total
    grids = client.get("/api/v1/stats/caseload?level=grid", headers=scoped).get_json()
    assert {a["code"] for a in grids["areas"]} == {"900001001001001", "900001001001002"}
    r = client.get("/api/v1/stats/caseload?level=township&area=900002", headers=scoped)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "out_of_scope"


@pytest.mark.parametrize(("query", "code"), [
    ("", "invalid_level"),
    ("level=group", "invalid_level"),
    ("level=township&area=", "invalid_area"),
    ("level=township&colour=red", "unknown_parameter"),
])
def test_open_caseload_refusals(client, tokens, query, code):
    r = client.get(f"/api/v1/stats/caseload?{query}", headers=bearer(tokens["viewer"]))
    assert r.status_code == 400 and r.get_json()["error"]["code"] == code


def test_each_level_has_its_own_legend_and_a_wall_shades_only_levels_below_its_area(
        client, tokens):
    h = bearer(tokens["viewer"])
    whole = config(client.get("/wall", headers=h).get_data(as_text=True))
    assert whole["levels"] == ["grid", "township", "county"]
    assert [b["label"] for b in whole["caseload"]["county"]][-1] == "200+"
    county = client.get("/wall?area=900001", headers=h).get_data(as_text=True)
    assert config(county)["levels"] == ["grid", "township"]
    assert 'data-level="county"' not in county and "各乡镇未办结事件" in county
    assert config(client.get("/wall?area=900001001", headers=h).get_data(as_text=True)
                  )["levels"] == ["grid"]


def test_the_tour_visits_the_children_of_the_walls_own_area(client, engine, tokens):
    h = bearer(tokens["viewer"])
    assert config(client.get("/wall", headers=h).get_data(as_text=True))["cycle"] is None
    whole = config(client.get("/wall?cycle=60", headers=h).get_data(as_text=True))
    assert whole["cycle"] == {"seconds": 60, "level": "county", "parent": "900000"}
    with engine.begin() as conn:
        county = bearer(create_token(conn, name="c", role="viewer", area_code="900001"))
    own = config(client.get("/wall?cycle=60", headers=county).get_data(as_text=True))
    assert own["cycle"] == {"seconds": 60, "level": "township", "parent": "900001"}
    html = client.get("/wall?cycle=30&lang=en", headers=h).get_data(as_text=True)
    assert 'href="?cycle=30&amp;lang=zh"' in html  # the language switch keeps the tour
    for bad in ("0", "4", "3601", "1e3", "-5", "60s"):
        r = client.get(f"/wall?cycle={bad}", headers=h)
        assert r.status_code == 400 and r.get_json()["error"]["field"] == "cycle"


def test_every_layer_has_its_own_name_in_the_layer_switch(client, tokens):
    """folium's LayerControl keys layers by name: two alike and one loses its switch."""
    html = client.get("/wall", headers=bearer(tokens["viewer"])).get_data(as_text=True)
    found = re.search(r"overlays\s*:\s*\{(.*?)\}\s*,", html, re.S)
    assert found, "no layer control"
    names = re.findall(r'"([^"]+)"\s*:', found.group(1))
    assert len(names) == len(set(names)) == 6, names
