"""What publishing a draft would move: households, ten-household groups, workers' areas and
open cases that change grid, planned in one vectorized pass.

Only what a change can reach is read: a point's grid or group can change only where some
changed outline (old or new) covers it, so the candidates are the rows assigned to base
grids and groups touching a changed outline (and those in no grid). The draft's index is
built over the grids and groups around those only, and every candidate point is looked
up at once. The same plan is the impact preview and what publishing applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa

from boundaries.levels import LEVELS
from geo_service.cases.model import OPEN
from geo_service.errors import NotFound
from geo_service.index import GridIndex
from geo_service.privacy import DOOR_ROLES
from geo_service.scope import EVERYTHING, Scope
from geo_service.store.tables import (
    areas,
    boundary_versions,
    households,
    reports,
    version_removals,
    worker_areas,
    workers,
)
from geo_service.versions.reading import rows_in, valid_in

PLACED = ("grid", "group")  # the levels points are assigned to
CHAIN = tuple(lv for lv in LEVELS if lv not in PLACED)  # prefecture .. village


def wkb(conn: sa.Connection, column: sa.Column) -> sa.ColumnElement[Any]:
    """A geometry column as plain WKB bytes, decoded later in one vectorized call."""
    if conn.dialect.name == "postgresql":
        return sa.func.ST_AsBinary(column)
    return sa.type_coerce(column, sa.LargeBinary)


def columns(rows: list[Any], names: list[str]) -> pd.DataFrame:
    """Rows as a frame, column by column (pandas is slow with SQLAlchemy rows)."""
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    return pd.DataFrame({n: pd.Series(c, dtype=object) for n, c in zip(names, cols,
                                                                       strict=True)})


def _objects(frame: pd.DataFrame, values: Any) -> pd.Series:
    """A column of codes kept as Python objects with None for none (pandas would turn
    strings into its string type, whose missing value is NaN)."""
    out = np.array(values, dtype=object)
    out[pd.isna(out)] = None
    return pd.Series(out, index=frame.index, dtype=object)


def _differs(a: Any, b: Any) -> np.ndarray:
    """Elementwise a != b, where missing equals missing."""
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    return (a != b) & ~(pd.isna(a) & pd.isna(b))


def from_wkb(values: Any) -> np.ndarray:
    return shapely.from_wkb(np.array([bytes(v) for v in values], dtype=object))


@dataclass
class Layer:
    """One level of areas in one version: codes, parents and outlines, aligned."""

    codes: np.ndarray
    parents: np.ndarray
    geoms: np.ndarray
    _tree: shapely.STRtree | None = field(default=None, repr=False)

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Layer:
        return cls(frame["code"].to_numpy(dtype=object),
                   frame["parent_code"].to_numpy(dtype=object),
                   frame["geom"].to_numpy(dtype=object))

    def tree(self) -> shapely.STRtree:
        if self._tree is None:
            self._tree = shapely.STRtree(self.geoms)
        return self._tree

    def touching(self, geoms: np.ndarray) -> np.ndarray:
        """Positions of the areas intersecting any of `geoms`."""
        if not len(self.codes) or not len(geoms):
            return np.empty(0, dtype=np.int64)
        return np.unique(self.tree().query(geoms, predicate="intersects")[1])


@dataclass
class Plan:
    """What publishing `draft` moves. `households`/`cases` hold only rows whose grid, group
    or chain changes; codes are as stored now (`old_*`) and as they will be (`new_*`)."""

    draft: int
    base: int | None
    households: pd.DataFrame
    cases: pd.DataFrame
    regroup: dict[str, str]  # group code -> its new parent grid (draft rows to rewrite)
    groups: list[tuple[str, str | None, str | None]]  # (group, old grid, new grid)
    successors: dict[str, str]  # removed grid/group code -> the area that took most of it
    workers: list[tuple[str, str, str | None, str | None]]  # (worker, area, old grid, new grid)
    changed: set[str] = field(default_factory=set)  # codes whose outline changed or went


def draft_row(conn: sa.Connection, draft: int) -> sa.Row:
    """The draft's row; 404 `unknown_version` for anything that is not a draft."""
    row = conn.execute(sa.select(boundary_versions).where(
        boundary_versions.c.id == draft)).first()
    if row is None or row.state != "draft":
        raise NotFound(f"no draft {draft}", "id", code="unknown_version")
    return row


