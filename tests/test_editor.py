"""The boundary editor's page without a browser: planners and admins only, the kiosk token
swapped for a session cookie, a scoped planner opens only areas inside its scope, the
page in Simplified Chinese by default and English on request, Geoman and Leaflet from the
vendored copies only. (tests/test_editor_browser.py drives it in a real Chromium.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from geo_service.auth import create_token
from geo_service.web import SESSION_COOKIE, csrf_token

from .conftest import bearer
from .publish_world import G5, populate, split_g2

ROOT = Path(__file__).resolve().parent.parent
SAME = {"Sec-Fetch-Site": "same-origin"}
TOWNSHIP, VILLAGE, OTHER_TOWNSHIP = "900001001", "900001001001", "900002001"


def config(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="editor-config">(.*?)</script>',
                      html)
    assert found
    return json.loads(found.group(1))


def test_the_url_token_becomes_a_session_cookie_and_the_page_gets_its_csrf_token(
        client, tokens):
    r = client.get(f"/editor?area={TOWNSHIP}&lang=en&token={tokens['planner']}")
    assert r.status_code == 303 and r.headers["Location"] == f"/editor?area={TOWNSHIP}&lang=en"
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie.http_only and cookie.same_site == "Strict"
    page = client.get(r.headers["Location"], headers=SAME)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    cfg = config(html)
    assert (cfg["area"], cfg["area_level"], cfg["role"], cfg["lang"]) == (
        TOWNSHIP, "township", "planner", "en")
    assert cfg["csrf"] == csrf_token(tokens["planner"])  # for its writes to the draft API
    assert tokens["planner"] not in html
    assert "connect-src 'self'" in page.headers["Content-Security-Policy"]


@pytest.mark.parametrize(("role", "status"), [
    ("planner", 200), ("admin", 200), ("viewer", 403), ("dispatcher", 403), ("worker", 403)])
def test_planners_and_admins_only(client, tokens, role, status):
    r = client.get(f"/editor?area={VILLAGE}", headers=bearer(tokens[role]))
    assert r.status_code == status
    if status == 403:
        assert r.get_json()["error"]["code"] == "forbidden"


def test_a_scoped_planner_opens_only_areas_inside_its_scope(client, engine, tiny):
    with engine.begin() as conn:
        county = create_token(conn, name="county-planner", role="planner", area_code="900001")
    h = bearer(county)
    assert config(client.get(f"/editor?area={TOWNSHIP}", headers=h).get_data(as_text=True)
                  )["area"] == TOWNSHIP
    for outside in (OTHER_TOWNSHIP, "900002001001", "900000"):
        r = client.get(f"/editor?area={outside}", headers=h)
        assert r.status_code == 403 and r.get_json()["error"]["code"] == "out_of_scope"
    chooser = client.get("/editor", headers=h).get_data(as_text=True)  # its own, to pick
    assert f"?area={TOWNSHIP}&amp;" in chooser and f"?area={VILLAGE}&amp;" in chooser
    assert OTHER_TOWNSHIP not in chooser


def test_a_village_planner_lands_on_its_village(client, engine, tiny):
    with engine.begin() as conn:
        village = create_token(conn, name="village-planner", role="planner",
                               area_code=VILLAGE)
    cfg = config(client.get("/editor", headers=bearer(village)).get_data(as_text=True))
    assert (cfg["area"], cfg["area_level"]) == (VILLAGE, "village")


@pytest.mark.parametrize(("query", "status", "code"), [
    ("area=900001001001001", 400, "invalid_area_level"),  # a grid: open its village
    ("area=999999", 404, "unknown_area"),
    ("draft=abc", 400, "invalid_draft"),
    ("draft=007", 400, "invalid_draft"),
    ("lang=fr", 400, "invalid_choice"),
    ("zoom=3", 400, "unknown_parameter"),
])
def test_refusals_in_the_one_error_shape(client, tokens, query, status, code):
    r = client.get(f"/editor?{query}", headers=bearer(tokens["planner"]))
    assert r.status_code == status and r.get_json()["error"]["code"] == code


def test_unauthenticated_and_bad_tokens_are_refused(client, tiny):
    assert client.get("/editor").status_code == 401
    assert client.get("/editor?token=gs_not_a_token").status_code == 401


def test_simplified_chinese_by_default_english_on_request(client, tokens):
    h = bearer(tokens["planner"])
    zh = client.get(f"/editor?area={TOWNSHIP}&draft=5", headers=h).get_data(as_text=True)
    en = client.get(f"/editor?area={TOWNSHIP}&lang=en", headers=h).get_data(as_text=True)
    assert '<html lang="zh-CN">' in zh and "网格边界编辑" in zh and "预览影响" in zh
    assert config(zh)["strings"]["merge_pick"] == "请点击两个相邻网格"
    assert config(zh)["draft"] == 5
    assert '<html lang="en">' in en and "Boundary editor" in en and "Preview impact" in en
    assert config(en)["strings"]["merge_pick"] == "Click two neighbouring grids"
    assert "历史版本" in zh and config(zh)["strings"]["history.rollback"] == "回退到此版本…"
    assert "Version history" in en and "Compare on the map" in en
    assert config(en)["strings"]["history.rollback"] == "Roll back to this version…"
    assert "Choose a township or village to edit" in client.get(
        "/editor?lang=en", headers=h).get_data(as_text=True)


def test_the_page_loads_only_local_files_and_the_vendored_geoman(client, tokens):
    html = client.get(f"/editor?area={VILLAGE}", headers=bearer(tokens["planner"])
                      ).get_data(as_text=True)
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and all(r.startswith(("/static/", "data:", "?")) for r in refs), refs
    assert "/static/vendor/leaflet-geoman-free-2.18.3/leaflet-geoman.js" in refs
    assert "/static/js/editor.js" in refs
    assert "unpkg" not in html and "cdn" not in html.lower()
    for ref in refs:
        if ref.startswith("/static/"):
            assert (ROOT / ref.removeprefix("/")).is_file(), ref
    cfg = config(html)
    for name in [cfg["map"], cfg["grids_layer"], *cfg["layers"].values()]:
        assert f"var {name} " in html  # the JavaScript names the script looks up


def test_the_writes_the_page_makes_take_its_cookie_and_csrf_token(app):
    """The draft API's views the page posts to are `page_write`; the rest stay bearer-only."""
    page_writes = {"drafts.create", "drafts.edit", "drafts.undo", "drafts.redo",
                   "versions.publish_draft", "versions.rollback_version"}
    marked = {e for e, v in app.view_functions.items() if getattr(v, "page_write", False)}
    assert page_writes <= marked
    assert "drafts.discard" not in marked and "drafts.import_file" not in marked


