"""Publishing a draft moves everything that belongs to a grid, in one transaction, on both
stores: households (grid, group), groups (their parent), workers' areas, open cases (grid,
group, chain, owner, a history step and an event each); the impact preview says so first.
Drafts are made with the import core (`stage_level`), as the editor makes them."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from geo_service import events
from geo_service.errors import Conflict, Forbidden
from geo_service.events import BoundaryPublished, ReportChanged
from geo_service.scope import Scope
from geo_service.store.tables import audit_log, report_events
from geo_service.store.uow import unit_of_work
from geo_service.versions import live_version, publish
from geo_service.versions.history import diff_versions, rollback, version_history
from geo_service.versions.impact import impact

from .publish_world import (
    G5,
    assignments,
    merge_g2_into_g1,
    move_edge,
    populate,
    split_g2,
)
from .tiny import G1, G2, G3


@pytest.fixture
def world(engine, tiny):
    return populate(engine)


def _publish(engine, draft: int, **kw):
    with events.listen() as seen, unit_of_work(engine) as uow:
        done = publish(uow.conn, draft, "planner", **kw)
    return done, seen


def _preview(engine, draft: int, role: str = "planner", **kw):
    with engine.connect() as conn:
        return impact(conn, draft, role=role, **kw)


def test_a_split_moves_the_east_part_with_its_people_and_cases(engine, world) -> None:
    before = assignments(engine)
    draft = split_g2(engine)
    preview = _preview(engine, draft)
    moved_hh = {c for c, lon in _lattice().items() if lon > 103.016}
    assert preview["households"] == len(moved_hh) == 4
    assert preview["open_cases"] == 2  # east_of_g2 and the escalated one
    assert preview["workers"] == 0 and preview["groups"] == 0
    assert preview["moves"] == [{"from": G2, "to": G5, "households": 4, "groups": 0,
                                 "workers": 0, "open_cases": 2}]
    feats = preview["features"]["features"]
    assert {f["properties"]["id"] for f in feats if f["properties"]["kind"] == "household"} \
        == moved_hh
    for f in feats:  # a planner sees positions to 0.001° and codes, nothing else
        assert set(f["properties"]) == {"kind", "id", "from", "to"}
        assert all(round(x, 3) == x for x in f["geometry"]["coordinates"])

    done, seen = _publish(engine, draft)
    assert (done.households_moved, done.cases_moved, done.workers_moved) == (4, 2, 0)
    after = assignments(engine)
    for code in moved_hh:
        assert after["households"][code] == (G5, G5 + "001")
    for code in set(before["households"]) - moved_hh:
        assert after["households"][code] == before["households"][code]
    east = after["cases"][world["east_of_g2"]]
    assert east[:2] == (G5, G5 + "001") and east[5:7] == ("grid", G5)  # owner follows
    up = after["cases"][world["escalated_in_g2"]]
    assert up[0] == G5 and up[5:7] == ("village", "900001001001")  # the village keeps it
    assert after["cases"][world["west_of_g2"]] == before["cases"][world["west_of_g2"]]
    moved_events = [e for e in seen if isinstance(e, ReportChanged)]
    assert {e.id for e in moved_events} == {world["east_of_g2"], world["escalated_in_g2"]}
    assert all(e.area == G5 and e.action == "boundary_changed" for e in moved_events)
    assert [e for e in seen if isinstance(e, BoundaryPublished)][0].version == draft
    with engine.connect() as conn:
        steps = conn.execute(sa.select(report_events.c.action, report_events.c.note)
                             .where(report_events.c.action == "boundary_changed")).all()
        record = conn.execute(sa.select(audit_log.c.actor, audit_log.c.detail).where(
            audit_log.c.action == "publish_version", audit_log.c.target == str(draft))).one()
    assert len(steps) == 2 and all(f"{G2} → {G5}" in n for _, n in steps)
    assert record.actor == "planner" and record.detail["cases_moved"] == 2


def _lattice() -> dict[str, float]:
    """The lattice households' codes and longitudes (populate's layout)."""
    return {f"H{i:02d}": 103.001 + 0.002 * (i // 2) for i in range(20)}


def test_a_merge_takes_the_workers_and_regroups_the_groups(engine, world) -> None:
    before = assignments(engine)
    draft = merge_g2_into_g1(engine)
    preview = _preview(engine, draft)
    assert preview["households"] == 10 and preview["open_cases"] == 3
    assert preview["groups"] == 1  # G2's group now lies in G1
    assert preview["workers"] == 3  # W2 and the guide follow G2; L2's group moved
    done, _ = _publish(engine, draft)
    assert (done.households_moved, done.groups_moved, done.workers_moved,
            done.cases_moved) == (10, 1, 2, 3)
    after = assignments(engine)
    assert after["groups"][G2 + "001"] == G1
    assert ("W2", G1) in after["workers"] and ("L2", G2 + "001") in after["workers"]
    assert [w for w in after["workers"] if w[0] == "GG"] == [("GG", G1)]
    for code, (grid, group) in before["households"].items():
        assert after["households"][code] == ((G1, group) if grid == G2 else (grid, group))
    for cid, row in after["cases"].items():
        assert row[0] != G2
        if before["cases"][cid][0] == G2:
            assert row[1] == G2 + "001"  # its group, now under G1, stays the case's


def test_an_edge_move_publishes_on_both_stores(engine, world) -> None:
    draft = move_edge(engine, 103.015)
    preview = _preview(engine, draft, role="admin")
    # 103.011, 103.013 and 103.015: on the new edge, the lowest code (G1) wins; both rows
    assert preview["households"] == 6
    assert preview["moves"][0]["from"] == G2 and preview["moves"][0]["to"] == G1
    coords = [f["geometry"]["coordinates"] for f in preview["features"]["features"]
              if f["properties"]["kind"] == "household"]
    assert sorted(x for x, _ in coords)[0] == pytest.approx(103.011)  # admin: exact
    done, _ = _publish(engine, draft)
    assert done.households_moved == 6 and done.cases_moved == 1


def test_the_preview_is_capped_and_says_so(engine, world) -> None:
    preview = _preview(engine, merge_g2_into_g1(engine), max_features=3)
    assert len(preview["features"]["features"]) == 3 and preview["features_truncated"]


def test_a_stale_draft_is_refused_with_what_was_published_since(engine, world) -> None:
    first, second = move_edge(engine, 103.015), split_g2(engine)
    _publish(engine, first)
    before = assignments(engine)
    with pytest.raises(Conflict) as refused, unit_of_work(engine) as uow:
        publish(uow.conn, second, "other planner")
    assert refused.value.code == "stale_draft"
    changed = refused.value.detail["changed"]
    assert changed["reshaped"] == [G1, G2] and changed["added"] == []
    assert refused.value.detail["live_version"] == first
    assert assignments(engine) == before


def test_a_scoped_planner_publishes_only_inside_its_area(engine, world) -> None:
    draft = merge_g2_into_g1(engine)
    with pytest.raises(Forbidden), engine.connect() as conn:
        impact(conn, draft, role="planner", scope=Scope("900002"))
    with pytest.raises(Forbidden), unit_of_work(engine) as uow:
        publish(uow.conn, draft, "p", scope=Scope("900002"))
    done, _ = _publish(engine, draft, scope=Scope("900001001"))
    assert done.households_moved == 10


@pytest.mark.parametrize("change", [split_g2, merge_g2_into_g1, move_edge])
def test_rollback_restores_the_exact_earlier_assignments(engine, world, tiny, change) -> None:
    before = assignments(engine)
    _publish(engine, change(engine))
    assert assignments(engine) != before
    with unit_of_work(engine) as uow:
        done = rollback(uow.conn, tiny, "admin")
    after = assignments(engine)
    assert after["households"] == before["households"]
    assert after["groups"] == before["groups"]
    assert after["workers"] == before["workers"]
    assert {k: v for k, v in after["cases"].items()} == before["cases"]
    with engine.connect() as conn:
        assert live_version(conn) == done.version
        assert diff_versions(conn, tiny, done.version)["reshaped"] == []
        assert diff_versions(conn, tiny, done.version)["added"] == []


def test_rolling_back_the_rollback_restores_the_change(engine, world, tiny) -> None:
    _publish(engine, merge_g2_into_g1(engine))
    merged = assignments(engine)
    with engine.connect() as conn:
        changed_version = live_version(conn)
    with unit_of_work(engine) as uow:
        rollback(uow.conn, tiny, "admin")
    with unit_of_work(engine) as uow:
        rollback(uow.conn, changed_version, "admin")
    assert assignments(engine) == merged


def test_history_lists_author_note_counts_and_what_moved(engine, world, tiny) -> None:
    draft = split_g2(engine)
    _publish(engine, draft, note="split the second grid")
    with engine.connect() as conn:
        rows = {v["id"]: v for v in version_history(conn, drafts=True)}
        diff = diff_versions(conn, tiny, draft)
    v = rows[draft]
    assert (v["state"], v["author"], v["published_by"], v["note"]) == (
        "live", "planner", "planner", "split the second grid")
    assert v["counts"]["grid"] == 5 and v["counts"]["group"] == 5
    assert v["households_moved"] == 4 and rows[tiny]["counts"]["grid"] == 4
    assert [a["code"] for a in diff["added"]] == [G5, G5 + "001"]
    assert [a["code"] for a in diff["reshaped"]] == [G2, G2 + "001"]
    assert diff["removed"] == [] and diff["unchanged"] == 13


def test_households_far_from_the_change_are_not_touched(engine, world) -> None:
    """The G3 household stays where it is: the change never reaches its grid."""
    before = assignments(engine)
    _publish(engine, move_edge(engine))
    assert assignments(engine)["households"]["H20"] == before["households"]["H20"] == (
        G3, G3 + "001")