def _frame(conn: sa.Connection, where: sa.ColumnElement[bool]) -> pd.DataFrame:
    rows = conn.execute(sa.select(areas.c.id, areas.c.code, areas.c.level,
                                  areas.c.parent_code, wkb(conn, areas.c.geom))
                        .where(where, areas.c.level.in_(PLACED))).all()
    frame = columns(rows, ["id", "code", "level", "parent_code", "wkb"])
    frame["geom"] = from_wkb(frame.pop("wkb")) if len(frame) else []
    return frame


def directory(conn: sa.Connection, version: int) -> dict[str, str | None]:
    """code -> parent code of every area of a version (chains without geometry)."""
    return dict(conn.execute(sa.select(areas.c.code, areas.c.parent_code)
                             .where(rows_in(conn, version))).all())


def chain_of(parents: dict[str, str | None], code: str | None) -> list[str]:
    out: list[str] = []
    while code and code in parents and len(out) < len(LEVELS):
        out.append(code)
        code = parents[code]
    return out


def _majority(geoms: np.ndarray, layer: Layer, current: np.ndarray | None = None
              ) -> np.ndarray:
    """For each geometry, the code of the area of `layer` covering most of it (None when
    none does); its `current` area when that covers as much (a tie changes nothing)."""
    out = np.full(len(geoms), None, dtype=object)
    if not len(geoms) or not len(layer.codes):
        return out
    tree = layer.tree()
    at, hit = tree.query(geoms, predicate="intersects")
    if not len(at):
        return out
    # One area covering the whole geometry settles it without clipping (the usual case).
    inside_at, inside_hit = tree.query(geoms, predicate="covered_by")
    alone = np.bincount(inside_at, minlength=len(geoms)) == 1
    out[inside_at[alone[inside_at]]] = layer.codes[inside_hit[alone[inside_at]]]
    rest = ~alone[at]
    at, hit = at[rest], hit[rest]
    if not len(at):
        return out
    share = shapely.area(shapely.intersection(geoms[at], layer.geoms[hit]))
    if current is not None:  # the current area first among equals
        share = share + 1e-9 * (layer.codes[hit] == current[at]) * share.max()
    order = np.lexsort((-share, at))  # per geometry, the largest share first
    at, hit, share = at[order], hit[order], share[order]
    first = np.r_[True, at[1:] != at[:-1]] & (share > 0)
    out[at[first]] = layer.codes[hit[first]]
    return out


def _points(conn: sa.Connection, table: sa.Table, where: sa.ColumnElement[bool],
            cols: list[sa.ColumnElement[Any]], lock: bool) -> pd.DataFrame:
    q = sa.select(*cols).where(where)
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update(of=table)
    # The driver's tuples as they are: the columns need no conversion (plain values and
    # WKB bytes), and making a Row of each of 50,000 costs a third of a preview.
    return columns(conn.execute(q).cursor.fetchall(), [c.key for c in cols])


