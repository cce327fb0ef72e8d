"""Building the cell raster: its cells, the boundary segments, and the fine cells of each
mixed cell with the segments meeting them and the owners of their centres.

`_RasterBuild` lays the raster out and fills it (its fine cells: `raster_fine`);
`raster._CellRaster` adds the lookups.
The two share `_u` and `_ref`, the float expressions every cell and fine-cell number and
every fine centre come from, so build and query time compute the same floats.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import shapely
from scipy import ndimage
from shapely import STRtree

from geo_service.index import parallel
from geo_service.index.raster_fine import _CHUNK, _OUTSIDE, _chunks, _expand, _FineCells

# Cell raster: at most this many cells (int32 each: 16 MB).
_MAX_CELLS = 4_000_000
_MIN_CELL_DEG = 5e-5  # ~5 m: finer cells would not help and only cost memory
# Raster values: >= 0 owner position; _OUTSIDE; <= _BLOCK0 a mixed cell, block _BLOCK0 - v.
_BLOCK0 = -2
_U = 2.0 ** -53  # unit roundoff of float64
Hint = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _rings(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(coordinates n × 2, ring of each, polygon of each ring) of the polygons' rings:
    their boundaries, read in one pass (no ring objects) for polygons and multipolygons."""
    try:
        kind, xy, offsets = shapely.to_ragged_array(geoms)
    except ValueError:  # other geometry types: through their boundaries' parts
        kind = None
    if kind not in (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON):
        rings, poly = shapely.get_parts(shapely.boundary(geoms), return_index=True)
        xy, ring = shapely.get_coordinates(rings, return_index=True)
        return xy, ring, poly
    part = np.arange(len(geoms))  # polygon of each part
    if kind == shapely.GeometryType.MULTIPOLYGON:
        part = np.repeat(part, np.diff(offsets[2]))
    ring_ends, part_ends = offsets[0], offsets[1]
    ring = np.repeat(np.arange(ring_ends.shape[0] - 1), np.diff(ring_ends))
    return xy, ring, part[np.repeat(np.arange(part_ends.shape[0] - 1), np.diff(part_ends))]


def _prepare_now(geoms: np.ndarray) -> None:
    """Prepare polygons and build their point locators, which GEOS would otherwise build
    lazily: here, in one thread, so concurrent first lookups never race on that."""
    shapely.prepare(geoms)
    full = ~shapely.is_empty(geoms)
    if full.any():
        reps = shapely.point_on_surface(geoms[full])
        x, y = shapely.get_x(reps), shapely.get_y(reps)
        # Each predicate has its own lazily built parts (GEOS 3.13+): build both we use.
        shapely.contains_xy(geoms[full], x, y)
        shapely.intersects_xy(geoms[full], x, y)


