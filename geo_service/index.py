"""GridIndex: which polygon of one layer (grids, or ten-household groups) holds each point.

The rule for a point, documented in the README and pinned by tests:

1. A point in the interior of a polygon belongs to it.
2. A point exactly on a boundary (a shared edge or vertex) belongs to the polygon with the
   lowest code among those whose boundary it lies on ("covers, lowest code wins").
3. A point covered by no polygon belongs to none (-1 / None).
4. If polygons overlapped (imports refuse that), the lowest-coded containing one wins.

`near_boundary` marks points within N metres of a polygon other than their own, so a
caller knows a GPS error of that size could change the answer.

The implementation is private (callers see codes and arrays only) and has two tiers:

- a raster of cells over the layer's extent, each cell either owned by one polygon (it
  lies wholly inside it), outside every polygon, or "mixed" (a boundary passes near it).
  Most points are answered by arithmetic on their cell, with no geometry at all;
- a point in a mixed cell is tested against that cell's few candidates only:
  `contains_xy` on prepared polygons, then `covers` for points exactly on a boundary.
  A shapely 2 STRtree serves building the raster and the distance queries.

An index is immutable once built, so threads share it without locks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from scipy import ndimage
from shapely import STRtree

from boundaries.crs import distance_m, to_metres

# Metres per degree of latitude, a safe lower bound used to turn metres into degrees.
_M_PER_DEG = 110_500.0
# Cell raster: at most this many cells (owner and candidate offset, int32: 32 MB in all).
# Measured (bench/lookup.py, 10,000 grids): 2M cells 1.3M points/s, 4M 1.9M, 8M 2.2M.
_MAX_CELLS = 4_000_000
_MIN_CELL_DEG = 5e-5  # ~5 m: finer cells would not help and only cost memory
_LOCAL_DEG = 10.0  # farther than this from the layer's centre, nearest() measures geodesically
_MIXED, _OUTSIDE = -1, -2


class _CellRaster:
    """Cells wholly inside one polygon know their owner; the others know their candidates.

    Boundaries are sampled at least once per cell length, so a boundary crossing a cell
    leaves a sample within half a cell of it: in that cell or one of its 8 neighbours.
    Cells with no sample in that 3×3 block are crossed by no boundary: they form connected
    regions each inside one polygon (or outside all), classified by testing one cell per
    region. Every other ("mixed") cell lists exactly the polygons its box intersects.
    """

    def __init__(self, geoms: np.ndarray, tree: STRtree,
                 bounds: tuple[float, float, float, float]) -> None:
        x0, y0, x1, y1 = bounds
        size = max(np.sqrt((x1 - x0) * (y1 - y0) / _MAX_CELLS), _MIN_CELL_DEG)
        self.x0, self.y0, self.size = x0 - size, y0 - size, size
        self.nx = int(np.ceil((x1 - x0) / size)) + 2
        self.ny = int(np.ceil((y1 - y0) / size)) + 2
        edges = shapely.segmentize(shapely.boundary(geoms), size)
        sampled = np.zeros((self.ny, self.nx), dtype=bool)
        xy = shapely.get_coordinates(edges)
        sampled.flat[self._cell(xy[:, 0], xy[:, 1])] = True
        mixed = ndimage.binary_dilation(sampled, structure=np.ones((3, 3), dtype=bool))
        regions, n = ndimage.label(~mixed)
        regions = regions.ravel()
        first = np.zeros(n + 1, dtype=np.int64)  # first cell of each region, without a sort
        first[regions[::-1]] = np.arange(regions.size - 1, -1, -1)
        owner = np.full(n, _OUTSIDE, dtype=np.int64)
        at, hit = tree.query(self._centres(first[1:]), predicate="intersects")
        np.maximum.at(owner, at, hit)  # a boundary-free region lies in at most one polygon
        self.cells = np.concatenate([[_MIXED], owner]).astype(np.int32)[regions]
        # Candidates of mixed cells (CSR by cell): the polygons each cell's box meets.
        mixed_cells = np.flatnonzero(mixed.ravel())
        iy, ix = np.divmod(mixed_cells, self.nx)
        boxes = shapely.box(self.x0 + ix * size, self.y0 + iy * size,
                            self.x0 + (ix + 1) * size, self.y0 + (iy + 1) * size)
        at, hit = tree.query(boxes, predicate="intersects")  # sorted by box
        self.cand = hit.astype(np.int32)
        self.start = np.searchsorted(mixed_cells[at], np.arange(self.ny * self.nx + 1)
                                     ).astype(np.int32)

    def _cell(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ix = np.floor((x - self.x0) / self.size).astype(np.int64)
        iy = np.floor((y - self.y0) / self.size).astype(np.int64)
        inside = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        return np.where(inside, iy * self.nx + ix, -1)

    def _centres(self, cells: np.ndarray) -> np.ndarray:
        iy, ix = np.divmod(cells, self.nx)
        return shapely.points(self.x0 + (ix + 0.5) * self.size,
                              self.y0 + (iy + 0.5) * self.size)

    def lookup_one(self, x: float, y: float) -> tuple[int, np.ndarray]:
        """Owner (or marker) of one point's cell and, if mixed, its candidates."""
        ix = int((x - self.x0) // self.size)
        iy = int((y - self.y0) // self.size)
        if not (0 <= ix < self.nx and 0 <= iy < self.ny):
            return _OUTSIDE, self.cand[:0]
        cell = iy * self.nx + ix
        owner = int(self.cells[cell])
        if owner != _MIXED:
            return owner, self.cand[:0]
        return owner, self.cand[self.start[cell]:self.start[cell + 1]]

    def around(self, x: float, y: float) -> set[int] | None:
        """Every polygon meeting the 3×3 block of cells around a point (None if the point
        is off the raster): all polygons within one cell length of it."""
        ix = int((x - self.x0) // self.size)
        iy = int((y - self.y0) // self.size)
        if not (1 <= ix < self.nx - 1 and 1 <= iy < self.ny - 1):
            return None
        found: set[int] = set()
        for row in (iy - 1, iy, iy + 1):
            for cell in range(row * self.nx + ix - 1, row * self.nx + ix + 2):
                owner = int(self.cells[cell])
                if owner >= 0:
                    found.add(owner)
                elif owner == _MIXED:
                    found.update(self.cand[self.start[cell]:self.start[cell + 1]].tolist())
        return found

    def lookup(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(owner position, _OUTSIDE or _MIXED) and the cell id per finite point."""
        cell = self._cell(x, y)
        out = np.full(x.shape[0], _OUTSIDE, dtype=np.int64)
        inside = cell >= 0
        out[inside] = self.cells[cell[inside]]
        return out, cell

    def candidates(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(point number, candidate position) pairs for points in these mixed cells."""
        lo, hi = self.start[cells], self.start[cells + 1]
        counts = hi - lo
        inp = np.repeat(np.arange(cells.shape[0]), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return inp, self.cand[np.repeat(lo, counts) + offsets].astype(np.int64)


class GridIndex:
    """An immutable point-in-polygon index over one layer of one boundary version."""

    def __init__(self, codes: Sequence[str], geoms: Sequence[shapely.Geometry],
                 version: int | None = None, level: str = "grid") -> None:
        codes_arr = np.asarray(codes, dtype=object)
        order = np.argsort(codes_arr.astype(str), kind="stable")  # position = code rank
        self.codes: np.ndarray = codes_arr[order]
        self.geoms: np.ndarray = np.asarray(geoms, dtype=object)[order]
        self.version = version
        self.level = level
        shapely.prepare(self.geoms)
        self._tree = STRtree(self.geoms)
        if len(self.geoms):
            x0, y0, x1, y1 = shapely.total_bounds(self.geoms)
        else:
            x0, y0, x1, y1 = 0.0, 0.0, 0.0, 0.0
        self.bounds = (float(x0), float(y0), float(x1), float(y1))
        self._origin = ((x0 + x1) / 2, (y0 + y1) / 2)
        self._max_lat = float(min(max(abs(y0), abs(y1)), 89.0))
        self._geoms_m = to_metres(self.geoms, *self._origin)
        # Prepared polygons build their point locators lazily; build them now, in one
        # thread, so concurrent first lookups never race on that.
        if len(self.geoms):
            reps = shapely.point_on_surface(self.geoms)
            shapely.contains_xy(self.geoms, shapely.get_x(reps), shapely.get_y(reps))
        self._cells = (_CellRaster(self.geoms, self._tree, self.bounds)
                       if len(self.geoms) else None)
        # The shortest side of a cell in metres (0 when there is no raster).
        self._cell_m = (self._cells.size * _M_PER_DEG * np.cos(np.radians(self._max_lat))
                        if self._cells else 0.0)

    def __len__(self) -> int:
        return len(self.codes)

    # -- assignment -------------------------------------------------------------------
    def assign(self, lon: np.ndarray | Sequence[float], lat: np.ndarray | Sequence[float]
               ) -> np.ndarray:
        """Positions (int64, -1 for none) of the polygon holding each point, in one call.

        Non-finite coordinates get -1; validating them is the caller's job.
        """
        x = np.asarray(lon, dtype=np.float64).ravel()
        y = np.asarray(lat, dtype=np.float64).ravel()
        out = np.full(x.shape[0], -1, dtype=np.int64)
        if self._cells is None:
            return out
        ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        owner, cell = self._cells.lookup(x[ok], y[ok])
        owned = owner >= 0
        out[ok[owned]] = owner[owned]
        mixed = owner == _MIXED
        if mixed.any():
            inp, cand = self._cells.candidates(cell[mixed])
            out[ok[mixed]] = self._decide(x[ok[mixed]], y[ok[mixed]], inp, cand)
        return out

    def _decide(self, x: np.ndarray, y: np.ndarray, inp: np.ndarray, cand: np.ndarray
                ) -> np.ndarray:
        """The geometric test over candidate pairs: interiors first, then boundaries."""
        n_geoms = len(self.geoms)
        best = np.full(x.shape[0], n_geoms, dtype=np.int64)
        inside = shapely.contains_xy(self.geoms[cand], x[inp], y[inp])
        np.minimum.at(best, inp[inside], cand[inside])
        pending = best[inp] == n_geoms  # in no interior: on a boundary, or outside
        if pending.any():
            p_inp, p_cand = inp[pending], cand[pending]
            on = shapely.covers(self.geoms[p_cand], shapely.points(x[p_inp], y[p_inp]))
            np.minimum.at(best, p_inp[on], p_cand[on])
        best[best == n_geoms] = -1
        return best

    def assign_one(self, lon: float, lat: float) -> int:
        """Position of the polygon holding one finite point (-1 for none), without arrays
        of points: the single-lookup path."""
        if self._cells is None:
            return -1
        owner, cands = self._cells.lookup_one(lon, lat)
        if owner != _MIXED:
            return max(owner, -1)
        geoms = self.geoms[cands]
        inside = shapely.contains_xy(geoms, lon, lat)
        if inside.any():
            return int(cands[inside].min())
        on = shapely.covers(geoms, shapely.Point(lon, lat))
        return int(cands[on].min()) if on.any() else -1

    def codes_of(self, positions: np.ndarray) -> np.ndarray:
        """Codes for positions (None where -1)."""
        out = np.full(len(positions), None, dtype=object)
        hit = positions >= 0
        out[hit] = self.codes[positions[hit]]
        return out

    # -- distances --------------------------------------------------------------------
    def _deg(self, metres: float) -> float:
        """Degrees that surely span `metres` at this layer's highest latitude."""
        return metres / (_M_PER_DEG * np.cos(np.radians(self._max_lat)))

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
            ok = ok[self._cells.lookup(x[ok], y[ok])[0] == _MIXED]
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
        """`near_boundary` for one point, from the cells around it when they suffice."""
        around = (self._cells.around(lon, lat)
                  if self._cells is not None and metres < self._cell_m else None)
        if around is None:
            return bool(self.near_boundary(np.array([lon]), np.array([lat]),
                                           np.array([position]), metres)[0])
        around.discard(position)
        if not around:
            return False
        pt_m = to_metres(shapely.Point(lon, lat), *self._origin)
        return bool(shapely.dwithin(self._geoms_m[list(around)], pt_m, metres).any())

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
