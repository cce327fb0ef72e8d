"""The boundary editor's drafts through /api/v1/drafts (issue #12), on the tiny prefecture
(tests/tiny.py), SQLite and PostGIS: every op, undo/redo to the exact geometry, problems
naming the feature's own code, who may do what, and bad input refused with nothing written.
"""

from __future__ import annotations

import io
import json

import pytest
import shapely
import sqlalchemy as sa

from geo_service.auth import create_token
from geo_service.store.tables import areas, draft_edits, version_removals

from .conftest import bearer
from .tiny import G1, G2, G3

VILLAGE_A = "900001001001"
NEW = "900001001001003"


def box(x0: float, y0: float, x1: float, y1: float) -> dict:
    return shapely.geometry.mapping(shapely.box(x0, y0, x1, y1))


@pytest.fixture
def planner(tokens) -> dict[str, str]:
    return bearer(tokens["planner"])


def open_draft(client, headers, **body) -> int:
    resp = client.post("/api/v1/drafts", json=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def edit(client, headers, draft: int, status: int = 200, **op) -> dict:
    resp = client.post(f"/api/v1/drafts/{draft}/edits", json=op, headers=headers)
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def grids(client, headers, draft: int, level: str = "grid") -> dict[str, dict]:
    resp = client.get(f"/api/v1/drafts/{draft}/areas", query_string={"level": level},
                      headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return {f["id"]: f for f in resp.get_json()["features"]}


def shape(feature: dict):
    return shapely.geometry.shape(feature["geometry"])


def test_a_draft_is_opened_listed_read_and_discarded(client, tokens, planner, tiny) -> None:
    resp = client.post("/api/v1/drafts", json={"note": "重划甲村"}, headers=planner)
    assert resp.status_code == 201
    draft = resp.get_json()
    assert resp.headers["Location"].endswith(f"/api/v1/drafts/{draft['id']}")
    assert {k: draft[k] for k in ("state", "author", "note", "base_version", "live_version",
                                  "area", "edits", "can_undo", "can_redo", "problems")} == {
        "state": "draft", "author": "test-planner", "note": "重划甲村", "base_version": tiny,
        "live_version": tiny, "area": None, "edits": 0, "can_undo": False,
        "can_redo": False, "problems": []}
    listed = client.get("/api/v1/drafts", headers=planner).get_json()["drafts"]
    assert [d["id"] for d in listed] == [draft["id"]]
    assert set(grids(client, planner, draft["id"])) == {G1, G2, G3, "900002001001002"}
    other = bearer(_token(client, "other-planner", "planner"))
    refused = client.delete(f"/api/v1/drafts/{draft['id']}", headers=other)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    assert client.delete(f"/api/v1/drafts/{draft['id']}", headers=planner).status_code == 204
    gone = client.get(f"/api/v1/drafts/{draft['id']}", headers=planner)
    assert gone.status_code == 404 and gone.get_json()["error"]["code"] == "unknown_draft"
    # a published version is not a draft
    assert client.get(f"/api/v1/drafts/{tiny}", headers=planner).status_code == 404


def _token(client, name: str, role: str, area: str | None = None) -> str:
    from geo_service.app import services

    with services(client.application).engine.begin() as conn:
        return create_token(conn, name=name, role=role, area_code=area)


def test_reshape_then_undo_and_redo_restore_the_exact_geometry(client, planner, tiny) -> None:
    draft = open_draft(client, planner)
    before = grids(client, planner, draft)
    answer = edit(client, planner, draft, op="reshape", code=G1,
                  geometry=box(103.0, 35.0, 103.0081234567, 35.02))
    assert answer["edit"] == 1 and answer["can_undo"] and not answer["can_redo"]
    changed = {f["id"]: f for f in answer["changed"]["features"]}
    assert G1 in changed and changed[G1]["properties"]["changed"] is True
    after = grids(client, planner, draft)
    assert shape(after[G1]).bounds[2] == pytest.approx(103.0081234567, abs=1e-12)

    undone = client.post(f"/api/v1/drafts/{draft}/undo", headers=planner).get_json()
    assert undone["can_redo"] and not undone["can_undo"]
    again = grids(client, planner, draft)
    for code in before:  # bit for bit, and no longer marked changed
        assert again[code]["geometry"] == before[code]["geometry"], code
        assert again[code]["properties"]["changed"] is False
    redone = client.post(f"/api/v1/drafts/{draft}/redo", headers=planner).get_json()
    assert redone["edit"] == 1 and redone["can_undo"] and not redone["can_redo"]
    assert grids(client, planner, draft) == after
    nothing = client.post(f"/api/v1/drafts/{draft}/redo", headers=planner)
    assert nothing.status_code == 409
    assert nothing.get_json()["error"]["code"] == "nothing_to_redo"


def test_a_new_edit_after_an_undo_drops_the_undone_one(client, planner, tiny, engine) -> None:
    draft = open_draft(client, planner)
    edit(client, planner, draft, op="rename", code=G1, name="一号")
    client.post(f"/api/v1/drafts/{draft}/undo", headers=planner)
    answer = edit(client, planner, draft, op="rename", code=G2, name="二号")
    assert answer["edit"] == 1 and not answer["can_redo"]
    with engine.connect() as conn:
        ops = conn.execute(sa.select(draft_edits.c.op).where(
            draft_edits.c.draft_id == draft)).scalars().all()
    assert [o["code"] for o in ops] == [G2]
    now = grids(client, planner, draft)
    assert now[G1]["properties"]["name"] == "第一网格"
    assert now[G2]["properties"]["name"] == "二号"


def test_an_added_overlapping_grid_is_flagged_with_its_own_code(client, planner,
                                                                tiny) -> None:
    draft = open_draft(client, planner)
    answer = edit(client, planner, draft, op="add", level="grid", code=NEW, name="新网格",
                  parent_code=VILLAGE_A, geometry=box(103.005, 35.005, 103.015, 35.015))
    assert NEW in {f["id"] for f in answer["changed"]["features"]}
    overlaps = [p for p in answer["problems"] if p["kind"] == "overlap"]
    assert overlaps, answer["problems"]
    for p in overlaps:
        assert p["code"] in (NEW, G1, G2) and p["index"] is not None
        assert NEW in (p["code"], p["other_code"])
        assert p["area_m2"] > 0 and p["geometry"]["type"] in ("Polygon", "MultiPolygon")
    # the same problems from the draft as a whole
    listed = client.get(f"/api/v1/drafts/{draft}/problems", headers=planner).get_json()
    assert {(p["code"], p["kind"]) for p in listed["problems"]} >= {
        (p["code"], "overlap") for p in overlaps}


def test_delete_leaves_a_gap_and_rename_renames(client, planner, tiny) -> None:
    draft = open_draft(client, planner)
    answer = edit(client, planner, draft, op="delete", code=G2)
    assert G2 in answer["removed"]
    gaps = [p for p in answer["problems"] if p["kind"] == "gap"]
    assert gaps and gaps[0]["code"] == VILLAGE_A and not gaps[0]["fatal"]
    assert G2 not in grids(client, planner, draft)
    # its group, left without a grid, is named by its own code (here and for the draft)
    orphan = [(p["code"], p["kind"]) for p in answer["problems"] if p["level"] == "group"]
    assert orphan == [(G2 + "001", "missing_parent")]
    listed = client.get(f"/api/v1/drafts/{draft}/problems", headers=planner).get_json()
    assert (G2 + "001", "missing_parent") in {(p["code"], p["kind"])
                                              for p in listed["problems"]}
    edit(client, planner, draft, op="rename", code=G1, name="合并网格")
    assert grids(client, planner, draft)[G1]["properties"]["name"] == "合并网格"
    missing = edit(client, planner, draft, 404, op="rename", code=G2, name="x")
    assert missing["error"]["field"] == "code"


def test_an_edit_in_gcj02_is_stored_in_wgs84(client, planner, tiny) -> None:
    from boundaries.crs import geometry_from_wgs84

    drawn = shapely.box(103.0, 35.0, 103.008, 35.02)
    gcj = geometry_from_wgs84(drawn, "gcj02")
    draft = open_draft(client, planner)
    edit(client, planner, draft, op="reshape", code=G1, crs="gcj02",
         geometry=shapely.geometry.mapping(gcj))
    stored = shape(grids(client, planner, draft)[G1])
    assert stored.bounds[2] == pytest.approx(103.008, abs=1e-6)


ROLES_REFUSED = ("viewer", "dispatcher", "worker")


@pytest.mark.parametrize("role", ROLES_REFUSED)
def test_other_roles_get_403_everywhere(client, tokens, planner, tiny, role) -> None:
    draft = open_draft(client, planner)
    h = bearer(tokens[role])
    calls = [("GET", "/api/v1/drafts", None), ("POST", "/api/v1/drafts", {}),
             ("GET", f"/api/v1/drafts/{draft}", None),
             ("GET", f"/api/v1/drafts/{draft}/areas", None),
             ("GET", f"/api/v1/drafts/{draft}/problems", None),
             ("GET", f"/api/v1/drafts/{draft}/export", None),
             ("POST", f"/api/v1/drafts/{draft}/edits", {"op": "delete", "code": G1}),
             ("POST", f"/api/v1/drafts/{draft}/undo", None),
             ("DELETE", f"/api/v1/drafts/{draft}", None)]
    for method, path, body in calls:
        resp = client.open(path, method=method, json=body, headers=h)
        assert resp.status_code == 403, (method, path)
        assert resp.get_json()["error"]["code"] == "forbidden"


def test_a_viewer_never_sees_a_drafts_areas(client, tokens, planner, tiny) -> None:
    draft = open_draft(client, planner)
    edit(client, planner, draft, op="add", level="grid", code=NEW, name="新网格",
         parent_code=VILLAGE_A, geometry=box(103.005, 35.005, 103.015, 35.015))
    viewer = bearer(tokens["viewer"])
    codes = {f["id"] for f in client.get("/api/v1/areas", query_string={"level": "grid"},
                                         headers=viewer).get_json()["features"]}
    assert NEW not in codes
    assert client.get(f"/api/v1/areas/{NEW}", headers=viewer).status_code == 404
    looked = client.get("/api/v1/lookup", query_string={"lon": 103.006, "lat": 35.01},
                        headers=viewer).get_json()
    assert looked["grid"]["code"] == G1
    for q in ({"version": draft}, {"version": draft, "level": "grid"}):
        assert client.get("/api/v1/areas", query_string=q, headers=viewer).status_code == 404


def test_a_scoped_planner_edits_only_inside_its_area(client, planner, tiny) -> None:
    scoped = bearer(_token(client, "county-b-planner", "planner", "900002"))
    draft = open_draft(client, scoped)
    got = client.get(f"/api/v1/drafts/{draft}", headers=scoped).get_json()
    assert got["area"] == "900002"  # the token's own area by default
    refused = edit(client, scoped, draft, 403, op="rename", code=G1, name="x")
    assert refused["error"] == {"code": "out_of_scope", "field": "code",
                                "message": refused["error"]["message"]}
    refused = edit(client, scoped, draft, 403, op="add", level="grid", code=NEW, name="x",
                   parent_code=VILLAGE_A, geometry=box(103.005, 35.005, 103.015, 35.015))
    assert refused["error"]["field"] == "parent_code"
    edit(client, scoped, draft, op="rename", code=G3, name="三号")
    assert set(grids(client, scoped, draft)) == {G3, "900002001001002"}
    outside = client.get(f"/api/v1/drafts/{draft}/areas", query_string={"area": VILLAGE_A},
                         headers=scoped)
    assert outside.status_code == 403
    # a draft outside its area, or of the whole tree, it neither opens nor sees
    wide = client.post("/api/v1/drafts", json={"area": "900001"}, headers=scoped)
    assert wide.status_code == 403 and wide.get_json()["error"]["code"] == "out_of_scope"
    whole = open_draft(client, planner)
    assert client.get(f"/api/v1/drafts/{whole}", headers=scoped).status_code == 403
    assert [d["id"] for d in client.get("/api/v1/drafts", headers=scoped).get_json()[
        "drafts"]] == [draft]
    # the unscoped planner sees both, but may not change the other's draft
    assert len(client.get("/api/v1/drafts", headers=planner).get_json()["drafts"]) == 2
    edit(client, planner, draft, 403, op="rename", code=G3, name="y")


BOWTIE = {"type": "Polygon", "coordinates": [[[103.0, 35.0], [103.01, 35.02], [103.01, 35.0],
                                              [103.0, 35.02], [103.0, 35.0]]]}
SWAPPED = {"type": "Polygon", "coordinates": [[[35.0, 103.0], [35.02, 103.0],
                                               [35.02, 103.008], [35.0, 103.008],
                                               [35.0, 103.0]]]}
# (body, status, code, field) — every one refused with nothing written
BAD = [
    ({"op": "reshape", "code": G1, "geometry": BOWTIE}, 400, "invalid_geometry", "geometry"),
    ({"op": "reshape", "code": G1, "geometry": "POLYGON((0 0,1 1,1 0,0 0))"}, 400,
     "invalid_geometry", "geometry"),
    ({"op": "reshape", "code": G1, "geometry": {"type": "Point", "coordinates": [103, 35]}},
     400, "invalid_geometry", "geometry"),
    ({"op": "reshape", "code": G1, "geometry": {"type": "Polygon", "coordinates": [[
        [103.0, 35.0], ["103.01", 35.0], [103.01, 35.02], [103.0, 35.0]]]}}, 400,
     "invalid_number", "geometry.coordinates"),
    ({"op": "reshape", "code": G1, "geometry": SWAPPED}, 422, "swapped_axes",
     "geometry.coordinates"),
    ({"op": "reshape", "code": G1, "geometry": box(200, 35, 201, 36)}, 422, "out_of_range",
     "geometry.coordinates"),
    ({"op": "reshape", "code": G1, "crs": "EPSG:27700", "geometry": box(103, 35, 103.01,
                                                                       35.02)},
     400, "unknown_crs", "crs"),
    ({"op": "reshape", "code": 12, "geometry": box(103, 35, 103.01, 35.02)}, 400, "invalid",
     "code"),
    ({"op": "reshape", "code": G1}, 400, "missing", "geometry"),
    ({"op": "rename", "code": G1, "name": ""}, 400, "invalid_text", "name"),
    ({"op": "rename", "code": G1, "name": "x", "extra": 1}, 400, "unknown_field", "extra"),
    ({"op": "explode", "code": G1}, 400, "invalid_choice", "op"),
    ({"op": "move_vertex", "level": "grid", "at": [103.01, True], "to": [103.0, 35.0]}, 400,
     "invalid_number", "at"),
    ({"op": "merge", "codes": [G1, G1], "into": G1}, 400, "repeated_code", "codes"),
    ({"op": "merge", "codes": [G1, G2], "into": G3}, 400, "invalid_into", "into"),
    ({"op": "add", "level": "grid", "code": NEW, "name": "x", "parent_code": VILLAGE_A,
      "geometry": {"type": "Polygon", "coordinates": [[[103.0, 35.0]] * 200_001]}}, 413,
     "too_large", "geometry.coordinates"),
    ([1, 2], 400, "invalid_body", "body"),
]


@pytest.mark.parametrize(("body", "status", "code", "field"), BAD)
def test_bad_input_is_refused_naming_the_field(client, planner, tiny, engine, body, status,
                                               code, field) -> None:
    draft = open_draft(client, planner)
    resp = client.post(f"/api/v1/drafts/{draft}/edits", json=body, headers=planner)
    assert resp.status_code == status, resp.get_json()
    error = resp.get_json()["error"]
    assert (error["code"], error["field"]) == (code, field), error
    _nothing_written(engine, draft)


def _nothing_written(engine, draft: int) -> None:
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(areas).where(
            areas.c.version_from == draft)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(draft_edits).where(
            draft_edits.c.draft_id == draft)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(version_removals).where(
            version_removals.c.version_id == draft)).scalar() == 0


def test_nan_and_an_oversized_body_are_refused(client, planner, tiny, engine) -> None:
    draft = open_draft(client, planner)
    text = json.dumps({"op": "reshape", "code": G1, "geometry": box(103, 35, 103.01, 35.02)}
                      ).replace("103.01", "NaN", 1)
    resp = client.post(f"/api/v1/drafts/{draft}/edits", data=text,
                       content_type="application/json", headers=planner)
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "invalid_number"
    client.application.config["MAX_CONTENT_LENGTH"] = 2048
    try:
        big = {"op": "rename", "code": G1, "name": "x" * 5000}
        resp = client.post(f"/api/v1/drafts/{draft}/edits", json=big, headers=planner)
    finally:
        client.application.config["MAX_CONTENT_LENGTH"] = client.application.config[
            "MAX_BODY_BYTES"]
    assert resp.status_code == 413 and resp.get_json()["error"]["code"] == "too_large"
    assert client.post(f"/api/v1/drafts/{draft}/edits", data="{}", content_type="text/plain",
                       headers=planner).status_code == 415
    _nothing_written(engine, draft)


def test_a_shared_vertex_moves_for_both_grids(client, planner, tiny) -> None:
    draft = open_draft(client, planner)
    answer = edit(client, planner, draft, op="move_vertex", level="grid",
                  at=[103.01, 35.02], to=[103.012, 35.02])
    changed = {f["id"]: shape(f) for f in answer["changed"]["features"]}
    assert {G1, G2} <= set(changed)
    for code in (G1, G2):  # the corner moved in both outlines
        coords = {tuple(c) for c in shapely.get_coordinates(changed[code]).tolist()}
        assert (103.012, 35.02) in coords and (103.01, 35.02) not in coords, code
    assert changed[G1].intersection(changed[G2]).area == pytest.approx(0, abs=1e-12)
    assert not [p for p in answer["problems"]
                if p["kind"] in ("overlap", "gap") and p["level"] == "grid"]
    # the groups followed their grids in the same edit: G2's gave up the corner, G1's
    # took it, so every household there still falls in a group
    corner = shapely.Point(103.0105, 35.0195)
    assert changed[G1 + "001"].covers(corner) and not changed[G2 + "001"].intersects(corner)
    assert not [p for p in answer["problems"] if p["level"] == "group"]
    assert client.post(f"/api/v1/drafts/{draft}/undo", headers=planner).status_code == 200
    assert shape(grids(client, planner, draft)[G1]).equals_exact(
        shapely.MultiPolygon([shapely.box(103.0, 35.0, 103.01, 35.02)]), 0)


def test_split_and_merge(client, planner, tiny) -> None:
    draft = open_draft(client, planner)
    line = {"type": "LineString", "coordinates": [[103.0035, 34.99], [103.0035, 35.03]]}
    answer = edit(client, planner, draft, op="split", code=G1, line=line, new_code=NEW,
                  new_name="第一网格西")
    now = grids(client, planner, draft)
    assert shape(now[G1]).bounds[0] == pytest.approx(103.0035)  # the larger part keeps G1
    assert shape(now[NEW]).bounds[2] == pytest.approx(103.0035)
    assert now[NEW]["properties"]["parent_code"] == VILLAGE_A
    assert not [p for p in answer["problems"] if p["fatal"]]
    groups = grids(client, planner, draft, "group")  # the group is clipped to what G1 kept
    assert shape(groups[G1 + "001"]).bounds[0] == pytest.approx(103.0035)

    answer = edit(client, planner, draft, op="merge", codes=[G1, G2], into=G2)
    assert answer["removed"] == [G1]
    now = grids(client, planner, draft)
    assert G1 not in now and shape(now[G2]).bounds == pytest.approx(
        (103.0035, 35.0, 103.02, 35.02))
    groups = grids(client, planner, draft, "group")
    assert groups[G1 + "001"]["properties"]["parent_code"] == G2  # regrouped
    assert client.post(f"/api/v1/drafts/{draft}/undo", headers=planner).status_code == 200
    assert grids(client, planner, draft, "group")[G1 + "001"]["properties"][
        "parent_code"] == G1


def test_a_reshape_is_taken_by_the_neighbour(client, planner, tiny) -> None:
    """The redrawn edge is taken by both neighbours: what G1 gives up goes to G2, what it
    takes G2 loses; the village stays tiled."""
    draft = open_draft(client, planner)
    answer = edit(client, planner, draft, op="reshape", code=G1,
                  geometry=box(103.0, 35.0, 103.012, 35.02))
    changed = {f["id"]: shape(f) for f in answer["changed"]["features"]}
    assert changed[G2].bounds[0] == pytest.approx(103.012)
    assert not [p for p in answer["problems"]
                if p["kind"] in ("overlap", "gap") and p["level"] == "grid"]


def test_an_edit_that_cannot_be_made_is_refused(client, planner, tiny, engine) -> None:
    draft = open_draft(client, planner)
    line = {"type": "LineString", "coordinates": [[103.03, 34.99], [103.03, 35.03]]}
    resp = edit(client, planner, draft, 422, op="split", code=G1, line=line, new_code=NEW,
                new_name="x")
    assert resp["error"]["code"] == "edit_refused" and resp["error"]["field"] == "line"
    resp = edit(client, planner, draft, 422, op="merge", codes=[G1, G3], into=G1)
    assert resp["error"]["code"] == "edit_refused"
    _nothing_written(engine, draft)


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp"])
def test_export_opens_in_qgis_formats(client, planner, tiny, tmp_path, fmt) -> None:
    from boundaries.files import read_areas

    draft = open_draft(client, planner, area=VILLAGE_A)
    edit(client, planner, draft, op="rename", code=G1, name="一号")
    resp = client.get(f"/api/v1/drafts/{draft}/export",
                      query_string={"format": fmt, "level": "grid"}, headers=planner)
    assert resp.status_code == 200
    name = resp.headers["Content-Disposition"].split('"')[1]
    path = tmp_path / name
    path.write_bytes(resp.data)
    frame, problems = read_areas(path)
    assert not [p for p in problems if p.fatal]
    assert dict(zip(frame["code"], frame["name"], strict=True)) == {G1: "一号",
                                                                    G2: "第二网格"}


def _layer_body(g1_east: float) -> dict:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": G1, "name": "一号", "parent_code": VILLAGE_A},
         "geometry": box(103.0, 35.0, g1_east, 35.02)},
        {"type": "Feature", "properties": {"code": G2, "name": "二号", "parent_code": VILLAGE_A},
         "geometry": box(103.015, 35.0, 103.02, 35.02)}]}