class _RasterBuild(_FineCells):
    """Cells, fine cells and their boundary segments, as built.

    Cell numbers come from u = (x - x0) / size, one float expression that is monotone in
    x (as every rounded operation is); fine numbers from u * F (F a power of two: exact).
    So a segment meeting the box spanned by two float points is listed in (or marks
    mixed) every cell between their cells: a cell is left out only where the segment's
    bounding box misses it or its line passes farther from the cell's centre than half
    the cell plus 1/64 (far beyond rounding). No boundary separates two points of the same
    fine cell, or of the same region of 4-adjacent unmixed cells. (Only the coarse pass,
    which cuts long segments into cell-sized pieces, needs a small pad.)

    The build takes its per-(segment, cell) and per-(segment, fine cell) work in chunks
    of `_CHUNK` rows, so its temporaries stay bounded whatever the layer's size.
    """

    def __init__(self, geoms: np.ndarray, tree: STRtree,
                 bounds: tuple[float, float, float, float],
                 max_cells: int = _MAX_CELLS, hint: Hint | None = None) -> None:
        """At most about `max_cells` cells (fewer where they would be under ~5 m).

        `hint(x, y)`: the one polygon that may cover each point, or -1 (the grids' raster
        for their cores, which lie inside them): each fine centre is then tested against
        that one only, and the raster keeps no candidates (no `candidates_of`, `around`).
        """
        x0, y0, x1, y1 = bounds
        # A Python float, as the origin is: the single-point path does plain float
        # arithmetic (the same values as numpy's, without overflow warnings or overhead).
        size = float(max(np.sqrt((x1 - x0) * (y1 - y0) / max_cells), _MIN_CELL_DEG))
        self.x0, self.y0, self.size = x0 - size, y0 - size, size
        self.nx = int(np.ceil((x1 - x0) / size)) + 2
        self.ny = int(np.ceil((y1 - y0) / size)) + 2
        self._segments(geoms, size)
        seg, coarse, boxed = self._coarse_entries(size)
        mixed = np.zeros(self.ny * self.nx, dtype=bool)
        mixed[coarse] = True
        # Unmixed cells form regions no boundary crosses: one test per region.
        regions, n = ndimage.label(~mixed.reshape(self.ny, self.nx))
        regions = regions.ravel()
        first = np.zeros(n + 1, dtype=np.int64)  # first cell of each region, without a sort
        first[regions[::-1]] = np.arange(regions.size - 1, -1, -1)
        owner = np.full(n + 1, len(geoms), dtype=np.int64)
        iy, ix = np.divmod(first[1:], self.nx)
        at, hit = parallel.query(tree, shapely.points(self.x0 + (ix + 0.5) * size,
                                                      self.y0 + (iy + 0.5) * size),
                                 predicate="intersects")
        np.minimum.at(owner, at + 1, hit)  # lowest wins, should polygons overlap
        owner[owner == len(geoms)] = _OUTSIDE
        cells = owner[regions].astype(np.int32)
        del regions, first
        mixed_cells = np.flatnonzero(mixed).astype(np.int32)
        cells[mixed_cells] = _BLOCK0 - np.arange(mixed_cells.shape[0], dtype=np.int32)
        self.cells, self.mixed_cells = cells, mixed_cells
        # Cells within one cell of a mixed one: elsewhere every boundary is a cell away.
        self.near_edge = ndimage.binary_dilation(
            mixed.reshape(self.ny, self.nx), structure=np.ones((3, 3), dtype=bool)).ravel()
        block = _BLOCK0 - cells[coarse]  # block of each entry
        del coarse
        if hint is None:
            self._candidates(geoms, seg, block)
        else:
            self.cand = np.zeros(0, dtype=np.int32)
            self.cand_start = np.zeros(mixed_cells.shape[0] + 1, dtype=np.int32)
        self._fine(geoms, seg, block, boxed[mixed_cells], hint)
        del boxed, self.sdx, self.sdy, self.sbad  # only the build needs these
        # Views that index to plain numbers, for the single-point path (numpy scalars
        # cost twice as much).
        self.one = SimpleNamespace(**{name: memoryview(getattr(self, name)) for name in (
            "cells", "split", "fine_base", "fine_start", "fine_ref", "eseg", "eflip", "sax",
            "say", "sbx", "sby", "spoly")})

    # -- building ------------------------------------------------------------------------
    def _segments(self, geoms: np.ndarray, size: float) -> None:
        """The polygons' boundary segments, exactly as given (splitting them would move
        the boundary by rounding), with their polygon and the orientation error bound."""
        xy, ring, poly = _rings(geoms)
        x, y = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
        del xy
        same = np.flatnonzero((ring[1:] == ring[:-1]) & ((x[1:] != x[:-1]) | (y[1:] != y[:-1])))
        self.sax, self.say, self.sbx, self.sby = x[same], y[same], x[same + 1], y[same + 1]
        self.sdx, self.sdy = self.sbx - self.sax, self.sby - self.say  # (build only)
        self.spoly = poly[ring[same]].astype(np.int32)
        # A polygon whose rings cross (invalid) is not the even-odd region of its rings.
        self.sbad = ~parallel.elementwise(shapely.is_valid, geoms)[self.spoly]
        # Every coordinate difference an orientation uses (segment sides, point or centre
        # to an endpoint of a segment whose box meets the cell, point to centre) is at most
        # L; computed from rounded differences, an orientation is off by < 8uL² (< 4u per
        # product term): beyond 16uL² its sign is certain. (One very long segment raises
        # the bound for all: more points go to shapely, none is answered wrongly.)
        d_max = float(max(np.abs(self.sdx).max(initial=0.0),
                          np.abs(self.sdy).max(initial=0.0), size))
        self.thr = 16.0 * _U * (2.0 * (size + d_max)) ** 2

    def _coarse_entries(self, size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(segment, cell) for every cell a segment may meet, without duplicates (int32
        both); and per cell, how many segments' pieces' boxes meet it.

        A segment is cut into pieces no longer than a cell on either axis; each piece's
        box, widened by far more than the rounding of its computed ends, meets ≤ 3×3
        cells and the union of those covers the exact segment. Of those, the cells whose
        centre is farther from the segment's line than half the cell (widened by a
        cell/64, far more than rounding) are dropped: the line misses them. Segments are
        taken in chunks, two at a time, so the temporaries stay bounded at any layer size.
        """
        dx, dy = self.sdx, self.sdy
        pieces = np.maximum(np.ceil(np.maximum(np.abs(dx), np.abs(dy)) / size), 1
                            ).astype(np.int64)
        big = max(float(np.abs(self.sax).max(initial=0.0)),
                  float(np.abs(self.say).max(initial=0.0)), abs(self.x0), abs(self.y0))
        pad = size * 1e-6 + 64 * _U * big
        n_cells = self.nx * self.ny

        def part(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            seg, k = _expand(np.full(hi - lo, 0, dtype=np.int64), pieces[lo:hi])
            seg += lo
            n = pieces[seg]
            t0, t1 = k / n, (k + 1) / n
            sx, sy, ddx, ddy = self.sax[seg], self.say[seg], dx[seg], dy[seg]
            xa, xb = sx + t0 * ddx, sx + t1 * ddx
            ya, yb = sy + t0 * ddy, sy + t1 * ddy
            del t0, t1, n, k, sx, sy, ddx, ddy
            cx0 = np.maximum(np.floor(self._u(np.minimum(xa, xb) - pad, self.x0)), 0)
            cx1 = np.minimum(np.floor(self._u(np.maximum(xa, xb) + pad, self.x0)),
                             self.nx - 1)
            cy0 = np.maximum(np.floor(self._u(np.minimum(ya, yb) - pad, self.y0)), 0)
            cy1 = np.minimum(np.floor(self._u(np.maximum(ya, yb) + pad, self.y0)),
                             self.ny - 1)
            del xa, xb, ya, yb
            cx0, cy0 = cx0.astype(np.int64), cy0.astype(np.int64)
            w = cx1.astype(np.int64) - cx0 + 1
            piece, k = _expand(np.zeros(w.shape[0], dtype=np.int64),
                               w * (cy1.astype(np.int64) - cy0 + 1))
            del cx1, cy1
            key = (seg[piece] * n_cells + (cy0[piece] + k // w[piece]) * self.nx
                   + cx0[piece] + k % w[piece])
            multi = pieces[seg[piece]] > 1  # only a segment's pieces can share a cell
            del piece, k, seg
            if multi.any():
                twice = np.sort(key[multi])
                twice = twice[np.r_[True, twice[1:] != twice[:-1]]]  # np.unique, no hash
                key = np.concatenate([key[~multi], twice])
            seg, cell = np.divmod(key, n_cells)
            iy, ix = np.divmod(cell, self.nx)
            # Keep the cells the segment's line passes within half a cell (+ 1/64) of.
            sdx, sdy = dx[seg], dy[seg]
            dist = (sdx * ((self.y0 + (iy + 0.5) * size) - self.say[seg])
                    - sdy * ((self.x0 + (ix + 0.5) * size) - self.sax[seg]))
            reach = (np.abs(sdx) + np.abs(sdy)) * (size * (0.5 + 1 / 64))
            keep = np.abs(dist) <= reach
            del sdx, sdy, dist, reach, iy, ix
            return seg[keep].astype(np.int32), cell[keep].astype(np.int32), cell.astype(np.int32)

        parts = parallel.chunks(part, _chunks(9 * pieces, _CHUNK))
        if not parts:
            return np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(n_cells, np.int64)
        boxed = np.bincount(np.concatenate([p[2] for p in parts]), minlength=n_cells)
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                boxed)

    def _candidates(self, geoms: np.ndarray, seg: np.ndarray, block: np.ndarray) -> None:
        """Candidates per block (CSR, in code order): the polygons meeting each mixed
        cell, widened by a hair (they serve assign_one and `around`).

        A polygon with a segment listed in the cell is one (or near enough: a superset is
        harmless). Any other has no boundary within the cell's reach, so holds all of the
        cell or none of it: the cell's centre tells, for the cells in its bounding box
        (only polygons that overlap another can hold a mixed cell that way).
        """
        n_geoms, n_blocks = len(geoms), self.mixed_cells.shape[0]
        key = np.sort(block.astype(np.int64) * n_geoms + self.spoly[seg])
        key = key[np.r_[True, key[1:] != key[:-1]]] if key.size else key
        poly = np.flatnonzero(~shapely.is_empty(geoms))
        x0, y0, x1, y1 = shapely.bounds(geoms[poly]).T
        cx0 = np.clip(np.floor(self._u(x0, self.x0)), 0, self.nx - 1).astype(np.int64)
        cx1 = np.clip(np.floor(self._u(x1, self.x0)), 0, self.nx - 1).astype(np.int64)
        cy0 = np.clip(np.floor(self._u(y0, self.y0)), 0, self.ny - 1).astype(np.int64)
        cy1 = np.clip(np.floor(self._u(y1, self.y0)), 0, self.ny - 1).astype(np.int64)
        w = cx1 - cx0 + 1
        probes = []
        for lo, hi in _chunks(w * (cy1 - cy0 + 1), _CHUNK):
            p, k = _expand(np.zeros(hi - lo, dtype=np.int64), (w * (cy1 - cy0 + 1))[lo:hi])
            p += lo
            value = self.cells[(cy0[p] + k // w[p]) * self.nx + cx0[p] + k % w[p]]
            mixed = value <= _BLOCK0
            probe = (_BLOCK0 - value[mixed]).astype(np.int64) * n_geoms + poly[p[mixed]]
            pos = np.minimum(np.searchsorted(key, probe), max(key.size - 1, 0))
            probes.append(probe[key[pos] != probe] if key.size else probe)
        probe = np.concatenate(probes) if probes else np.zeros(0, dtype=np.int64)
        b, hit = np.divmod(probe, n_geoms)
        iy, ix = np.divmod(self.mixed_cells[b].astype(np.int64), self.nx)
        inside = parallel.elementwise(shapely.intersects_xy, geoms[hit],
                                      self.x0 + (ix + 0.5) * self.size,
                                      self.y0 + (iy + 0.5) * self.size)
        if inside.any():
            key = np.sort(np.concatenate([key, probe[inside]]))
        self.cand = (key % n_geoms).astype(np.int32)
        self.cand_start = np.searchsorted(key // n_geoms, np.arange(n_blocks + 1)
                                          ).astype(np.int32)

    def _u(self, v: np.ndarray, origin: float) -> np.ndarray:
        """Position in cell lengths: the one expression all cell numbers come from."""
        return (v - origin) / self.size

    def _ref(self, gx: np.ndarray, gy: np.ndarray, split: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
        """Centre of fine cell (gx, gy) of a raster split F times (same floats at build
        and query time)."""
        h = self.size / split
        return self.x0 + (gx + 0.5) * h, self.y0 + (gy + 0.5) * h
