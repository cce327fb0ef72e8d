"""Editing one level's areas the way a grid planner draws: reshape, add, move a vertex,
split, merge, delete, and re-parenting the ten-household groups after their grids changed.

Why: a browser editor (Leaflet-Geoman) draws freehand, so an outline meant to follow a
neighbour's edge misses it by a metre, and moving a shared corner moves it for one grid
only. Each function here takes `layer` (a GeoDataFrame of ONE level with code, name, level,
parent_code, geometry in EPSG:4326: the areas in the editing scope and their neighbours)
and returns an `Edit` (what changed, what is gone, what is new) that keeps a valid
tessellation valid: drawn vertices snap to neighbours' vertices and edges within `snap_m`,
neighbours lose what a reshaped area now covers and take what it gave up, slivers narrower
than the snap tolerance are handed to a neighbour, and every vertex that lies on another
area's edge is put into that edge as well ("welding"), so shared edges stay shared. The
metric work happens in `boundaries.validate.LocalMetres.flat`, a plane in metres where
edges straight in degrees stay straight; vertices that were in the input come back bit for
bit, so untouched edges stay exactly what the lookup and the validation saw. Nothing here
writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import LineString, MultiPolygon
from shapely.geometry.base import BaseGeometry

from boundaries.errors import Unprocessable
from boundaries.units import metres_per_degree
from boundaries.validate import AREA_EPSILON_M2, LocalMetres, as_multipolygons, texts

SLIVER_M2 = 10.0  # pieces smaller than this are slivers whatever their shape
WELD_M = 0.01  # a vertex this close to another area's edge is put into that edge
TOUCH_M = 0.01  # boundaries this close count as shared when measuring shared borders
EDGE_M = 1.0  # areas to merge must share a border at least this long (not just a corner)


@dataclass
class Edit:
    """The outcome of one edit: new geometries (MultiPolygon, EPSG:4326) by code, including
    neighbours that followed; codes that no longer exist; name and parent of new areas."""

    changed: dict[str, BaseGeometry] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    added: dict[str, dict] = field(default_factory=dict)

    def apply(self, layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """`layer` after this edit (new areas last, with the layer's level), e.g. to
        validate it or to make the next edit on it."""
        codes = texts(layer, "code")
        keep = [c not in self.removed for c in codes]
        out = layer[keep].copy()
        kept = [c for c, k in zip(codes, keep, strict=True) if k]
        geoms = [self.changed.get(c, g) for c, g in zip(kept, out.geometry, strict=True)]
        out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=layer.crs))
        level = layer["level"].iloc[0] if "level" in layer.columns and len(layer) else None
        new = [{"code": c, "level": level, **self.added[c], out.geometry.name: g}
               for c, g in self.changed.items() if c in self.added]
        if not new:
            return out
        rows = gpd.GeoDataFrame(new, geometry=out.geometry.name, crs=layer.crs)
        return gpd.GeoDataFrame(pd.concat([out, rows], ignore_index=True),
                                geometry=out.geometry.name, crs=layer.crs)


class EditRefused(Unprocessable):
    """An edit that cannot be made as asked (unknown code, a line that does not cut the
    area in two, areas that do not touch); `field` names the input at fault."""

    default_code = "edit_refused"


# --------------------------------------------------------------------------- the frame


class _Frame:
    """The layer in a local metric frame: metric copies of every area, and a memory of the
    input vertices so that they come back to degrees exactly as they came in."""

    def __init__(self, layer: gpd.GeoDataFrame, *extra: BaseGeometry | None) -> None:
        if layer.crs is not None and layer.crs.to_epsg() != 4326:
            layer = layer.to_crs("EPSG:4326")
        self.layer = layer
        self.codes = texts(layer, "code")
        self.parents = texts(layer, "parent_code")
        self.pos = {c: i for i, c in enumerate(self.codes) if c is not None}
        self.deg, ok, _ = as_multipolygons(layer.geometry.to_numpy())
        more = np.array([g for g in extra if g is not None and not g.is_empty], dtype=object)
        self.measure = LocalMetres(self.deg[ok], more)
        if self.measure.centre is None:
            raise EditRefused("there is nothing to edit: no area and no geometry", "geometry")
        self._exact: dict[tuple[float, float], tuple[float, float]] = {}
        self.m = np.full(len(self.deg), None, dtype=object)
        if ok.any():
            self.m[ok] = self.to_m(self.deg[ok])
        for k in np.flatnonzero(ok & ~np.asarray(shapely.is_valid(self.m), dtype=bool)):
            self.m[k] = _polygonal(self.m[k])  # overlays need valid shapes; work on a repair

    def index(self, code: str, fld: str = "code") -> int:
        if code not in self.pos:
            raise EditRefused(f"there is no area {code} in this layer", fld)
        return self.pos[code]

    def to_m(self, geoms: np.ndarray) -> np.ndarray:
        """Shapes in metres; remembers where each vertex came from."""
        geoms = np.asarray(geoms, dtype=object)
        out = self.measure.flat(geoms)
        for (lon, lat), (x, y) in zip(shapely.get_coordinates(geoms).tolist(),
                                      shapely.get_coordinates(out).tolist(), strict=True):
            self._exact.setdefault((x, y), (lon, lat))
        return out

    def to_deg(self, geom: BaseGeometry) -> MultiPolygon:
        """A metric shape back in degrees, input vertices bit for bit, as a valid
        MultiPolygon (empty when nothing is left)."""
        geom = _polygonal(geom)
        if geom.is_empty:
            return MultiPolygon()
        coords = shapely.get_coordinates(geom)
        back = shapely.get_coordinates(self.measure.flat(geom, inverse=True))
        for k, xy in enumerate(coords.tolist()):
            known = self._exact.get((xy[0], xy[1]))
            if known is not None:
                back[k] = known
        return _polygonal(shapely.set_coordinates(geom, back))

    def deg_tolerance(self, metres: float) -> float:
        """Degrees covering `metres` in any direction around the data."""
        m_lon, m_lat = metres_per_degree(self.measure.centre[1])
        return metres / float(min(m_lon, m_lat))


def _polygonal(geom: BaseGeometry | None) -> MultiPolygon:
    """The non-empty polygons of `geom`, made valid, as one MultiPolygon."""
    if geom is None or geom.is_empty:
        return MultiPolygon()
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    multi = as_multipolygons([geom])[0][0]
    return MultiPolygon() if multi is None else multi


def _same(a: BaseGeometry | None, b: BaseGeometry | None) -> bool:
    """The same vertices in the same rings (whatever the orientation or starting point)."""
    if a is None or b is None:
        return a is b
    return bool(shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), 0))


def _parts(geom: BaseGeometry) -> list[BaseGeometry]:
    return [] if geom.is_empty else list(shapely.get_parts(_polygonal(geom)))


def _is_sliver(piece: BaseGeometry, snap_m: float, sliver_m2: float) -> bool:
    """Too small (under sliver_m2) or too thin (mean width 2·area/perimeter under snap_m)."""
    area = piece.area
    return area < sliver_m2 or 2 * area / max(piece.length, 1e-12) < snap_m


def _input(geom: BaseGeometry, fld: str = "geometry") -> MultiPolygon:
    if not isinstance(geom, BaseGeometry) or geom.geom_type not in ("Polygon", "MultiPolygon"):
        kind = getattr(geom, "geom_type", type(geom).__name__)
        raise EditRefused(f"expected a Polygon or MultiPolygon, got a {kind}", fld)
    multi = _polygonal(geom)
    if multi.is_empty:
        raise EditRefused("the geometry has no area", fld)
    return multi


# --------------------------------------------------------------------------- snapping


def _snap(geom: BaseGeometry, others: list[BaseGeometry], snap_m: float) -> MultiPolygon:
    """`geom` (metres) with its vertices on the neighbours' vertices, else on their edges,
    within snap_m, and the neighbours' vertices near its edges put into them."""
    near = [o for o in others if o is not None and shapely.dwithin(o, geom, snap_m)]
    if snap_m <= 0 or not near:
        return _polygonal(geom)
    edges = shapely.union_all([o.boundary for o in near])
    snapped = shapely.snap(geom, edges, snap_m)  # vertex to vertex, segment to vertex
    coords = shapely.get_coordinates(snapped)
    points = shapely.points(coords)
    dist = shapely.distance(points, edges)
    move = (dist > 0) & (dist <= snap_m)
    if move.any():
        lines = shapely.shortest_line(points[move], edges)
        coords[move] = shapely.get_coordinates(lines)[1::2]
        snapped = shapely.set_coordinates(snapped, coords)
    return _polygonal(snapped)


def _weld(frame: _Frame, shapes: dict[int, MultiPolygon]) -> dict[int, MultiPolygon]:
    """Put every vertex of a changed shape (degrees) that lies on another area's edge into
    that edge, both ways, so that a shared edge has the same vertices on both sides; areas
    that only gained vertices are returned too."""
    tol = frame.deg_tolerance(WELD_M)
    current = {i: g for i, g in enumerate(frame.deg) if g is not None}
    current.update(shapes)
    out = dict(shapes)
    changed = [i for i, g in shapes.items() if not g.is_empty]
    if not changed:
        return out
    keys = [i for i, g in current.items() if not g.is_empty]
    tree = shapely.STRtree([current[i] for i in keys])
    for i in changed:
        for k in tree.query(current[i], predicate="dwithin", distance=tol):
            j = keys[int(k)]
            if j == i:
                continue
            a, b = current[i], current[j]
            b2 = _insert_vertices(b, a, tol)
            a2 = _insert_vertices(a, b2, tol)
            for at, old, new in ((i, a, a2), (j, b, b2)):
                if new is not old:
                    current[at] = out[at] = new
    return out


def _insert_vertices(geom: MultiPolygon, other: MultiPolygon, tol: float) -> MultiPolygon:
    """`geom` with the vertices of `other` that lie within tol of its edges (and are not
    its vertices already) put into them; `geom` itself when there are none."""
    mine = shapely.get_coordinates(geom)
    theirs = np.unique(shapely.get_coordinates(other), axis=0)
    x0, y0, x1, y1 = geom.bounds
    theirs = theirs[(theirs[:, 0] >= x0 - tol) & (theirs[:, 0] <= x1 + tol)
                    & (theirs[:, 1] >= y0 - tol) & (theirs[:, 1] <= y1 + tol)]
    if not len(theirs):
        return geom
    known = {(x, y) for x, y in mine.tolist()}
    theirs = np.array([p for p in theirs.tolist() if (p[0], p[1]) not in known])
    if not len(theirs):
        return geom
    edges = geom.boundary
    shapely.prepare(edges)
    near = theirs[shapely.dwithin(edges, shapely.points(theirs), tol)]
    if not len(near):
        return geom
    return _polygonal(shapely.snap(geom, shapely.multipoints(near), tol))


# --------------------------------------------------------------------------- shared borders


def _shared_length(piece: BaseGeometry, others: list[BaseGeometry]) -> np.ndarray:
    """Length (m) of the others' boundaries (metres) along `piece`'s boundary."""
    if not others:
        return np.zeros(0)
    band = shapely.buffer(piece.boundary, TOUCH_M, quad_segs=2)
    edges = shapely.clip_by_rect(shapely.boundary(np.array(others, dtype=object)),
                                 *band.bounds)
    return shapely.length(shapely.intersection(edges, band))


def _give_away(pieces: list[tuple[BaseGeometry, int, bool]],
               shapes: dict[int, BaseGeometry], frame: _Frame) -> set[int]:
    """Each (piece, origin, keep) goes to the sibling of its origin (same parent) that
    shares the longest border with it; a piece no sibling touches stays with its origin
    when `keep`, else it is left as a gap. Returns the areas that grew."""
    grew: set[int] = set()
    for piece, origin, keep in pieces:
        parent = frame.parents[origin]
        cands = [j for j, g in shapes.items()
                 if j != origin and frame.parents[j] == parent and not g.is_empty]
        lengths = _shared_length(piece, [shapes[j] for j in cands])
        if len(lengths) and lengths.max() > TOUCH_M:
            j = cands[int(np.argmax(lengths))]
        elif keep:
            j = origin
        else:
            continue
        shapes[j] = shapely.union(shapes[j], piece)
        grew.add(j)
    return grew


def _result(frame: _Frame, shapes_m: dict[int, BaseGeometry], removed: set[int],
            added: dict[str, dict] | None = None) -> Edit:
    """Metric shapes back in degrees, welded, as an Edit (empty shapes are removals)."""
    deg = {i: frame.to_deg(g) for i, g in shapes_m.items()}
    gone = {i for i, g in deg.items() if g.is_empty} | removed
    deg = _weld(frame, {i: g for i, g in deg.items() if i not in gone})
    changed = {}
    for i, g in deg.items():
        old = frame.deg[i] if i < len(frame.deg) else None
        if not _same(g, old):
            changed[frame.codes[i]] = g
    return Edit(changed=changed, removed=sorted(frame.codes[i] for i in gone),
                added=added or {})


# --------------------------------------------------------------------------- the edits


def reshape(layer: gpd.GeoDataFrame, code: str, geom: BaseGeometry, *, snap_m: float = 2.0,
            sliver_m2: float = SLIVER_M2) -> Edit:
    """A new outline for `code`: snapped to its neighbours (and to its old outline, where
    it has no neighbour, e.g. along the village's edge), who lose what it now covers;
    each piece it gave up goes to the sibling sharing the longest border with that piece
    (none: it is left as a gap); the parts of any changed area that are slivers (under
    sliver_m2, or narrower than snap_m on average) go to the sibling they share the
    longest border with (none: they stay)."""
    geom = _input(geom)
    frame = _Frame(layer, geom)
    i = frame.index(code)
    new = _snap(frame.to_m(np.array([geom]))[0], list(frame.m), snap_m)
    old = frame.m[i] if frame.m[i] is not None else MultiPolygon()
    shapes: dict[int, BaseGeometry] = {}
    for j, g in enumerate(frame.m):
        if j != i and g is not None and shapely.intersects(g, new):
            cut = _polygonal(shapely.difference(g, new))
            if not _same(cut, g):
                shapes[j] = cut
    shapes[i] = new
    current = {j: g for j, g in enumerate(frame.m) if g is not None} | shapes
    covered = shapely.union_all([g for g in current.values() if not g.is_empty])
    freed = _polygonal(shapely.difference(old, covered))
    pieces = [(p, i, False) for p in _parts(freed) if p.area > AREA_EPSILON_M2]
    for j in list(shapes):
        parts = _parts(shapes[j])
        thin = [p for p in parts if _is_sliver(p, snap_m, sliver_m2)]
        if thin:
            shapes[j] = _polygonal(shapely.union_all([p for p in parts if p not in thin]))
            current[j] = shapes[j]
            pieces += [(p, j, True) for p in thin]
    _give_away(pieces, current, frame)
    for j in list(current):
        if j in shapes or not _same(current[j], frame.m[j]):
            shapes[j] = current[j]
    if shapes[i].is_empty:
        raise EditRefused(f"the new outline of {code} leaves it no area", "geometry")
    return _result(frame, shapes, set())


def add(layer: gpd.GeoDataFrame, code: str, geom: BaseGeometry, *, name: str,
        parent_code: str, snap_m: float = 2.0) -> Edit:
    """A new area, snapped to its neighbours; it does not cut them (an overlap stays, for
    the validation to report)."""
    geom = _input(geom)
    frame = _Frame(layer, geom)
    if code in frame.pos:
        raise EditRefused(f"there is already an area {code}", "code")
    new = _snap(frame.to_m(np.array([geom]))[0], list(frame.m), snap_m)
    at = len(frame.codes)
    frame.codes.append(code)
    frame.parents.append(parent_code)
    edit = _result(frame, {at: new}, set(), {code: {"name": name, "parent_code": parent_code}})
    return edit


def move_vertex(layer: gpd.GeoDataFrame, at: tuple[float, float], to: tuple[float, float], *,
                snap_m: float = 2.0) -> Edit:
    """Move the vertex nearest `at` (lon, lat; within snap_m) to `to` in every area that
    has it, or has an edge passing through it (that edge gets the vertex first), so a
    shared corner moves for all its areas and no gap or overlap opens between them. `to`
    snaps to another area's vertex, else edge, within snap_m (closing a gap exactly)."""
    at_pt, to_pt = shapely.Point(at), shapely.Point(to)
    frame = _Frame(layer, at_pt.buffer(1e-9), to_pt.buffer(1e-9))
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
    source = frame._exact.get(nearest, nearest)
    sharing = [j for j, g in enumerate(frame.m)
               if g is not None and shapely.dwithin(g.boundary, corner_m, WELD_M)]
    to = _snap_point(frame, to_pt, [frame.m[j] for j in range(len(frame.m))
                                    if j not in sharing], snap_m)
    shapes: dict[int, BaseGeometry] = {}
    tol = frame.deg_tolerance(WELD_M)
    for j in sharing:
        deg = _polygonal(shapely.snap(frame.deg[j], shapely.Point(source), tol))  # T: add it
        coords = shapely.get_coordinates(deg)
        hit = np.all(coords == np.asarray(source), axis=1)
        if not hit.any():
            continue
        coords[hit] = to
        moved = shapely.remove_repeated_points(shapely.set_coordinates(deg, coords))
        if not moved.is_valid:
            raise EditRefused(f"moving the vertex to {to} makes {frame.codes[j]} cross itself "
                              f"({shapely.is_valid_reason(moved)})", "to")
        shapes[j] = _polygonal(moved)
    edit = Edit(changed={frame.codes[j]: g for j, g in _weld(frame, shapes).items()})
    return edit


def _snap_point(frame: _Frame, point: shapely.Point, others: list[BaseGeometry | None],
                snap_m: float) -> tuple[float, float]:
    """`point` (degrees) on the nearest vertex of `others` within snap_m, else on the
    nearest point of their edges within snap_m, else where it is."""
    near = [g for g in others if g is not None]
    if snap_m <= 0 or not near:
        return (point.x, point.y)
    at = frame.measure.flat(point)
    vertices = shapely.points(np.unique(shapely.get_coordinates(near), axis=0))
    dist = shapely.distance(vertices, at)
    k = int(np.argmin(dist))
    if dist[k] <= snap_m:
        xy = (vertices[k].x, vertices[k].y)
        return frame._exact.get(xy) or _xy(frame.measure.flat(vertices[k], inverse=True))
    edges = shapely.union_all([g.boundary for g in near])
    if shapely.distance(edges, at) <= snap_m:
        on = shapely.get_coordinates(shapely.shortest_line(at, edges))[1]
        return _xy(frame.measure.flat(shapely.Point(on), inverse=True))
    return _xy(point)


def _xy(point: shapely.Point) -> tuple[float, float]:
    return (float(point.x), float(point.y))


def split(layer: gpd.GeoDataFrame, code: str, line: LineString, *, new_code: str,
          new_name: str, snap_m: float = 2.0) -> Edit:
    """Cut `code` in two along `line` (which must cross it from edge to edge; an end within
    snap_m of the edge is put on it); the larger piece keeps the code (with any part of a
    MultiPolygon the line does not touch), the other becomes `new_code` under the same
    parent."""
    if not isinstance(line, BaseGeometry) or line.geom_type != "LineString" or line.is_empty:
        raise EditRefused("a split needs a LineString crossing the area", "line")
    frame = _Frame(layer, line.buffer(1e-9))
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
    crossed = [p for p in _parts(area) if shapely.intersects(p, cut)]
    rest = [p for p in _parts(area) if not shapely.intersects(p, cut)]
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
    return _result(frame, {i: big, at: small}, set(),
                   {new_code: {"name": new_name, "parent_code": frame.parents[i]}})


def merge(layer: gpd.GeoDataFrame, codes: list[str], into: str) -> Edit:
    """One area from neighbours that share an edge (and a parent), kept as `into`; the
    others are removed."""
    members = list(dict.fromkeys([*codes, into]))
    if len(members) < 2:
        raise EditRefused("a merge needs at least two areas", "codes")
    frame = _Frame(layer)
    rows = [frame.index(c, "codes") for c in members]
    parents = {frame.parents[r] for r in rows}
    if len(parents) > 1:
        raise EditRefused(f"{', '.join(members)} belong to different parents "
                          f"({', '.join(sorted(str(p) for p in parents))})", "codes")
    linked = {rows[0]}
    while True:
        grow = {r for r in rows if r not in linked and any(
            _shared_length(frame.m[r], [frame.m[s]])[0] > EDGE_M for s in linked)}
        if not grow:
            break
        linked |= grow
    alone = [frame.codes[r] for r in rows if r not in linked]
    if alone:
        raise EditRefused(f"{', '.join(alone)} shares no edge with "
                          f"{', '.join(frame.codes[r] for r in linked)}", "codes")
    union = shapely.union_all([frame.deg[r] for r in rows])
    whole = _fill_small_holes(frame, _polygonal(union))
    keep = frame.pos[into]
    return Edit(changed={into: whole},
                removed=sorted(frame.codes[r] for r in rows if r != keep))


def _fill_small_holes(frame: _Frame, geom: MultiPolygon) -> MultiPolygon:
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


def regroup(groups: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Ten-household groups after their grids changed: each re-parented to the grid that
    covers most of it and clipped to that grid; then what a grid touched by those changes
    has left without a group goes to its group sharing the longest border with it (a
    household there must still fall in a group). Returns only the groups whose
    parent_code or geometry changed; a group no grid touches is left as it is."""
    groups = groups.to_crs("EPSG:4326") if groups.crs is not None else groups
    grids = grids.to_crs("EPSG:4326") if grids.crs is not None else grids
    gcodes = texts(grids, "code")
    gshapes = as_multipolygons(grids.geometry.to_numpy())[0]
    old = as_multipolygons(groups.geometry.to_numpy())[0]
    old_parents = texts(groups, "parent_code")
    if not len(old) or not len(gshapes):
        return groups.iloc[:0].copy()
    measure = LocalMetres(old[~shapely.is_missing(old)], gshapes[~shapely.is_missing(gshapes)])
    usable = np.flatnonzero(~shapely.is_missing(gshapes))
    tree = shapely.STRtree(gshapes[usable])
    left, right = tree.query(old, predicate="intersects")
    right = usable[right]
    shared = measure.area(shapely.intersection(old[left], gshapes[right]))
    shapes, parents = old.copy(), list(old_parents)
    changed: set[int] = set()
    for g in np.unique(left):
        mine = np.flatnonzero(left == g)
        k = mine[int(np.argmax(shared[mine]))]
        if shared[k] <= AREA_EPSILON_M2:
            continue
        grid = gshapes[right[k]]
        if measure.area(np.array([shapely.difference(old[g], grid)]))[0] > AREA_EPSILON_M2:
            shapes[g] = _polygonal(shapely.intersection(old[g], grid))
            changed.add(int(g))
        if gcodes[right[k]] != parents[g]:
            parents[g] = gcodes[right[k]]
            changed.add(int(g))
    touched = {old_parents[g] for g in changed} | {parents[g] for g in changed}
    if changed:
        at = np.array(sorted(changed))
        touched |= {gcodes[j] for j in usable[tree.query(old[at], predicate="intersects")[1]]}
    for j in usable:
        if gcodes[j] in touched:
            changed |= _fill_grid(gshapes[j], gcodes[j], shapes, parents, old, measure)
    rows = sorted(changed)
    out = groups.iloc[rows].copy()
    out["parent_code"] = [parents[g] for g in rows]
    return out.set_geometry(gpd.GeoSeries([shapes[g] for g in rows], index=out.index,
                                          crs="EPSG:4326"), crs="EPSG:4326")


def _fill_grid(grid: BaseGeometry, code: str | None, shapes: np.ndarray, parents: list,
               old: np.ndarray, measure: LocalMetres) -> set[int]:
    """The pieces of `grid` none of its groups covers (cut along the groups' old outlines,
    so a strip taken from two groups of a neighbour stays two pieces), each given to the
    group sharing the longest border with it (in `shapes`); returns the groups that grew."""
    kids = [g for g, p in enumerate(parents) if p == code and shapes[g] is not None]
    if not kids:
        return set()
    rest = _polygonal(shapely.difference(grid, shapely.union_all(shapes[kids])))
    if rest.is_empty:
        return set()
    cutters = [o for o in old if o is not None and shapely.intersects(o, rest)]
    pieces = [p for o in cutters for p in _parts(shapely.intersection(rest, o))]
    if cutters:
        pieces += _parts(shapely.difference(rest, shapely.union_all(cutters)))
    else:
        pieces = _parts(rest)
    grew: set[int] = set()
    for piece in pieces:
        if measure.area(np.array([piece]))[0] <= AREA_EPSILON_M2:
            continue
        lengths = _shared_length(measure.flat(piece),
                                 list(measure.flat(np.array([shapes[k] for k in kids]))))
        if lengths.max() > TOUCH_M:
            k = kids[int(np.argmax(lengths))]
            shapes[k] = _polygonal(shapely.union(shapes[k], piece))
            grew.add(k)
    return grew
