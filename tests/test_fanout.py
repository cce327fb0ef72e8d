"""The hub's fan-out of one batch to many streams (a county call-out: 1,000 events, 1,000
phones): each stream gets exactly what the one scope policy lets it see, in order, and the
batch is sorted by scope once, not tested once per stream and event."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from geo_service.live import Subscription, visible_to
from geo_service.scope import Scope
from geo_service.versions.snapshot import AreaInfo

# A prefecture 62 with two counties; county 6201 has township 620101 with two grids, and
# grid 62010101 has two ten-household groups.
TREE = {"62": None, "6201": "62", "6202": "62", "620101": "6201", "62010101": "620101",
        "62010102": "620101", "6201010101": "62010101", "6201010102": "62010101"}


@dataclass
class Version:
    """The part of a VersionIndex the stream filter uses; counts `chain` calls."""

    version: int = 3
    chains: int = 0

    def chain(self, code: str | None) -> list[AreaInfo]:
        self.chains += 1
        out = []
        while code in TREE:
            out.append(AreaInfo(code, code, "x", None, TREE[code]))
            code = TREE[code]
        return out


def batch() -> list[dict]:
    """Events of every area, one of no area (a publish), one of an area the live version
    lacks, in id order."""
    codes = [*TREE, None, "6299", *TREE]
    return [{"id": i, "area_code": c, "kind": "x", "payload": {}}
            for i, c in enumerate(codes, start=100)]


@pytest.mark.parametrize("area", [
    None,  # unscoped: everything
    "62",  # the prefecture: every area
    "6201",  # a county: its township, grids and groups, not the other county
    "62010101",  # a grid: itself and its groups
    "6201010102",  # a group (a liaison head's phone): itself only
    "6202",  # a county with no events below it but its own
    "6299",  # a scope area the live version lacks: only the rows of no area
])
def test_a_batch_picked_per_stream_is_what_the_scope_policy_lets_it_see(area):
    vi = Version()
    rows = batch()
    policy = [r for r in rows if r["area_code"] is None or Scope(area).covers(vi, r["area_code"])]
    wants = visible_to(Scope(area), lambda: vi)
    assert wants.pick(rows, {}) == policy
    assert [r for r in rows if wants(r)] == policy  # row by row (a replay): the same


def test_without_a_live_version_only_rows_of_no_area_reach_a_scoped_stream():
    wants = visible_to(Scope("6201"), lambda: None)
    assert [r["area_code"] for r in wants.pick(batch(), {})] == [None]
    assert [r["area_code"] for r in batch() if wants(r)] == [None]


def test_a_thousand_streams_share_one_sorting_of_the_batch():
    """1,000 subscriptions of group-scoped phones and one batch: every subscriber's queue
    holds exactly its own rows, and the scope chain was looked up once per area of the
    batch, not once per (stream, event) as a filter asked row by row would."""
    vi = Version()
    groups = ["6201010101", "6201010102"]
    rows = [{"id": i, "area_code": groups[i % 2], "kind": "callout.called", "payload": {}}
            for i in range(1, 1001)]
    subs = [Subscription(visible_to(Scope(groups[k % 2]), lambda: vi), 0, 10_000)
            for k in range(1000)]
    shared: dict = {}
    assert all(s.offer(rows, shared) for s in subs)
    assert vi.chains == len(groups)
    for k, s in enumerate(subs):
        got = s.take(0)
        assert [r["id"] for r in got] == [r["id"] for r in rows if r["area_code"] == groups[k % 2]]


def test_a_filter_without_pick_is_still_asked_row_by_row():
    sub = Subscription(lambda r: r["id"] % 2 == 0, 0, 10)
    assert sub.offer([{"id": 1}, {"id": 2}, {"id": 4}], {})
    assert [r["id"] for r in sub.take(0)] == [2, 4]


def test_a_workers_own_events_reach_its_stream_from_anywhere_in_a_batch():
    """A worker's token also gets its own positions and orders outside its area (the
    scope policy's "own"), once each, in order; another worker's there it does not."""
    vi = Version()
    rows = [
        {"id": 1, "area_code": "6202", "kind": "worker.moved", "payload": {"code": "W1"}},
        {"id": 2, "area_code": "6202", "kind": "worker.moved", "payload": {"code": "W2"}},
        {"id": 3, "area_code": "6201010102", "kind": "callout.called",
         "payload": {"worker": "W1"}},  # own and inside: one row, not two
        {"id": 4, "area_code": "6202", "kind": "callout.called", "payload": {"worker": "W1"}},
        {"id": 5, "area_code": None, "kind": "boundary.published", "payload": {}},
        {"id": 6, "area_code": "6201010101", "kind": "report.created", "payload": {}},
    ]
    wants = visible_to(Scope("6201010102", "W1"), lambda: vi)
    assert [r["id"] for r in wants.pick(rows, {})] == [1, 3, 4, 5]
    assert [r["id"] for r in rows if wants(r)] == [1, 3, 4, 5]