def test_import_goes_through_the_same_validation(client, planner, tiny, engine) -> None:
    draft = open_draft(client, planner)
    refused = client.post(f"/api/v1/drafts/{draft}/import", query_string={"level": "grid"},
                          json=_layer_body(103.017), headers=planner)
    assert refused.status_code == 422, refused.get_json()
    error = refused.get_json()["error"]
    assert error["code"] == "import_refused"
    overlap = [p for p in error["detail"]["problems"] if p["code"] == "overlap"]
    assert overlap and overlap[0]["feature_code"] == G1 and overlap[0]["index"] == 0
    _nothing_written(engine, draft)

    done = client.post(f"/api/v1/drafts/{draft}/import", query_string={"level": "grid"},
                       json=_layer_body(103.015), headers=planner)
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["edit"] == 1
    now = grids(client, planner, draft)
    assert shape(now[G1]).bounds[2] == pytest.approx(103.015)
    assert now[G2]["properties"]["name"] == "二号"
    groups = grids(client, planner, draft, "group")  # G2's group clipped to G2 as imported
    assert shape(groups[G2 + "001"]).bounds[0] == pytest.approx(103.015)
    client.post(f"/api/v1/drafts/{draft}/undo", headers=planner)
    assert shape(grids(client, planner, draft)[G1]).bounds[2] == pytest.approx(103.01)
    assert shape(grids(client, planner, draft, "group")[G2 + "001"]).bounds[0] == \
        pytest.approx(103.01)


