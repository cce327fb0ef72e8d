"""Drafts are private: `version=` serves published versions only, and a draft's rows and
removals never reach any other version."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from geo_service.auth import ROLES
from geo_service.errors import Conflict
from geo_service.store.tables import boundary_versions
from geo_service.versions import area_frame, publish

from .conftest import bearer, import_now
from .test_index_cache import _moved_grids
from .tiny import G1, G2


def _draft(engine, edge: float) -> int:
    """A draft moving the G1/G2 edge to `edge` (not published)."""
    result = import_now(engine, _moved_grids(edge), "grid", author="planner",
                        publish_now=False)
    assert result.written, result.report.summary()
    return result.version


def _g1(engine, version: int):
    with engine.connect() as conn:
        frame = area_frame(conn, version, "grid").set_index("code")
    return frame.geometry[G1].bounds[2], len(frame)


@pytest.mark.parametrize("role", ROLES)
def test_version_parameter_never_serves_a_draft(client, engine, tiny, tokens, role) -> None:
    draft = _draft(engine, 103.015)
    h = bearer(tokens[role])
    answers = [
        client.get("/api/v1/lookup", query_string={"lon": 103.012, "lat": 35.01,
                                                   "version": draft}, headers=h),
        client.get(f"/api/v1/areas/{G1}", query_string={"version": draft}, headers=h),
        client.get("/api/v1/areas", query_string={"version": draft}, headers=h),
        client.post("/api/v1/lookup", json={"points": [[103.012, 35.01]],
                                            "version": draft}, headers=h),
    ]
    for resp in answers:
        assert resp.status_code == 404, resp.request.path
        assert resp.get_json()["error"]["code"] == "unknown_version"
    # The same answer as for a version that never existed: a draft's existence is private.
    missing = client.get("/api/v1/lookup", query_string={
        "lon": 103.012, "lat": 35.01, "version": draft + 1}, headers=h).get_json()
    assert missing["error"]["message"].replace(str(draft + 1), "N") == \
        answers[0].get_json()["error"]["message"].replace(str(draft), "N")
    # The published version is still served.
    ok = client.get("/api/v1/lookup", query_string={"lon": 103.012, "lat": 35.01,
                                                    "version": tiny}, headers=h)
    assert ok.status_code == 200 and ok.get_json()["grid"]["code"] == G2


def test_versions_list_shows_drafts_to_planners_only(client, engine, tiny, tokens) -> None:
    draft = _draft(engine, 103.015)
    for role in ROLES:
        ids = [v["id"] for v in client.get("/api/v1/versions",
                                           headers=bearer(tokens[role])).get_json()["versions"]]
        assert ids == ([tiny, draft] if role in ("admin", "planner") else [tiny]), role


def test_a_draft_sees_its_base_and_its_own_changes(engine, tiny) -> None:
    draft = _draft(engine, 103.015)
    assert _g1(engine, draft) == (103.015, 4)
    assert _g1(engine, tiny) == (103.01, 4)


def test_an_unpublished_draft_leaks_into_no_later_version(engine, tiny) -> None:
    first = _draft(engine, 103.015)  # abandoned
    second = _draft(engine, 103.005)
    assert _g1(engine, second) == (103.005, 4)  # not the first draft's 103.015
    with engine.begin() as conn:
        publish(conn, second, "planner")
    assert _g1(engine, second) == (103.005, 4)
    assert _g1(engine, tiny) == (103.01, 4)  # the retired version is unchanged
    assert _g1(engine, first) == (103.015, 4)  # and the abandoned draft still its own
    # published at once, on top of `second`
    third = import_now(engine, _moved_grids(103.012), "grid", author="p").version
    assert _g1(engine, third) == (103.012, 4)
    assert _g1(engine, second) == (103.005, 4)


def test_a_draft_based_on_an_older_version_cannot_be_published(engine, tiny) -> None:
    stale = _draft(engine, 103.015)
    import_now(engine, _moved_grids(103.005), "grid", author="p")
    with engine.begin() as conn, pytest.raises(Conflict, match="was based on"):
        publish(conn, stale, "planner")
    with engine.connect() as conn:
        state = conn.execute(sa.select(boundary_versions.c.state).where(
            boundary_versions.c.id == stale)).scalar()
    assert state == "draft"
