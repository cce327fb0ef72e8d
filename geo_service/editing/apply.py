"""One edit of a draft, start to finish: read the areas around it, let `boundaries.edit`
compute the new shapes, re-group the ten-household groups of changed grids, write it all
through the edit log, and validate the parents it touched.

Why one function: the edit, its regrouping and its log entry are one unit of work (all or
nothing), and the answer (what changed, problems) is computed from what was written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
import sqlalchemy as sa

from boundaries import edit as geoedit
from boundaries.levels import parent_level
from geo_service.auth import Principal
from geo_service.editing import log
from geo_service.editing.drafts import Ancestry, Draft
from geo_service.editing.files import level_under
from geo_service.editing.ops import Op
from geo_service.editing.problems import validate_parents
from geo_service.editing.states import State, frame, own_state, snapshot
from geo_service.errors import Conflict, NotFound
from geo_service.store.tables import areas

LAYER_COLUMNS = ["code", "name", "level", "kind", "parent_code", "geometry"]


@dataclass
class Outcome:
    """What an edit (or an undo, a redo) did, for the answer."""

    seq: int | None
    after: dict[str, State]
    problems: list[dict[str, Any]] = field(default_factory=list)


def _holder(conn: sa.Connection, draft: Draft, code: str, fld: str) -> pd.Series:
    """The draft's row of `code`; 404 naming the field when it holds none."""
    found = frame(conn, draft.id, draft.base, codes={code})
    if found.empty:
        raise NotFound(f"draft {draft.id} holds no area {code}", fld, code="unknown_area")
    return found.iloc[0]


def _free(conn: sa.Connection, draft: Draft, code: str, fld: str) -> None:
    if not frame(conn, draft.id, draft.base, codes={code}).empty:
        raise Conflict(f"draft {draft.id} already holds an area {code}", fld)


def _layer(conn: sa.Connection, draft: Draft, level: str, parents: set[str],
           near: Any) -> gpd.GeoDataFrame:
    """The `level` areas under `parents`, and under their siblings near `near` (a shape):
    the areas an edit may move, snap to or take from."""
    up = parent_level(level)
    wanted = set(parents)
    if up is not None and near is not None and parents:
        ups = frame(conn, draft.id, draft.base, level=up, codes=set(parents))
        grand = {p for p in ups["parent_code"] if p is not None}
        if grand:
            cousins = frame(conn, draft.id, draft.base, level=up, parents=grand)
            box = shapely.box(*near.bounds).buffer(0.001)  # ~100 m around the edit
            wanted |= set(cousins.loc[cousins.intersects(box), "code"])
    if up is None:
        return frame(conn, draft.id, draft.base, level=level)
    return frame(conn, draft.id, draft.base, level=level, parents=wanted)


def _near_point(conn: sa.Connection, draft: Draft, level: str, at: tuple[float, float]
                ) -> set[str]:
    """Parents of the `level` areas inside the draft's area that lie within ~100 m of
    `at` (an area outside it may not move anyway)."""
    near = shapely.Point(at).buffer(0.001)
    found = level_under(conn, draft, level, draft.area)
    found = found[found.intersects(near)]
    return {p for p in found["parent_code"] if p is not None}


def compute(conn: sa.Connection, draft: Draft, op: Op, *, snap_m: float
            ) -> tuple[str, gpd.GeoDataFrame, geoedit.Edit]:
    """(level, layer, Edit) of an op, nothing written."""
    if op.op == "add":
        _free(conn, draft, op.code, "code")
        parent = _holder(conn, draft, op.parent_code, "parent_code")
        if parent["level"] != parent_level(op.level):
            raise Conflict(f"{op.parent_code} is a {parent['level']}, not the "
                           f"{parent_level(op.level)} a {op.level} belongs to", "parent_code",
                           code="conflict")
        layer = _layer(conn, draft, op.level, {op.parent_code}, op.geometry)
        return op.level, layer, geoedit.add(layer[LAYER_COLUMNS], op.code, op.geometry,
                                            name=op.name, parent_code=op.parent_code,
                                            snap_m=snap_m)
    if op.op == "move_vertex":
        parents = _near_point(conn, draft, op.level, op.at)
        layer = _layer(conn, draft, op.level, parents, shapely.Point(op.at))
        return op.level, layer, geoedit.move_vertex(layer[LAYER_COLUMNS], op.at, op.to,
                                                    snap_m=snap_m)
    codes = op.codes or [op.code]
    rows = [_holder(conn, draft, c, f"codes[{i}]" if op.codes else "code")
            for i, c in enumerate(codes)]
    level = rows[0]["level"]
    if any(r["level"] != level for r in rows):
        raise Conflict("codes must name areas of one level", "codes")
    near = shapely.union_all([r.geometry for r in rows] + (
        [op.geometry] if op.geometry is not None else []))
    layer = _layer(conn, draft, level, {r["parent_code"] for r in rows
                                        if r["parent_code"] is not None}, near)
    lay = layer[LAYER_COLUMNS]
    if op.op == "reshape":
        edit = geoedit.reshape(lay, op.code, op.geometry, snap_m=snap_m)
    elif op.op == "split":
        _free(conn, draft, op.new_code, "new_code")
        edit = geoedit.split(lay, op.code, op.geometry, new_code=op.new_code,
                             new_name=op.new_name)
    elif op.op == "merge":
        edit = geoedit.merge(lay, op.codes, op.into)
    elif op.op == "delete":
        edit = geoedit.delete(lay, op.code)
    else:  # rename: no geometry changes
        edit = geoedit.Edit()
    return level, layer, edit