def test_import_of_an_uploaded_file(client, planner, tiny, tmp_path) -> None:
    draft = open_draft(client, planner)
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps(_layer_body(103.015)), "utf-8")
    with path.open("rb") as fh:
        resp = client.post(f"/api/v1/drafts/{draft}/import", data={"file": (fh, path.name)},
                           content_type="multipart/form-data", headers=planner)
    assert resp.status_code == 200, resp.get_json()
    assert shape(grids(client, planner, draft)[G2]).bounds[0] == pytest.approx(103.015)


@pytest.mark.parametrize("fmt", ["gpkg", "shp", "geojson"])
def test_a_draft_round_trips_through_qgis_formats(client, planner, tiny, fmt) -> None:
    """Exported from one draft, edited elsewhere, uploaded into another: the same
    validation, and the change arrives."""
    first = open_draft(client, planner, area=VILLAGE_A)
    edit(client, planner, first, op="rename", code=G1, name="一号")
    out = client.get(f"/api/v1/drafts/{first}/export",
                     query_string={"format": fmt, "level": "grid"}, headers=planner)
    assert out.status_code == 200
    name = out.headers["Content-Disposition"].split('"')[1]
    second = open_draft(client, planner, area=VILLAGE_A)
    resp = client.post(f"/api/v1/drafts/{second}/import", query_string={"level": "grid"},
                       data={"file": (io.BytesIO(out.data), name)},
                       content_type="multipart/form-data", headers=planner)
    assert resp.status_code == 200, resp.get_json()
    assert grids(client, planner, second)[G1]["properties"]["name"] == "一号"


