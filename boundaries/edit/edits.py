"""The edits of one level: reshape, add, move_vertex, split, merge, delete.

Why: each is one planner's gesture in the editor, answered with an `Edit` that keeps a
valid tessellation valid (see `boundaries.edit`).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from shapely import LineString, MultiPolygon
from shapely.geometry.base import BaseGeometry

from boundaries.validate import AREA_EPSILON_M2, texts

from .frame import (
    EDGE_M,
    SLIVER_M2,
    WELD_M,
    Frame,
    finite_input,
    give_away,
    is_sliver,
    parts,
    polygon_input,
    polygonal,
    result,
    same,
    shared_length,
    snap,
    snap_point,
    weld,
)
from .result import Edit, EditRefused


def reshape(layer: gpd.GeoDataFrame, code: str, geom: BaseGeometry, *, snap_m: float = 2.0,
            sliver_m2: float = SLIVER_M2, parent: BaseGeometry | None = None) -> Edit:
    """A new outline for `code`: snapped to its neighbours (and to its old outline, where
    it has no neighbour, e.g. along the village's edge), who lose what it now covers;
    each piece it gave up goes to the sibling sharing the longest border with that piece
    (none: it is left as a gap); the parts of any changed area that are slivers (under
    sliver_m2, or narrower than snap_m on average) go to the sibling they share the
    longest border with (none: they stay). With the `parent`'s outline, the new outline
    also snaps to it and is clipped to it (a grid cannot leave its village by a slip)."""
    geom = polygon_input(geom)
    frame = Frame(layer, geom)
    i = frame.index(code)
    new = _drawn(frame, geom, snap_m, parent)
    old = frame.m[i] if frame.m[i] is not None else MultiPolygon()
    shapes: dict[int, BaseGeometry] = {}
    for j, g in enumerate(frame.m):
        if j != i and g is not None and shapely.intersects(g, new):
            cut = polygonal(shapely.difference(g, new))
            if not same(cut, g):
                shapes[j] = cut
    shapes[i] = new
    current = {j: g for j, g in enumerate(frame.m) if g is not None} | shapes
    covered = shapely.union_all([g for g in current.values() if not g.is_empty])
    freed = polygonal(shapely.difference(old, covered))
    pieces = [(p, i, False) for p in parts(freed) if p.area > AREA_EPSILON_M2]
    for j in list(shapes):
        pieces_j = parts(shapes[j])
        thin = [p for p in pieces_j if is_sliver(p, snap_m, sliver_m2)]
        if thin:
            shapes[j] = polygonal(shapely.union_all([p for p in pieces_j if p not in thin]))
            current[j] = shapes[j]
            pieces += [(p, j, True) for p in thin]
    give_away(pieces, current, frame)
    for j in list(current):
        if j in shapes or not same(current[j], frame.m[j]):
            shapes[j] = current[j]
    if shapes[i].is_empty:
        raise EditRefused(f"the new outline of {code} leaves it no area", "geometry")
    return result(frame, shapes, set())


def add(layer: gpd.GeoDataFrame, code: str, geom: BaseGeometry, *, name: str,
        parent_code: str, snap_m: float = 2.0, parent: BaseGeometry | None = None) -> Edit:
    """A new area, snapped to its neighbours (and clipped to `parent`'s outline when it is
    given); it does not cut them (an overlap stays, for the validation to report)."""
    geom = polygon_input(geom)
    frame = Frame(layer, geom)
    if code in frame.pos:
        raise EditRefused(f"there is already an area {code}", "code")
    new = _drawn(frame, geom, snap_m, parent)
    if new.is_empty:
        raise EditRefused(f"the new area lies outside its parent {parent_code}", "geometry")
    at = len(frame.codes)
    frame.codes.append(code)
    frame.parents.append(parent_code)
    edit = result(frame, {at: new}, set(), {code: {"name": name, "parent_code": parent_code}})
    return edit


def _drawn(frame: Frame, geom: BaseGeometry, snap_m: float,
           parent: BaseGeometry | None) -> MultiPolygon:
    """A drawn outline in metres, snapped to the layer's areas (and the parent's outline),
    clipped to the parent."""
    others = list(frame.m)
    outline = None
    if parent is not None:
        outline = polygonal(frame.to_m(np.array([polygon_input(parent, "parent")]))[0])
        others.append(outline)
    new = snap(frame.to_m(np.array([geom]))[0], others, snap_m)
    if outline is not None:
        new = polygonal(shapely.intersection(new, outline))
    return new


def move_vertex(layer: gpd.GeoDataFrame, at: tuple[float, float], to: tuple[float, float], *,
                snap_m: float = 2.0) -> Edit:
    """Move the vertex nearest `at` (lon, lat; within snap_m) to `to` in every area that
    has it, or has an edge passing through it (that edge gets the vertex first), so a
    shared corner moves for all its areas and no gap or overlap opens between them. `to`
    snaps to another area's vertex, else edge, within snap_m (closing a gap exactly)."""
    at_pt, to_pt = shapely.Point(at), shapely.Point(to)
    finite_input(at_pt, "at")
    finite_input(to_pt, "to")
    frame = Frame(layer, at_pt.buffer(1e-9), to_pt.buffer(1e-9))
    at_m = frame.measure.flat(at_pt)
    nearest: tuple[float, float] | None = None
    best = np.inf
    for g in frame.m:
        if g is None or not shapely.dwithin(g.boundary, at_m, snap_m):
            continue
        d = shapely.distance(shapely.points(shapely.get_coordinates(g)), at_m)
        k = int(np.argmin(d))
        if d[k] < best:
            best = float(d[k])
            nearest = tuple(shapely.get_coordinates(g)[k])
    if nearest is None or best > snap_m:
        raise EditRefused(f"no area has a vertex within {snap_m:g} m of {at}", "at")
    corner_m = shapely.Point(nearest)
    source = frame.degrees(nearest)
    sharing = [j for j, g in enumerate(frame.m)
               if g is not None and shapely.dwithin(g.boundary, corner_m, WELD_M)]
    to = snap_point(frame, to_pt, [frame.m[j] for j in range(len(frame.m))
                                    if j not in sharing], snap_m)
    shapes: dict[int, BaseGeometry] = {}
    tol = frame.deg_tolerance(WELD_M)
    for j in sharing:
        deg = polygonal(shapely.snap(frame.deg[j], shapely.Point(source), tol))  # T: add it
        coords = shapely.get_coordinates(deg)
        hit = np.all(coords == np.asarray(source), axis=1)
        if not hit.any():
            continue
        coords[hit] = to
        moved = shapely.remove_repeated_points(shapely.set_coordinates(deg, coords))
        if not moved.is_valid:
            raise EditRefused(f"moving the vertex to {to} makes {frame.codes[j]} cross itself "
                              f"({shapely.is_valid_reason(moved)})", "to")
        shapes[j] = polygonal(moved)
    welded = weld(frame, shapes)
    return Edit(changed={frame.codes[j]: g for j, g in welded.items()
                         if not same(g, frame.deg[j])})