def test_a_planners_page_writes_to_its_draft_with_cookie_and_csrf_token(client, tokens):
    page = {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}
    r = client.get(f"/editor?area={VILLAGE}&token={tokens['planner']}")
    cfg = config(client.get(r.headers["Location"], headers=SAME).get_data(as_text=True))
    made = client.post("/api/v1/drafts", json={"note": "n", "area": VILLAGE},
                       headers={**page, "X-CSRF-Token": cfg["csrf"]})
    assert made.status_code == 201, made.get_json()
    undo = f"/api/v1/drafts/{made.get_json()['id']}/undo"
    assert client.post(undo, headers={**page, "X-CSRF-Token": "0" * 64}).status_code == 403
    assert client.post(undo, headers=page).status_code == 401  # no CSRF token: no cookie


def test_the_history_panel_rolls_back_with_the_pages_cookie_and_csrf_token(
        client, engine, tokens, tiny):
    """History's "roll back to this version" is the page's write: its session cookie and
    CSRF token are taken; without the token the cookie is not, and a viewer may not."""
    populate(engine)  # households, workers and open cases on the tiny prefecture
    draft = split_g2(engine)
    published = client.post(f"/api/v1/drafts/{draft}/publish", json={"note": "分网格"},
                            headers=bearer(tokens["planner"]))
    assert published.status_code == 200, published.get_json()
    page = {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}
    rollback = f"/api/v1/versions/{tiny}/rollback"
    # a viewer: not with its bearer token, nor with a session cookie and that session's token
    assert client.post(rollback, headers=bearer(tokens["viewer"])).status_code == 403
    client.set_cookie(SESSION_COOKIE, tokens["viewer"])
    r = client.post(rollback, json={}, headers={**page, "X-CSRF-Token": csrf_token(
        tokens["viewer"])})
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    # the planner's page
    r = client.get(f"/editor?area={VILLAGE}&token={tokens['planner']}")
    cfg = config(client.get(r.headers["Location"], headers=SAME).get_data(as_text=True))
    assert cfg["strings"]["history.rollback"] == "回退到此版本…"
    assert cfg["colours"]["reshaped"] and "history" in cfg["layers"]
    assert client.post(rollback, json={}, headers=page).status_code == 401  # no CSRF token
    wrong = client.post(rollback, json={}, headers={**page, "X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403 and wrong.get_json()["error"]["code"] == "csrf_refused"
    other_site = client.post(rollback, json={}, headers={
        "Sec-Fetch-Site": "cross-site", "Origin": "https://elsewhere.example",
        "X-CSRF-Token": cfg["csrf"]})
    assert other_site.status_code == 403
    r = client.post(rollback, json={"note": "回退"}, headers={**page, "X-CSRF-Token": cfg["csrf"]})
    assert r.status_code == 200, r.get_json()
    done = r.get_json()
    assert done["previous"] == draft and done["households_moved"] == 4  # back from G5
    versions = {v["id"]: v for v in client.get("/api/v1/versions", headers=SAME
                                               ).get_json()["versions"]}
    assert versions[done["version"]]["state"] == "live"
    assert versions[done["version"]]["note"] == "回退"
    assert versions[done["version"]]["published_by"] == "test-planner"
    diff = client.get(f"/api/v1/versions/{tiny}/diff/{done['version']}?level=grid",
                      headers=SAME).get_json()
    assert not (diff["added"] or diff["removed"] or diff["reshaped"])  # tiny's grids again
    assert G5 in {e["code"] for e in client.get(
        f"/api/v1/versions/{done['version']}/diff/{draft}?level=grid", headers=SAME
    ).get_json()["added"]}
