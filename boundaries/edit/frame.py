"""The ground every edit stands on: the layer in a metric plane, snapping, welding shared
vertices, and who takes a piece an area gave up.

Why: snapping and sliver tolerances are in metres, but the result must be exact in
degrees, where the lookup and the validation see it: `LocalMetres.flat` keeps straight
edges straight, and `Frame` remembers every input vertex so it comes back bit for bit.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from shapely import MultiPolygon
from shapely.geometry.base import BaseGeometry

from boundaries.units import metres_per_degree
from boundaries.validate import LocalMetres, as_multipolygons, texts

from .result import Edit, EditRefused

SLIVER_M2 = 10.0  # pieces smaller than this are slivers whatever their shape
WELD_M = 0.01  # a vertex this close to another area's edge is put into that edge
TOUCH_M = 0.01  # boundaries this close count as shared when measuring shared borders
EDGE_M = 1.0  # areas to merge must share a border at least this long (not just a corner)


class Frame:
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
        self.exact: dict[tuple[float, float], tuple[float, float]] = {}
        self.m = np.full(len(self.deg), None, dtype=object)
        if ok.any():
            self.m[ok] = self.to_m(self.deg[ok])
        for k in np.flatnonzero(ok & ~np.asarray(shapely.is_valid(self.m), dtype=bool)):
            self.m[k] = polygonal(self.m[k])  # overlays need valid shapes; work on a repair

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
            self.exact.setdefault((x, y), (lon, lat))
        return out

    def degrees(self, xy: tuple[float, float]) -> tuple[float, float]:
        """A metric point in degrees: the input vertex it came from, else converted."""
        known = self.exact.get((xy[0], xy[1]))
        if known is not None:
            return known
        back = self.measure.flat(shapely.Point(xy), inverse=True)
        return (float(back.x), float(back.y))

    def to_deg(self, geom: BaseGeometry) -> MultiPolygon:
        """A metric shape back in degrees, input vertices bit for bit, as a valid
        MultiPolygon (empty when nothing is left)."""
        geom = polygonal(geom)
        if geom.is_empty:
            return MultiPolygon()
        coords = shapely.get_coordinates(geom)
        back = shapely.get_coordinates(self.measure.flat(geom, inverse=True))
        for k, xy in enumerate(coords.tolist()):
            known = self.exact.get((xy[0], xy[1]))
            if known is not None:
                back[k] = known
        return polygonal(shapely.set_coordinates(geom, back))

    def deg_tolerance(self, metres: float) -> float:
        """Degrees covering `metres` in any direction around the data."""
        m_lon, m_lat = metres_per_degree(self.measure.centre[1])
        return metres / float(min(m_lon, m_lat))


def polygonal(geom: BaseGeometry | None) -> MultiPolygon:
    """The non-empty polygons of `geom`, made valid, as one MultiPolygon."""
    if geom is None or geom.is_empty:
        return MultiPolygon()
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    multi = as_multipolygons([geom])[0][0]
    return MultiPolygon() if multi is None else multi


def same(a: BaseGeometry | None, b: BaseGeometry | None) -> bool:
    """The same vertices in the same rings (whatever the orientation or starting point)."""
    if a is None or b is None:
        return a is b
    return bool(shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), 0))


def parts(geom: BaseGeometry) -> list[BaseGeometry]:
    return [] if geom.is_empty else list(shapely.get_parts(polygonal(geom)))


def is_sliver(piece: BaseGeometry, snap_m: float, sliver_m2: float) -> bool:
    """Too small (under sliver_m2) or too thin (mean width 2·area/perimeter under snap_m)."""
    area = piece.area
    return area < sliver_m2 or 2 * area / max(piece.length, 1e-12) < snap_m


def polygon_input(geom: BaseGeometry, fld: str = "geometry") -> MultiPolygon:
    """A drawn area as a valid MultiPolygon (a ring drawn across itself is made valid),
    or EditRefused naming `fld`."""
    if not isinstance(geom, BaseGeometry) or geom.geom_type not in ("Polygon", "MultiPolygon"):
        kind = getattr(geom, "geom_type", type(geom).__name__)
        raise EditRefused(f"expected a Polygon or MultiPolygon, got a {kind}", fld)
    finite_input(geom, fld)
    multi = polygonal(geom)
    if multi.is_empty:
        raise EditRefused("the geometry has no area", fld)
    return multi


def finite_input(geom: BaseGeometry, fld: str) -> None:
    """EditRefused unless every coordinate is a finite longitude/latitude."""
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        raise EditRefused("a coordinate is not a number", fld)
    if len(coords) and (np.abs(coords[:, 0]).max() > 180 or np.abs(coords[:, 1]).max() > 90):
        raise EditRefused("coordinates are not longitude/latitude (EPSG:4326)", fld)


# --------------------------------------------------------------------------- snapping


def snap(geom: BaseGeometry, others: list[BaseGeometry], snap_m: float) -> MultiPolygon:
    """`geom` (metres) with its vertices on the neighbours' vertices, else on their edges,
    within snap_m, and the neighbours' vertices near its edges put into them."""
    near = [o for o in others if o is not None and shapely.dwithin(o, geom, snap_m)]
    if snap_m <= 0 or not near:
        return polygonal(geom)
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
    return polygonal(snapped)