def split(layer: gpd.GeoDataFrame, code: str, line: LineString, *, new_code: str,
          new_name: str, snap_m: float = 2.0) -> Edit:
    """Cut `code` in two along `line` (which must cross it from edge to edge; an end within
    snap_m of the edge is put on it); the larger piece keeps the code (with any part of a
    MultiPolygon the line does not touch), the other becomes `new_code` under the same
    parent."""
    if not isinstance(line, BaseGeometry) or line.geom_type != "LineString" or line.is_empty:
        raise EditRefused("a split needs a LineString crossing the area", "line")
    finite_input(line, "line")
    frame = Frame(layer, line.buffer(1e-9))
    i = frame.index(code)
    if new_code in frame.pos:
        raise EditRefused(f"there is already an area {new_code}", "new_code")
    area = frame.m[i]
    cut = frame.to_m(np.array([line]))[0]
    cut = shapely.snap(cut, area.boundary, snap_m)
    coords = shapely.get_coordinates(cut)
    ends = shapely.points(coords[[0, -1]])
    for k, e in zip((0, -1), ends, strict=True):  # an end within snap_m of the edge: on it
        if 0 < shapely.distance(e, area.boundary) <= snap_m:
            coords[k] = shapely.get_coordinates(shapely.shortest_line(e, area.boundary))[1]
    cut = shapely.set_coordinates(cut, coords)
    crossed = [p for p in parts(area) if shapely.intersects(p, cut)]
    rest = [p for p in parts(area) if not shapely.intersects(p, cut)]
    edges = shapely.union_all([p.boundary for p in crossed] + [cut])
    faces = shapely.get_parts(shapely.polygonize([edges])) if crossed else []
    inside = [f for f in faces
              if shapely.contains(area, shapely.point_on_surface(f)) and f.area > 0]
    if len(inside) != 2:
        how = ("does not cut it" if len(inside) <= 1 else f"cuts it into {len(inside)} pieces")
        raise EditRefused(f"the line {how}: draw one line crossing {code} from edge to edge, "
                          "cutting it in two", "line")
    big, small = sorted(inside, key=lambda f: -f.area)
    big = shapely.union_all([big, *rest])  # parts the line does not touch keep the code
    at = len(frame.codes)
    frame.codes.append(new_code)
    frame.parents.append(frame.parents[i])
    return result(frame, {i: big, at: small}, set(),
                   {new_code: {"name": new_name, "parent_code": frame.parents[i]}})