def test_a_draft_older_than_the_live_version_still_takes_edits(client, planner, tiny,
                                                               engine) -> None:
    from .conftest import import_now
    from .test_index_cache import _moved_grids

    draft = open_draft(client, planner)
    assert import_now(engine, _moved_grids(103.005), "grid", author="p").written
    answer = edit(client, planner, draft, op="rename", code=G1, name="旧稿")
    assert answer["edit"] == 1  # publishing is what refuses a stale draft, not editing
    got = client.get(f"/api/v1/drafts/{draft}", headers=planner).get_json()
    assert got["base_version"] == tiny and got["live_version"] > draft
    assert shape(grids(client, planner, draft)[G1]).bounds[2] == pytest.approx(103.01)


def test_two_planners_hold_drafts_at_once(client, planner, tiny) -> None:
    other = bearer(_token(client, "planner-2", "planner"))
    mine, theirs = open_draft(client, planner), open_draft(client, other)
    edit(client, planner, mine, op="rename", code=G1, name="甲")
    edit(client, other, theirs, op="rename", code=G1, name="乙")
    assert grids(client, planner, mine)[G1]["properties"]["name"] == "甲"
    assert grids(client, other, theirs)[G1]["properties"]["name"] == "乙"
    client.post(f"/api/v1/drafts/{theirs}/undo", headers=other)
    assert grids(client, planner, mine)[G1]["properties"]["name"] == "甲"