def plan_moves(conn: sa.Connection, draft: int, *, lock: bool = False) -> Plan:
    """Plan what publishing `draft` would move (see the module). `lock`: lock the open
    cases read (publishing, on PostgreSQL) so no workflow step slips in between."""
    row = draft_row(conn, draft)
    removed_ids = sa.select(version_removals.c.area_id).where(
        version_removals.c.version_id == draft)
    base = _frame(conn, valid_in(row.base_version)) if row.base_version else _frame(
        conn, sa.false())
    own = _frame(conn, areas.c.version_from == draft)
    gone = set(conn.execute(removed_ids).scalars())
    kept = base[~base["id"].isin(gone)]
    new = pd.concat([kept, own], ignore_index=True)
    old_dir = directory(conn, row.base_version) if row.base_version else {}
    new_dir = dict(old_dir)  # the draft's: the base less what it removes, plus its own
    for code in conn.execute(sa.select(areas.c.code).where(areas.c.id.in_(removed_ids))
                             ).scalars():
        new_dir.pop(code, None)
    new_dir |= dict(conn.execute(sa.select(areas.c.code, areas.c.parent_code).where(
        areas.c.version_from == draft)).all())

    layers_old = {lv: base[base.level == lv] for lv in PLACED}
    layers_new = {lv: new[new.level == lv] for lv in PLACED}
    touched: dict[str, np.ndarray] = {}  # per level, the changed outlines, old and new
    changed: set[str] = set()
    for lv in PLACED:
        before = base[(base.level == lv) & base["id"].isin(gone)].set_index("code")
        after = own[own.level == lv].set_index("code")
        both = before.index.intersection(after.index)
        same = pd.Series(False, index=both)
        if len(both):
            same[:] = shapely.equals_exact(before.loc[both, "geom"].to_numpy(),
                                           after.loc[both, "geom"].to_numpy(), 0.0)
        moved_old = before[~before.index.isin(same[same].index)]
        moved_new = after[~after.index.isin(same[same].index)]
        changed |= set(moved_old.index) | set(moved_new.index)
        touched[lv] = np.concatenate([moved_old["geom"].to_numpy(dtype=object),
                                      moved_new["geom"].to_numpy(dtype=object)])

    grids_old, groups_old = Layer.of(layers_old["grid"]), Layer.of(layers_old["group"])
    grids_new, groups_new = Layer.of(layers_new["grid"]), Layer.of(layers_new["group"])
    # A point's grid can change only under a changed grid outline: the base grids those
    # reach hold the candidates; the draft's grids around them can take them. Groups alike.
    near_grids = grids_old.touching(touched["grid"])
    near_groups = groups_old.touching(touched["group"])
    local_grids = grids_new.touching(np.concatenate([grids_old.geoms[near_grids],
                                                     touched["grid"]]))
    local_groups = groups_new.touching(np.concatenate([groups_old.geoms[near_groups],
                                                       touched["group"]]))
    placed = any(conn.execute(sa.select(t.c.grid_code).limit(1)).first()
                 for t in (households, reports))  # nothing to place: no index to build
    grid_index = GridIndex(grids_new.codes[local_grids], grids_new.geoms[local_grids],
                           draft, "grid", raster=False) if placed and len(
        touched["grid"]) else None
    group_index = GridIndex(groups_new.codes[local_groups], groups_new.geoms[local_groups],
                            draft, "group", raster=False) if placed and len(
        touched["group"]) else None
    # Groups may change grid where grids changed: the draft's groups around those.
    local_groups_g = groups_new.touching(np.concatenate([grids_old.geoms[near_grids],
                                                         touched["grid"]]))

    # Groups: each group near a change belongs to the grid covering most of it.
    local = Layer(grids_new.codes[local_grids], grids_new.parents[local_grids],
                  grids_new.geoms[local_grids])
    grid_set = {str(c) for c in grids_new.codes}
    around = np.union1d(local_groups, local_groups_g)
    doubtful = around[np.array([row.base_version is not None and (
        c in changed or p in changed or p not in grid_set) for c, p in zip(
        groups_new.codes[around], groups_new.parents[around], strict=True)],
        dtype=bool)]
    majority = _majority(groups_new.geoms[doubtful], local,
                         groups_new.parents[doubtful])
    regroup = {str(c): str(m) for c, p, m in zip(
        groups_new.codes[doubtful], groups_new.parents[doubtful], majority,
        strict=True) if m is not None and m != p}
    for code, parent in regroup.items():
        new_dir[code] = parent
    old_parent = dict(zip(groups_old.codes, groups_old.parents, strict=True))
    groups = [(c, old_parent[c], p) for c, p in regroup.items()
              if c in old_parent and old_parent[c] != p]
    groups += [(c, old_parent[c], new_dir[c]) for c in
               {str(c) for c in groups_new.codes} - set(regroup)
               if c in old_parent and old_parent[c] != new_dir.get(c)]

    # What took over each removed grid and group (their workers follow).
    successors: dict[str, str] = {}
    for old, lay, idx in ((grids_old, grids_new, local_grids),
                          (groups_old, groups_new, local_groups)):
        gone_codes = np.array([c not in new_dir for c in old.codes], dtype=bool)
        if gone_codes.any():
            sub = Layer(lay.codes[idx], lay.parents[idx], lay.geoms[idx])
            for code, took in zip(old.codes[gone_codes], _majority(old.geoms[gone_codes], sub),
                                  strict=True):
                if took is not None:
                    successors[str(code)] = str(took)

    grid_codes = sorted({str(c) for c in grids_old.codes[near_grids]})
    group_codes = sorted({str(c) for c in groups_old.codes[near_groups]})
    rechained = sorted(c for c in (set(grids_old.codes) & set(grids_new.codes))
                       if chain_of(old_dir, c) != chain_of(new_dir, c))

    def near(table: sa.Table, *extra: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
        where = [table.c.grid_code.in_(grid_codes), table.c.group_code.in_(group_codes),
                 *extra]
        if grid_index is not None:
            where.append(table.c.grid_code.is_(None))
        if group_index is not None:
            where.append(table.c.group_code.is_(None))
        return sa.or_(*where)

    hh = _points(conn, households, near(households),
                 [households.c.id, households.c.code, households.c.grid_code,
                  households.c.group_code, wkb(conn, households.c.geom).label("wkb")], False)
    pts = from_wkb(hh.pop("wkb")) if len(hh) else np.empty(0, dtype=object)
    hh["lon"], hh["lat"] = shapely.get_x(pts), shapely.get_y(pts)
    hh = _place(hh, grid_index, group_index, grid_codes, group_codes, new_dir)

    cs = _points(conn, reports, sa.and_(reports.c.status.in_(sorted(OPEN)),
                                        near(reports, reports.c.grid_code.in_(rechained))),
                 [reports.c.seq, reports.c.id, reports.c.lon, reports.c.lat,
                  reports.c.grid_code, reports.c.group_code, reports.c.owner_level,
                  reports.c.owner_code, *(reports.c[f"{lv}_code"] for lv in CHAIN)], lock)
    if grid_index is not None and len(cs):  # a case's group follows its grid (intake's rule)
        group_index = group_index or GridIndex(groups_new.codes[around],
                                               groups_new.geoms[around], draft, "group",
                                               raster=False)
        group_codes = sorted(set(group_codes) | {str(c) for c in groups_old.codes[
            groups_old.touching(grids_old.geoms[near_grids])]})
    cs = _place(cs, grid_index, group_index, grid_codes, group_codes, new_dir, cases=True)

    # Workers: of a removed area (they follow its successor), or of a group that changes grid.
    grid_of_old = {**{str(c): str(c) for c in grids_old.codes},
                   **{str(c): p for c, p in zip(groups_old.codes, groups_old.parents,
                                                strict=True)}}
    levels_new = {str(c): "grid" for c in grids_new.codes} | {
        str(c): "group" for c in groups_new.codes}
    watched = set(successors) | {g for g, _, _ in groups}
    wk = conn.execute(sa.select(workers.c.code, worker_areas.c.area_code)
                      .join(worker_areas, worker_areas.c.worker_id == workers.c.id)
                      .where(worker_areas.c.area_code.in_(sorted(watched)))).all()
    moved_workers = []
    for code, area in wk:
        to_area = successors.get(area, area)
        to_grid = to_area if levels_new.get(to_area) == "grid" else new_dir.get(to_area)
        if grid_of_old.get(area) != to_grid or to_area != area:
            moved_workers.append((code, area, grid_of_old.get(area), to_grid))
    return Plan(draft, row.base_version, hh, cs, regroup, groups, successors, moved_workers,
                changed)


def _place(frame: pd.DataFrame, grids: GridIndex | None, groups: GridIndex | None,
           grid_codes: list[str], group_codes: list[str], parents: dict[str, str | None],
           *, cases: bool = False) -> pd.DataFrame:
    """Each row's new grid and group, looked up only where a change can reach it (and for
    cases the chain, and no group outside its grid); only the rows that change."""
    lon, lat = frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)
    for col, index, near in (("grid", grids, grid_codes), ("group", groups, group_codes)):
        old = frame[f"{col}_code"].to_numpy(dtype=object)
        new = old.copy()
        if index is not None:
            ask = np.flatnonzero(pd.isna(old) | np.isin(old.astype(str), near))
            new[ask] = index.codes_of(index.assign(lon[ask], lat[ask]))
        frame[f"new_{col}"] = _objects(frame, new)
    if cases:  # a case's group must lie in its grid (intake's rule)
        wrong = [g is not None and parents.get(g) != gr
                 for g, gr in zip(frame["new_group"], frame["new_grid"], strict=True)]
        groups_kept = frame["new_group"].to_numpy(dtype=object, copy=True)
        groups_kept[np.array(wrong, dtype=bool)] = None
        frame["new_group"] = _objects(frame, groups_kept)
    for col in ("grid", "group"):
        frame[f"{col}_code"] = _objects(frame, frame[f"{col}_code"])
    moved = _differs(frame["new_grid"], frame["grid_code"]) | _differs(
        frame["new_group"], frame["group_code"])
    if cases:
        chains = [chain_of(parents, g)[1:][::-1] if g is not None else []
                  for g in frame["new_grid"]]
        for k, lv in enumerate(CHAIN):  # in no grid a case keeps the chain it was routed to
            kept = frame[f"{lv}_code"].to_numpy(dtype=object)
            frame[f"new_{lv}"] = _objects(frame, [c[k] if len(c) == len(CHAIN) else kept[i]
                                                  for i, c in enumerate(chains)])
            frame[f"{lv}_code"] = _objects(frame, kept)
            moved |= _differs(frame[f"new_{lv}"], kept)
    return frame[moved].reset_index(drop=True)