def weld(frame: Frame, shapes: dict[int, MultiPolygon]) -> dict[int, MultiPolygon]:
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
    return polygonal(shapely.snap(geom, shapely.multipoints(near), tol))


# --------------------------------------------------------------------------- shared borders


def shared_length(piece: BaseGeometry, others: list[BaseGeometry]) -> np.ndarray:
    """Length (m) of the others' boundaries (metres) along `piece`'s boundary."""
    if not others:
        return np.zeros(0)
    band = shapely.buffer(piece.boundary, TOUCH_M, quad_segs=2)
    edges = shapely.clip_by_rect(shapely.boundary(np.array(others, dtype=object)),
                                 *band.bounds)
    return shapely.length(shapely.intersection(edges, band))


def give_away(pieces: list[tuple[BaseGeometry, int, bool]],
              shapes: dict[int, BaseGeometry], frame: Frame) -> set[int]:
    """Each (piece, origin, keep) goes to the sibling of its origin (same parent) that
    shares the longest border with it; a piece no sibling touches stays with its origin
    when `keep`, else it is left as a gap. Returns the areas that grew."""
    grew: set[int] = set()
    for piece, origin, keep in pieces:
        parent = frame.parents[origin]
        cands = [j for j, g in shapes.items()
                 if j != origin and frame.parents[j] == parent and not g.is_empty]
        lengths = shared_length(piece, [shapes[j] for j in cands])
        if len(lengths) and lengths.max() > TOUCH_M:
            j = cands[int(np.argmax(lengths))]
        elif keep:
            j = origin
        else:
            continue
        shapes[j] = shapely.union(shapes[j], piece)
        grew.add(j)
    return grew


def result(frame: Frame, shapes_m: dict[int, BaseGeometry], removed: set[int],
           added: dict[str, dict] | None = None) -> Edit:
    """Metric shapes back in degrees, welded, as an Edit (empty shapes are removals)."""
    deg = {i: frame.to_deg(g) for i, g in shapes_m.items()}
    gone = {i for i, g in deg.items() if g.is_empty} | removed
    deg = weld(frame, {i: g for i, g in deg.items() if i not in gone})
    changed = {}
    for i, g in deg.items():
        old = frame.deg[i] if i < len(frame.deg) else None
        if not same(g, old):
            changed[frame.codes[i]] = g
    return Edit(changed=changed, removed=sorted(frame.codes[i] for i in gone),
                added=added or {})


def snap_point(frame: Frame, point: shapely.Point, others: list[BaseGeometry | None],
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
        return frame.degrees(xy)
    edges = shapely.union_all([g.boundary for g in near])
    if shapely.distance(edges, at) <= snap_m:
        on = shapely.get_coordinates(shapely.shortest_line(at, edges))[1]
        return _xy(frame.measure.flat(shapely.Point(on), inverse=True))
    return _xy(point)


def _xy(point: shapely.Point) -> tuple[float, float]:
    return (float(point.x), float(point.y))
