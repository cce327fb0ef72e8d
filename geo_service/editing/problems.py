"""Validating a draft as the import CLI does (`boundaries.validate`), around what changed.

Why only around the change: one edit touches a few areas, and validating their parents'
children (siblings overlap, outside the parent, gaps in it) finds every problem the edit
could have made while staying fast (a township of ~30 grids well under 200 ms). Each
problem names the feature's own code and its index among the areas validated (ordered by
code, as the draft's export lists them), and carries the shape to draw in red.
"""

from __future__ import annotations

from typing import Any

import shapely
import sqlalchemy as sa

from boundaries.levels import LEVELS, parent_level
from boundaries.validate import validate_areas
from geo_service.editing.states import frame
from geo_service.store.tables import areas, version_removals


def validate_parents(conn: sa.Connection, draft: int, base: int | None, level: str,
                     parents: set[str | None], tolerance_m: float) -> list[dict[str, Any]]:
    """Problems of the `level` areas whose parent is among `parents` (None: a level
    without parents, validated whole)."""
    named = {p for p in parents if p is not None}
    up = parent_level(level)
    if up is None:
        children, parent_frame = frame(conn, draft, base, level=level), None
    elif not named:
        return []
    else:
        children = frame(conn, draft, base, level=level, parents=named)
        parent_frame = frame(conn, draft, base, level=up, codes=named)
    if children.empty:
        return []
    _, report = validate_areas(children.drop(columns="changed"), level=level,
                               parents=parent_frame, tolerance_m=tolerance_m)
    geoms = dict(zip(children["code"], children.geometry, strict=True))
    pgeoms = ({} if parent_frame is None else
              dict(zip(parent_frame["code"], parent_frame.geometry, strict=True)))
    out = []
    for p in report.problems:
        d = p.detail
        code = p.feature_code if p.index is not None else d.get("parent_code")
        item: dict[str, Any] = {"code": code, "index": p.index, "kind": p.code,
                                "level": level, "fatal": p.fatal, "message": p.message,
                                "geometry": _shape(p.code, code, d, geoms, pgeoms)}
        if "area_m2" in d:
            item["area_m2"] = d["area_m2"]
        if "other_code" in d:
            item["other_code"] = d["other_code"]
        out.append(item)
    return out


def _shape(kind: str, code: str | None, detail: dict[str, Any], geoms: dict[str, Any],
           pgeoms: dict[str, Any]) -> dict[str, Any] | None:
    """What to draw for a problem: the overlap, the part outside, the gap, the feature."""
    own = geoms.get(code) if code else None
    shape = None
    try:
        if kind == "overlap" and own is not None and detail.get("other_code") in geoms:
            shape = shapely.intersection(own, geoms[detail["other_code"]])
        elif kind == "outside_parent" and own is not None and \
                detail.get("parent_code") in pgeoms:
            shape = shapely.difference(own, pgeoms[detail["parent_code"]])
        elif kind == "gap" and code in pgeoms:
            kids = [g for c, g in geoms.items() if g is not None]
            shape = shapely.difference(pgeoms[code], shapely.union_all(kids))
        elif own is not None:
            shape = own
    except shapely.errors.GEOSException:  # an invalid feature: draw the feature itself
        shape = own
    if shape is None or shape.is_empty:
        return None
    return shapely.geometry.mapping(shape)


def changed_parents(conn: sa.Connection, draft: int) -> dict[str, set[str | None]]:
    """Per level, the parents of every area the draft adds, changes or removes (old and
    new parents alike): where its problems can be."""
    removed = sa.select(version_removals.c.area_id).where(version_removals.c.version_id == draft)
    rows = conn.execute(sa.select(areas.c.level, areas.c.parent_code).where(
        sa.or_(areas.c.version_from == draft, areas.c.id.in_(removed))).distinct()).all()
    out: dict[str, set[str | None]] = {}
    for level, parent in rows:
        out.setdefault(level, set()).add(parent)
    # what a removed area leaves behind below it (children without a parent)
    for level, code in conn.execute(sa.select(areas.c.level, areas.c.code).where(
            areas.c.id.in_(removed))).all():
        if level in LEVELS[:-1]:
            out.setdefault(LEVELS[LEVELS.index(level) + 1], set()).add(code)
    return out


def draft_problems(conn: sa.Connection, draft: int, base: int | None,
                   tolerance_m: float) -> list[dict[str, Any]]:
    """Every problem where the draft changed something."""
    out: list[dict[str, Any]] = []
    for level, parents in sorted(changed_parents(conn, draft).items()):
        out += validate_parents(conn, draft, base, level, parents, tolerance_m)
    return out
