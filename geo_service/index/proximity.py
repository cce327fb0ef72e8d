"""Distances from points to a layer's polygons in metres: near-boundary (batch, single,
and the polygon cores behind the single path) and the nearest polygon.

Measured in a local metric CRS centred on the layer (`boundaries.crs`); degrees are turned
into metres with the shortest degree at the layer's highest latitude, so a box of ±`_deg`
degrees surely holds every point within that many metres.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import shapely
from shapely import STRtree

from boundaries.crs import distance_m, metric_transformer, to_metres
from boundaries.units import min_metres_per_degree
from geo_service.index import parallel
from geo_service.index.raster import _CellRaster
from geo_service.index.raster_build import _prepare_now

_EDGE_M = 1000.0  # the cores' longest edge in metres, before going back to degrees
_LOCAL_DEG = 10.0  # farther than this from the layer's centre, nearest() measures geodesically


def _origin(bounds: tuple[float, float, float, float]) -> tuple[float, float]:
    """Centre of the metric CRS: the middle of the layer's bounds."""
    x0, y0, x1, y1 = bounds
    return (x0 + x1) / 2, (y0 + y1) / 2


def in_metres(geoms: np.ndarray, bounds: tuple[float, float, float, float]) -> np.ndarray:
    """The polygons in the layer's metric CRS, halves on two cores (pyproj releases the
    GIL; a transformer is thread-safe, remade per thread)."""
    return parallel.elementwise(partial(to_metres, lon0=_origin(bounds)[0],
                                        lat0=_origin(bounds)[1]), geoms)