def _regroup(conn: sa.Connection, draft: Draft, grids: gpd.GeoDataFrame,
             touched: set[str]) -> gpd.GeoDataFrame:
    """The ten-household groups of the touched grids re-parented to the grid (touched or
    next to them) covering most of each and clipped to it; only those that changed. Groups
    of untouched grids stay: their grid did not move."""
    groups = frame(conn, draft.id, draft.base, level="group", parents=touched)
    if groups.empty:
        return groups
    box = shapely.box(*groups.total_bounds)
    near = grids[grids.intersects(box)]
    return geoedit.regroup(groups[LAYER_COLUMNS], near[LAYER_COLUMNS])


def apply_edit(conn: sa.Connection, draft: Draft, op: Op, actor: Principal, *,
               snap_m: float, tolerance_m: float) -> Outcome:
    """Make one edit in the draft, as one entry of its log; problems after it."""
    ancestry = Ancestry(conn, draft)
    for code in ([op.parent_code] if op.op == "add" else op.codes or [op.code]):
        if code is not None:
            ancestry.require(code, "parent_code" if op.op == "add" else "code")
    level, layer, edit = compute(conn, draft, op, snap_m=snap_m)
    rows = layer.set_index("code", drop=False)
    targets: dict[str, State] = {}
    for code, geom in edit.changed.items():
        if code in edit.added:
            new = edit.added[code]
            kind = rows.at[op.code, "kind"] if op.op == "split" and op.code in rows.index \
                else None
            targets[code] = own_state(new.get("name") or code, level, kind,
                                      new.get("parent_code"), geom)
        else:
            r = rows.loc[code]
            targets[code] = own_state(r["name"], level, r["kind"], r["parent_code"], geom,
                                      r["synthetic"])
    for code in edit.removed:
        targets[code] = None
    if op.op == "rename":
        r = rows.loc[op.code]
        targets[op.code] = own_state(op.name, level, r["kind"], r["parent_code"], r.geometry,
                                     r["synthetic"])
    parents: set[str | None] = set()
    for code, state in targets.items():
        parent = state["row"]["parent_code"] if state else rows.at[code, "parent_code"]
        ancestry.require(parent if code not in rows.index else code, "code")
        parents.add(parent)
        if code in rows.index:
            parents.add(rows.at[code, "parent_code"])
    groups_touched: set[str | None] = set()
    if level == "grid":
        grids = _apply_to_layer(layer, targets, level)
        moved = _regroup(conn, draft, grids, {c for c in targets})
        groups_touched |= set(targets)  # a removed grid's groups left behind: missing_parent
        old_groups = frame(conn, draft.id, draft.base, level="group",
                           codes=set(moved["code"])).set_index("code")
        for g in moved.itertuples():
            old = old_groups.loc[g.code] if g.code in old_groups.index else None
            targets[g.code] = own_state(g.name, "group", None if old is None else old["kind"],
                                        g.parent_code, g.geometry,
                                        False if old is None else old["synthetic"])
            ancestry.require(g.parent_code, "code")
            groups_touched |= {g.parent_code, None if old is None else old["parent_code"]}
    before = snapshot(conn, draft.id, draft.base, set(targets))
    seq = log.record(conn, draft, op.to_json(), before, targets, actor.name)
    problems = validate_parents(conn, draft.id, draft.base, level, parents, tolerance_m)
    if groups_touched:
        problems += validate_parents(conn, draft.id, draft.base, "group", groups_touched,
                                     tolerance_m)
    return Outcome(seq, snapshot(conn, draft.id, draft.base, set(targets)), problems)


def _apply_to_layer(layer: gpd.GeoDataFrame, targets: dict[str, State], level: str
                    ) -> gpd.GeoDataFrame:
    """The layer as the edit leaves it (for regrouping)."""
    keep = layer[~layer["code"].isin(targets)]
    new = [{"code": c, **{k: s["row"][k] for k in ("name", "level", "kind", "parent_code")},
            "geometry": shapely.from_wkb(s["row"]["geom"])}
           for c, s in targets.items() if s and s["row"]["level"] == level]
    if not new:
        return keep.reset_index(drop=True)
    added = gpd.GeoDataFrame(new, geometry="geometry", crs="EPSG:4326")
    return pd.concat([keep[LAYER_COLUMNS], added], ignore_index=True)


def revisit(conn: sa.Connection, draft: Draft, seq: int, now: dict[str, State],
            then: dict[str, State], tolerance_m: float) -> Outcome:
    """The answer after an undo or redo: what the touched areas are now, and problems
    where they were and are (the parents of both sides)."""
    parents: dict[str, set[str | None]] = {}
    ids = [s["base"] for s in (*now.values(), *then.values()) if s and "base" in s]
    rows = [(s["row"]["level"], s["row"]["parent_code"])
            for s in (*now.values(), *then.values()) if s and "row" in s]
    if ids:
        rows += conn.execute(sa.select(areas.c.level, areas.c.parent_code)
                             .where(areas.c.id.in_(ids))).all()
    for level, parent in rows:
        parents.setdefault(level, set()).add(parent)
    problems: list[dict[str, Any]] = []
    for level, ps in sorted(parents.items()):
        problems += validate_parents(conn, draft.id, draft.base, level, ps, tolerance_m)
    return Outcome(seq, snapshot(conn, draft.id, draft.base, set(now)), problems)