def impact(conn: sa.Connection, draft: int, *, role: str, scope: Scope = EVERYTHING,
           max_features: int = 5000) -> dict[str, Any]:
    """The impact preview: counts of what changes grid, per (from → to), and the moved
    points as GeoJSON (households by code only, at the precision `role` may see; cases by
    id), at most `max_features`."""
    plan = plan_moves(conn, draft)
    check_scope(conn, plan, scope)
    return summary(plan, role=role, max_features=max_features)


def check_scope(conn: sa.Connection, plan: Plan, scope: Scope) -> None:
    """A scoped token may preview or publish only a draft whose every change lies in its
    area (in the base version or in the draft)."""
    if scope.area is None:
        return
    old_dir = directory(conn, plan.base) if plan.base else {}
    new_dir = directory(conn, plan.draft)
    codes = set(plan.changed) | set(plan.regroup)
    codes |= {c for m in (plan.households, plan.cases) for col in ("grid_code", "new_grid")
              for c in m[col] if c is not None} if len(plan.households) + len(plan.cases) else set()
    for code in codes:
        if scope.area not in chain_of(old_dir, code) + chain_of(new_dir, code):
            raise scope.refusal("id")


def summary(plan: Plan, *, role: str, max_features: int) -> dict[str, Any]:
    hh, cs = plan.households, plan.cases
    hh_moved = hh[_differs(hh["grid_code"], hh["new_grid"])]
    cs_moved = cs[_differs(cs["grid_code"], cs["new_grid"])]
    pairs = pd.concat([
        pd.DataFrame({"from": hh_moved["grid_code"], "to": hh_moved["new_grid"],
                      "kind": "households"}),
        pd.DataFrame({"from": cs_moved["grid_code"], "to": cs_moved["new_grid"],
                      "kind": "open_cases"}),
        pd.DataFrame([(a, b, "groups") for _, a, b in plan.groups],
                     columns=["from", "to", "kind"]),
        pd.DataFrame([(a, b, "workers") for _, _, a, b in plan.workers if a != b],
                     columns=["from", "to", "kind"])], ignore_index=True)
    kinds = ("households", "groups", "workers", "open_cases")
    counts = (pairs.fillna({"from": "", "to": ""}).groupby(["from", "to", "kind"]).size()
              .unstack("kind", fill_value=0).reindex(columns=kinds, fill_value=0)
              if len(pairs) else pd.DataFrame(columns=kinds))
    rows = [{"from": a or None, "to": b or None, **{k: int(n[k]) for k in kinds}}
            for (a, b), n in counts.iterrows()]
    digits = None if role in DOOR_ROLES else 3
    feats: list[dict[str, Any]] = []
    for kind, frame, key in (("household", hh_moved, "code"), ("case", cs_moved, "id")):
        for ident, lon, lat, a, b in zip(frame[key], frame["lon"], frame["lat"],
                                         frame["grid_code"], frame["new_grid"], strict=True):
            if len(feats) >= max_features:
                break
            x, y = (float(lon), float(lat)) if digits is None else (
                round(float(lon), digits), round(float(lat), digits))
            feats.append({"type": "Feature", "geometry": {"type": "Point",
                                                          "coordinates": [x, y]},
                          "properties": {"kind": kind, "id": str(ident), "from": a, "to": b}})
    return {"draft": plan.draft, "base_version": plan.base,
            "households": len(hh_moved), "groups": len(plan.groups),
            "workers": sum(1 for _, _, a, b in plan.workers if a != b),
            "open_cases": len(cs_moved),
            "group_only": {"households": len(hh) - len(hh_moved),
                           "open_cases": len(cs) - len(cs_moved)},
            "changed_areas": sorted(plan.changed),
            "moves": rows,
            "features": {"type": "FeatureCollection", "features": feats},
            "features_truncated": len(hh_moved) + len(cs_moved) > len(feats)}