class Proximity:
    """A layer's polygons in metres, and the cores of each distance asked for; owned by
    its `GridIndex`, which answers the distance questions through it."""

    def __init__(self, geoms: np.ndarray, tree: STRtree, cells: _CellRaster | None,
                 bounds: tuple[float, float, float, float], max_cells: int,
                 geoms_m: np.ndarray | None) -> None:
        """`cells`: the layer's raster (None for a plain index); `max_cells`: the size of
        the cores' rasters; `geoms_m`: `in_metres(geoms, bounds)`, or None to make it on
        first use (a plain index, which may never measure a distance)."""
        self.geoms, self._tree, self._cells, self.bounds = geoms, tree, cells, bounds
        self._max_cells = max_cells
        self._origin = _origin(bounds)
        x0, y0, x1, y1 = bounds
        self._max_lat = float(min(max(abs(y0), abs(y1)), 89.0))
        self._m_per_deg = min_metres_per_degree(self._max_lat)  # the shortest degree here
        self._metric = geoms_m
        self._to_m = metric_transformer(float(self._origin[0]), float(self._origin[1]))
        self._core_cache: dict[float, tuple[np.ndarray, _CellRaster]] = {}
        # The shortest side of a cell in metres (0 when there is no raster).
        self._cell_m = self._cells.size * self._m_per_deg if self._cells else 0.0

    @property
    def _geoms_m(self) -> np.ndarray:
        """The polygons in metres (threads racing to make them make equal copies)."""
        if self._metric is None:
            self._metric = in_metres(self.geoms, self.bounds)
        return self._metric

    def _deg(self, metres: float) -> float:
        """Degrees that surely span `metres` at this layer's highest latitude."""
        return metres / self._m_per_deg

    def near_boundary(self, lon: np.ndarray, lat: np.ndarray, positions: np.ndarray,
                      metres: float) -> np.ndarray:
        """True where a point lies within `metres` of a polygon other than its own."""
        x = np.asarray(lon, dtype=np.float64).ravel()
        y = np.asarray(lat, dtype=np.float64).ravel()
        near = np.zeros(x.shape[0], dtype=bool)
        ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        if not len(self.geoms) or not ok.size:
            return near
        if metres < self._cell_m:  # a point in an owned cell is a cell away from any edge
            ok = ok[self._cells.near_edge_of(x[ok], y[ok])]
            if not ok.size:
                return near
        pts = shapely.points(x[ok], y[ok])
        inp, cand = self._tree.query(pts, predicate="dwithin", distance=self._deg(metres))
        other = cand != positions[ok[inp]]
        inp, cand = inp[other], cand[other]
        if inp.size:
            pts_m = to_metres(pts[inp], *self._origin)
            close = shapely.dwithin(self._geoms_m[cand], pts_m, metres)
            near[ok[inp[close]]] = True
        return near

    def near_boundary_one(self, lon: float, lat: float, position: int, metres: float
                          ) -> bool:
        """`near_boundary` for one point: the single-lookup path.

        The cells the point's ± metres box touches name the polygons that can be that
        close (none but its own for ~2/3 of household points); otherwise a point in its
        polygon's core (see `in_core`) is not near either, and only the rest are measured.
        """
        half = self._deg(metres)
        around = (self._cells.around(lon, lat, half)
                  if self._cells is not None and 2 * half < self._cells.size else None)
        if around is None:
            return bool(self.near_boundary(np.array([lon]), np.array([lat]),
                                           np.array([position]), metres)[0])
        around.discard(position)
        if not around or (metres in self._core_cache
                          and self.in_core(lon, lat, position, metres)):
            return False  # (never builds the cores on a request: see IndexCache.finish)
        pt_m = shapely.Point(self._to_m.transform(lon, lat))
        return bool(shapely.dwithin(self._geoms_m[list(around)], pt_m, metres).any())

    def in_core(self, lon: float, lat: float, position: int, metres: float) -> bool:
        """Whether a point lies in the core of polygon `position`: the polygon shrunk by a
        little more than `metres`, so farther than that from every other polygon (since
        polygons do not overlap: imports refuse that).

        The cores of a layer are built on first use per distance (`prepare_near`) and get
        a cell raster of their own, so the test is the raster walk of `assign_one`.
        """
        cores, raster = self.prepare_near(metres)
        found, block = raster.locate_one(lon, lat)
        if block >= 0:
            # An array, not one geometry: shapely would prepare that in place (memory, and a
            # race between threads).
            return bool(shapely.contains_xy(cores[position:position + 1], lon, lat)[0])
        return found == position

    def prepare_near(self, metres: float) -> tuple[np.ndarray, _CellRaster]:
        """The cores for `metres` and their raster (see `in_core`), built once.

        Shrunk in the metric CRS and cut into ≤ 1 km edges before going back to degrees,
        where such an edge bends by about 2 cm. The shrinking joins edges with mitres, not
        arcs: a mitre lies farther from the polygon's vertex than the arc would (so the core
        only gets smaller), costs no extra vertices (a third fewer edges for the cores'
        raster than 2 chords per quarter circle) and leaves no chord closer than the radius
        (chords at 2 per quarter came ~4 m inside a 30 m margin). The radius `metres` ×
        1.02 + 3 cm covers GEOS's input simplification (1 % of the radius) and the bend.
        The buffer releases the GIL: both cores share it.
        """
        built = self._core_cache.get(metres)
        if built is None:
            shrink = partial(shapely.buffer, distance=-(metres * 1.02 + 0.03),
                             join_style="mitre")
            shrunk = parallel.elementwise(shrink, self._geoms_m)
            # Only cores with an edge over 1 km change (segmentize would remake them all).
            xy, which = shapely.get_coordinates(shrunk, return_index=True)
            step = np.hypot(np.diff(xy[:, 0]), np.diff(xy[:, 1])) > _EDGE_M
            step &= which[1:] == which[:-1]  # not from one core to the next
            long = np.unique(which[1:][step])  # (from a ring's end to the next: harmless)
            shrunk[long] = shapely.segmentize(shrunk[long], _EDGE_M)
            del xy, which, step
            cores = parallel.elementwise(partial(
                shapely.transform,
                transformation=lambda xy: self._to_degrees(xy[:, 0], xy[:, 1])), shrunk)
            # Prepared for the raster's build (twice as fast), then no more: `in_core`
            # asks shapely only for the few points its raster cannot place. Prepared
            # here, locators and all: the build's two threads would race to do it lazily
            # on the same core (a segfault at 100k grids).
            _prepare_now(cores)
            raster = _CellRaster(cores, STRtree(cores), self.bounds, self._max_cells,
                                 hint=self._core_hint if self._cells is not None else None)
            shapely.destroy_prepared(cores)
            built = cores, raster
            self._core_cache[metres] = built  # a racing thread builds an equal copy
        return built

    def _core_hint(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The only core that may hold each point: its grid's (a core lies inside its
        grid), or -1 where the raster leaves the grid open: those points are on or within
        rounding of a grid's boundary, so in no core."""
        found, exact = self._cells.locate(x, y)
        found[exact] = -1
        return found

    def _to_degrees(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Metric coordinates back to lon/lat (n × 2)."""
        return np.column_stack(self._to_m.transform(x, y, direction="INVERSE"))

    def nearest(self, lon: float, lat: float) -> tuple[int, float]:
        """(position, metres) of the polygon nearest a point; (-1, inf) if empty."""
        if not len(self.geoms):
            return -1, float("inf")
        pt = shapely.Point(lon, lat)
        first = int(self._tree.query_nearest(pt)[0])
        if max(abs(lon - self._origin[0]), abs(lat - self._origin[1])) > _LOCAL_DEG:
            # Beyond where the local projection holds (it goes infinite ~90° away): the
            # nearest in degrees, measured on the ellipsoid.
            (x0, y0), (x1, y1) = shapely.get_coordinates(
                shapely.shortest_line(self.geoms[first], pt))
            return first, float(distance_m(x0, y0, x1, y1))
        pt_m = to_metres(pt, *self._origin)
        d_first = float(shapely.distance(self._geoms_m[first], pt_m))
        # Degrees are not isotropic: anything within d_first metres may be nearer.
        cands = self._tree.query(pt, predicate="dwithin", distance=self._deg(d_first))
        cands = np.union1d(cands, [first])
        dists = shapely.distance(self._geoms_m[cands], pt_m)
        best = int(np.argmin(dists))
        return int(cands[best]), float(dists[best])