def merge(layer: gpd.GeoDataFrame, codes: list[str], into: str) -> Edit:
    """One area from neighbours that share an edge (and a parent), kept as `into`; the
    others are removed."""
    members = list(dict.fromkeys([*codes, into]))
    if len(members) < 2:
        raise EditRefused("a merge needs at least two areas", "codes")
    frame = Frame(layer)
    rows = [frame.index(c, "codes") for c in members]
    parents = {frame.parents[r] for r in rows}
    if len(parents) > 1:
        raise EditRefused(f"{', '.join(members)} belong to different parents "
                          f"({', '.join(sorted(str(p) for p in parents))})", "codes")
    linked = {rows[0]}
    while True:
        grow = {r for r in rows if r not in linked and any(
            shared_length(frame.m[r], [frame.m[s]])[0] > EDGE_M for s in linked)}
        if not grow:
            break
        linked |= grow
    alone = [frame.codes[r] for r in rows if r not in linked]
    if alone:
        raise EditRefused(f"{', '.join(alone)} shares no edge with "
                          f"{', '.join(frame.codes[r] for r in linked)}", "codes")
    union = shapely.union_all([frame.deg[r] for r in rows])
    whole = _fill_small_holes(frame, polygonal(union))
    keep = frame.pos[into]
    return Edit(changed={into: whole},
                removed=sorted(frame.codes[r] for r in rows if r != keep))


def _fill_small_holes(frame: Frame, geom: MultiPolygon) -> MultiPolygon:
    """Holes left only by floating-point noise along the old shared edges are filled."""
    polys = []
    for p in geom.geoms:
        holes = [r for r in p.interiors
                 if frame.measure.area(np.array([shapely.Polygon(r)]))[0] > AREA_EPSILON_M2]
        polys.append(shapely.Polygon(p.exterior, holes))
    return MultiPolygon(polys)


def delete(layer: gpd.GeoDataFrame, code: str) -> Edit:
    """Remove `code`; its place becomes a gap (the validation warns of it)."""
    codes = texts(layer, "code")
    if code not in codes:
        raise EditRefused(f"there is no area {code} in this layer", "code")
    return Edit(removed=[code])