def test_an_edit_failing_after_its_writes_leaves_the_draft_as_it_was(
        client, planner, tiny, engine, monkeypatch) -> None:
    """One unit of work: the areas, the regrouped groups and the log entry are written
    before validation; a crash there rolls all of them back."""
    from geo_service.editing import apply

    draft = open_draft(client, planner)

    def crash(*args, **kwargs):
        raise RuntimeError("validation crashed")

    monkeypatch.setattr(apply, "validate_parents", crash)
    with pytest.raises(RuntimeError, match="validation crashed"):
        client.post(f"/api/v1/drafts/{draft}/edits", headers=planner, json={
            "op": "reshape", "code": G1, "geometry": box(103.0, 35.0, 103.012, 35.02)})
    _nothing_written(engine, draft)


def test_a_vertex_shared_across_a_county_border_moves_for_both(client, planner,
                                                               tiny) -> None:
    """G2 (county 900001) and G3 (county 900002) share the corner (103.02, 35.02): the
    edit sees neighbours under other parents too; a token limited to one county may not
    move the other's grid."""
    draft = open_draft(client, planner)
    answer = edit(client, planner, draft, op="move_vertex", level="grid",
                  at=[103.02, 35.02], to=[103.021, 35.019])
    changed = {f["id"] for f in answer["changed"]["features"]}
    assert {G2, G3} <= changed
    # G2 now reaches ~90 m into the other county: named by its own code
    assert (G2, "outside_parent") in {(p["code"], p["kind"]) for p in answer["problems"]}
    scoped = bearer(_token(client, "county-b-planner", "planner", "900002"))
    theirs = open_draft(client, scoped)
    refused = edit(client, scoped, theirs, 403, op="move_vertex", level="grid",
                   at=[103.02, 35.02], to=[103.021, 35.019])
    assert refused["error"]["code"] == "out_of_scope"


def test_a_reshape_slipping_out_of_its_village_stays_inside(client, planner, tiny) -> None:
    draft = open_draft(client, planner)
    answer = edit(client, planner, draft, op="reshape", code=G1,
                  geometry=box(102.995, 35.0, 103.012, 35.02))
    g1 = shape({f["id"]: f for f in answer["changed"]["features"]}[G1])
    assert g1.bounds == pytest.approx((103.0, 35.0, 103.012, 35.02))
    assert not [p for p in answer["problems"] if p["fatal"]]
