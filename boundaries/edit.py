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
    tree_codes = [i for i, g in current.items() if not g.is_empty]
    tree = shapely.STRtree([current[i] for i in tree_codes])
    for i in changed:
        for k in tree.query(current[i], predicate="dwithin", distance=tol):
            j = tree_codes[int(k)]
            if j == i:
                continue
            a, b = current[i], current[j]
            a2 = _polygonal(shapely.snap(a, b, tol))
            b2 = _polygonal(shapely.snap(b, a2, tol))
            for at, old, new in ((i, a, a2), (j, b, b2)):
                if not _same(new, old):
                    current[at] = out[at] = new
    return out


# --------------------------------------------------------------------------- shared borders


def _shared_length(piece: BaseGeometry, others: list[BaseGeometry]) -> np.ndarray:
    """Length (m) of `piece`'s boundary along each of `others` (metres)."""
    if not others:
        return np.zeros(0)
    grown = shapely.buffer(np.array(others, dtype=object), TOUCH_M, quad_segs=2)
    return shapely.length(shapely.intersection(piece.boundary, grown))


def _give_away(pieces: list[tuple[BaseGeometry, int]], shapes: dict[int, BaseGeometry],
               frame: _Frame, keep: set[int]) -> set[int]:
    """Each (piece, origin) goes to the sibling of its origin (same parent) that shares the
    longest border with it; a piece no sibling touches stays with its origin when the
    origin is in `keep`, else it is left as a gap. Returns the areas that grew."""
    grew: set[int] = set()
    for piece, origin in pieces:
        parent = frame.parents[origin]
        cands = [j for j, g in shapes.items()
                 if j != origin and frame.parents[j] == parent and not g.is_empty]
        lengths = _shared_length(piece, [shapes[j] for j in cands])
        if len(lengths) and lengths.max() > TOUCH_M:
            j = cands[int(np.argmax(lengths))]
        elif origin in keep:
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
    """A new outline for `code`: snapped to its neighbours, who lose what it now covers;
    each piece it gave up goes to the sibling sharing the longest border with that piece
    (none: it is left as a gap); slivers (under sliver_m2, or narrower than snap_m) go to
    the sibling they share the longest border with."""
    geom = _input(geom)
    frame = _Frame(layer, geom)
    i = frame.index(code)
    others = [g for j, g in enumerate(frame.m) if j != i]
    new = _snap(frame.to_m(np.array([geom]))[0], others, snap_m)
    old = frame.m[i] if frame.m[i] is not None else MultiPolygon()
    shapes: dict[int, BaseGeometry] = {}
    for j, g in enumerate(frame.m):
        if j != i and g is not None and shapely.intersects(g, new):
            cut = _polygonal(shapely.difference(g, new))
            if not _same(cut, g):
                shapes[j] = cut
    shapes[i] = new
    current = {j: g for j, g in enumerate(frame.m) if g is not None} | shapes
    pieces: list[tuple[BaseGeometry, int]] = []
    covered = shapely.union_all([g for g in current.values() if not g.is_empty])
    freed = _polygonal(shapely.difference(old, covered))
    pieces += [(p, i) for p in _parts(freed) if p.area > AREA_EPSILON_M2]
    for j in list(shapes):
        parts = _parts(shapes[j])
        thin = [p for p in parts if _is_sliver(p, snap_m, sliver_m2)]
        if thin:
            shapes[j] = _polygonal(shapely.union_all([p for p in parts if p not in thin]))
            current[j] = shapes[j]
            pieces += [(p, j) for p in thin]
    _give_away(pieces, current, frame, keep=set())
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
    shared corner moves for all its areas and no gap or overlap opens between them."""
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
    shapes: dict[int, BaseGeometry] = {}
    for j, g in enumerate(frame.m):
        if g is None or not shapely.dwithin(g.boundary, corner_m, WELD_M):
            continue
        deg = frame.deg[j]
        tol = frame.deg_tolerance(WELD_M)
        deg = _polygonal(shapely.snap(deg, shapely.Point(source), tol))  # T-junction: add it
        coords = shapely.get_coordinates(deg)
        hit = np.all(coords == np.asarray(source), axis=1)
        if not hit.any():
            continue
        coords[hit] = to
        moved = shapely.set_coordinates(deg, coords)
        if not moved.is_valid:
            raise EditRefused(f"moving the vertex to {to} makes {frame.codes[j]} cross itself "
                              f"({shapely.is_valid_reason(moved)})", "to")
        shapes[j] = _polygonal(moved)
    edit = Edit(changed={frame.codes[j]: g for j, g in _weld(frame, shapes).items()})
    return edit


def split(layer: gpd.GeoDataFrame, code: str, line: LineString, *, new_code: str,
          new_name: str, snap_m: float = 2.0) -> Edit:
    """Cut `code` in two along `line` (which must cross it from edge to edge); the larger
    part keeps the code, the other becomes `new_code` under the same parent."""
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
    faces = shapely.get_parts(shapely.polygonize([shapely.union(area.boundary, cut)]))
    inside = [f for f in faces
              if shapely.contains(area, shapely.point_on_surface(f)) and f.area > 0]
    if len(inside) != 2:
        how = ("does not cut it" if len(inside) <= 1 else f"cuts it into {len(inside)} pieces")
        raise EditRefused(f"the line {how}: draw one line crossing {code} from edge to edge, "
                          "cutting it in two", "line")
    big, small = sorted(inside, key=lambda f: -f.area)
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
    covers most of it and clipped to that grid. Returns only the groups whose parent_code
    or geometry changed; a group no grid touches is left as it is (not returned)."""
    if groups.crs is not None and groups.crs.to_epsg() != 4326:
        groups = groups.to_crs("EPSG:4326")
    if grids.crs is not None and grids.crs.to_epsg() != 4326:
        grids = grids.to_crs("EPSG:4326")
    gcodes = texts(grids, "code")
    gshapes = as_multipolygons(grids.geometry.to_numpy())[0]
    shapes = as_multipolygons(groups.geometry.to_numpy())[0]
    parents = texts(groups, "parent_code")
    measure = LocalMetres(shapes[~shapely.is_missing(shapes)],
                          gshapes[~shapely.is_missing(gshapes)])
    usable = np.flatnonzero(~shapely.is_missing(gshapes))
    tree = shapely.STRtree(gshapes[usable])
    left, right = tree.query(shapes, predicate="intersects")
    right = usable[right]
    shared = measure.area(shapely.intersection(shapes[left], gshapes[right]))
    keep: list[int] = []
    new_parent: list[str | None] = []
    new_shape: list[BaseGeometry] = []
    for g in np.unique(left):
        mine = np.flatnonzero(left == g)
        k = mine[int(np.argmax(shared[mine]))]
        if shared[k] <= AREA_EPSILON_M2:
            continue
        grid = gshapes[right[k]]
        shape = shapes[g]
        outside = measure.area(np.array([shapely.difference(shape, grid)]))[0]
        if outside > AREA_EPSILON_M2:
            shape = _polygonal(shapely.intersection(shape, grid))
        parent = gcodes[right[k]]
        if parent != parents[g] or shape is not shapes[g]:
            keep.append(int(g))
            new_parent.append(parent)
            new_shape.append(shape)
    out = groups.iloc[keep].copy()
    out["parent_code"] = new_parent
    return out.set_geometry(gpd.GeoSeries(new_shape, index=out.index, crs="EPSG:4326"),
                            crs="EPSG:4326")
