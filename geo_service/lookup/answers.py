"""Answering a lookup: which grid and group hold a point, its chain, and who answers for
it, for one point (pre-encoded parts, copied as bytes) or many (codes in input order)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from orjson import Fragment

from boundaries.crs import from_wgs84
from geo_service.lookup.parse import point_problems, problem_of, read_points
from geo_service.lookup.roster import PeopleDirectory
from geo_service.scope import EVERYTHING, Scope
from geo_service.versions import VersionIndex


def chain_of(vi: VersionIndex, code: str | None) -> list[dict[str, Any]]:
    return [{"level": a.level, "code": a.code, "name": a.name} for a in vi.chain(code)]


def area_brief(vi: VersionIndex, code: str | None) -> dict[str, Any] | None:
    info = vi.areas.get(code) if code else None
    return {"code": info.code, "name": info.name, "kind": info.kind} if info else None


def _group_parents(vi: VersionIndex) -> np.ndarray:
    """The grid position of each group's parent (-2 when it is no grid of this version),
    once per version."""
    parents = vi.memo.get(("group_parents",))
    if parents is None:
        at = {str(c): i for i, c in enumerate(vi.grids.codes)}
        parents = vi.memo["group_parents",] = np.fromiter(
            (at.get(vi.areas[str(c)].parent_code or "", -2) for c in vi.groups.codes),
            dtype=np.int64, count=len(vi.groups))
    return parents


def _encoded(vi: VersionIndex, grid: str, group: str | None
             ) -> tuple[Fragment, Fragment | None, Fragment]:
    """The grid's and the group's briefs and the grid's chain as JSON, encoded once per
    version and pair (a race only encodes them twice)."""
    key = (grid, group)
    parts = vi.json.get(key)
    if parts is None:
        parts = vi.json[key] = (Fragment(orjson.dumps(area_brief(vi, grid))),
                                Fragment(orjson.dumps(area_brief(vi, group))) if group else None,
                                Fragment(orjson.dumps(chain_of(vi, grid))))
    return parts


def encode_answers(vi: VersionIndex) -> None:
    """Encode the answer parts of every (grid, group) pair the layers nest, once per
    index build (~0.1 s for the demo), so no single lookup pays for a first encoding."""
    for info in vi.areas.values():
        if info.level == "grid":
            _encoded(vi, info.code, None)
        elif info.level == "group" and info.parent_code in vi.areas:
            _encoded(vi, info.parent_code, info.code)


def lookup_point(vi: VersionIndex, lon: float, lat: float, *, near_m: float,
                 people: PeopleDirectory, role: str, scope: Scope = EVERYTHING
                 ) -> dict[str, Any]:
    """The grid, group, chain, near-boundary flag and responsible people for one WGS84
    point, as `role` and `scope` may see them."""
    pos = vi.grids.assign_one(lon, lat)
    answer: dict[str, Any] = {"version": vi.version, "lon": lon, "lat": lat}
    if pos < 0:
        near, dist = vi.grids.nearest(lon, lat)
        nearest = str(vi.grids.codes[near]) if near >= 0 else None
        answer.update(grid=None, group=None, chain=[], near_boundary=False, people=[],
                      nearest={"grid": area_brief(vi, nearest), "distance_m": round(dist, 1)}
                      if scope.covers(vi, nearest) else None)
        return answer
    grid = str(vi.grids.codes[pos])
    if scope.area is not None and not scope.covers(vi, grid):
        raise scope.refusal("lon")
    gpos = vi.groups.assign_one(lon, lat)
    group = str(vi.groups.codes[gpos]) if gpos >= 0 else None
    if group is not None and vi.areas[group].parent_code != grid:
        group = None  # a group left under another grid by a redraw is not this grid's
    brief, group_brief, chain = _encoded(vi, grid, group)
    answer.update(grid=brief, group=group_brief, chain=chain,
                  near_boundary=vi.grids.near_boundary_one(lon, lat, pos, near_m),
                  people=people.for_role((grid, group) if group else (grid,), role))
    return answer


def output_point(answer: dict[str, Any], crs: str) -> dict[str, Any]:
    """Echo the point in the caller's CRS as well."""
    if crs != "EPSG:4326":
        x, y = from_wgs84(answer["lon"], answer["lat"], crs)
        answer["point"] = {"crs": crs, "x": float(x), "y": float(y)}
    return answer


def lookup_batch(vi: VersionIndex, points: list[Any], crs: str, *, chain: bool = False,
                 problems: dict[int, tuple[str, str, str]] | None = None,
                 scope: Scope = EVERYTHING) -> dict[str, Any]:
    """Grid and group codes for many points in input order; bad points, and points in
    grids outside `scope`, listed by index with a code, the field and the reason
    (`problems`: ones the caller found already)."""
    n = len(points)
    xs, ys, unread = read_points(points)
    lon, lat, kinds = point_problems(vi, xs, ys, crs)
    pos = vi.grids.assign(lon, lat)
    gpos = vi.groups.assign(lon, lat)
    gpos[(gpos >= 0) & (_group_parents(vi)[gpos] != pos)] = -1  # only a group of its grid
    hidden = scope.grids_outside(vi, pos)
    pos[hidden] = gpos[hidden] = -1
    grids = vi.grids.codes_of(pos)
    found = {**unread, **(problems or {})}
    bad = np.flatnonzero(kinds)
    each = {k: problem_of(k, crs) for k in set(kinds[bad].tolist())}
    for i, k in zip(bad.tolist(), kinds[bad].tolist(), strict=True):
        found.setdefault(i, each[k])
    if hidden.size:
        outside = ("out_of_scope", "point", f"outside area {scope.area}, the area this "
                   "token is limited to")
        found.update(dict.fromkeys(hidden.tolist(), outside))
    errors = [{"index": i, "code": code, "field": field, "reason": reason}
              for i, (code, field, reason) in sorted(found.items())]
    out: dict[str, Any] = {"version": vi.version, "count": n, "grid": grids.tolist(),
                           "group": vi.groups.codes_of(gpos).tolist(), "errors": errors}
    if chain:
        cache: dict[str, list[dict[str, Any]]] = {}
        out["chain"] = [cache.setdefault(g, chain_of(vi, g)) if g else [] for g in grids]
    return out
