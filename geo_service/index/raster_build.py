"""Building the cell raster: its cells, the boundary segments, and the fine cells of each
mixed cell with the segments meeting them and the owners of their centres.

`_RasterBuild` lays the raster out and fills it; `raster._CellRaster` adds the lookups.
The two share `_u` and `_ref`, the float expressions every cell and fine-cell number and
every fine centre come from, so build and query time compute the same floats.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import shapely
from scipy import ndimage
from shapely import STRtree

# Cell raster: at most this many cells (int32 each: 16 MB).
_MAX_CELLS = 4_000_000
_MIN_CELL_DEG = 5e-5  # ~5 m: finer cells would not help and only cost memory
# Raster values: >= 0 owner position; _OUTSIDE; <= _BLOCK0 a mixed cell, block _BLOCK0 - v.
_OUTSIDE, _BLOCK0 = -1, -2
# Fine cell owners: >= 0 owner of the centre, _OUTSIDE, or _EXACT (always ask shapely).
_EXACT = -2
# Fine cells aim at this many segments each (a point tests every segment of its fine
# cell); F is a power of two up to _MAX_SPLIT. Measured on 10,000 grids (group layer):
# 2 -> 7M points/s but 2.6M fine cells, 170 MB, 5 s build; 4 -> 5.8M/s, 80 MB, ~3 s.
_SEGS_PER_FINE = 4.0
_MAX_SPLIT = 8
_U = 2.0 ** -53  # unit roundoff of float64


def _expand(lo: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner row, index) pairs enumerating lo[i] .. lo[i] + counts[i] - 1 per row."""
    rows = np.repeat(np.arange(counts.shape[0]), counts)
    first = np.cumsum(counts) - counts
    return rows, np.arange(rows.shape[0]) + np.repeat(lo - first, counts)


def _prepare_now(geoms: np.ndarray) -> None:
    """Prepare polygons and build their point locators, which GEOS would otherwise build
    lazily: here, in one thread, so concurrent first lookups never race on that."""
    shapely.prepare(geoms)
    full = ~shapely.is_empty(geoms)
    if full.any():
        reps = shapely.point_on_surface(geoms[full])
        shapely.contains_xy(geoms[full], shapely.get_x(reps), shapely.get_y(reps))



class _RasterBuild:
    """Cells, fine cells and their boundary segments, as built.

    Cell numbers come from u = (x - x0) / size, one float expression that is monotone in
    x (as every rounded operation is); fine numbers from u * F (F a power of two: exact).
    So a segment whose bounding box meets the box spanned by two float points is listed
    in (or marks mixed) every cell between their cells: no boundary separates two points
    of the same fine cell, or of the same region of 4-adjacent unmixed cells. (Only the
    coarse pass, which cuts long segments into cell-sized pieces, needs a small pad.)
    """

    def __init__(self, geoms: np.ndarray, tree: STRtree,
                 bounds: tuple[float, float, float, float],
                 max_cells: int = _MAX_CELLS) -> None:
        """At most about `max_cells` cells (fewer where they would be under ~5 m)."""
        x0, y0, x1, y1 = bounds
        # A Python float, as the origin is: the single-point path does plain float
        # arithmetic (the same values as numpy's, without overflow warnings or overhead).
        size = float(max(np.sqrt((x1 - x0) * (y1 - y0) / max_cells), _MIN_CELL_DEG))
        self.x0, self.y0, self.size = x0 - size, y0 - size, size
        self.nx = int(np.ceil((x1 - x0) / size)) + 2
        self.ny = int(np.ceil((y1 - y0) / size)) + 2
        self._segments(geoms, size)
        seg, coarse = self._coarse_entries(size)
        mixed = np.zeros(self.ny * self.nx, dtype=bool)
        mixed[coarse] = True
        # Unmixed cells form regions no boundary crosses: one test per region.
        regions, n = ndimage.label(~mixed.reshape(self.ny, self.nx))
        regions = regions.ravel()
        first = np.zeros(n + 1, dtype=np.int64)  # first cell of each region, without a sort
        first[regions[::-1]] = np.arange(regions.size - 1, -1, -1)
        owner = np.full(n + 1, len(geoms), dtype=np.int64)
        iy, ix = np.divmod(first[1:], self.nx)
        at, hit = tree.query(shapely.points(self.x0 + (ix + 0.5) * size,
                                            self.y0 + (iy + 0.5) * size),
                             predicate="intersects")
        np.minimum.at(owner, at + 1, hit)  # lowest wins, should polygons overlap
        owner[owner == len(geoms)] = _OUTSIDE
        cells = owner[regions]
        mixed_cells = np.flatnonzero(mixed)
        cells[mixed_cells] = _BLOCK0 - np.arange(mixed_cells.shape[0])
        self.cells = cells.astype(np.int32)
        self.mixed_cells = mixed_cells.astype(np.int32)
        # Cells within one cell of a mixed one: elsewhere every boundary is a cell away.
        self.near_edge = ndimage.binary_dilation(
            mixed.reshape(self.ny, self.nx), structure=np.ones((3, 3), dtype=bool)).ravel()
        # Candidates per block (CSR): the polygons each mixed cell's box, a hair larger
        # than the cell, meets. They serve assign_one and `around`.
        iy, ix = np.divmod(mixed_cells, self.nx)
        eps = size * 1e-6
        boxes = shapely.box(self.x0 + ix * size - eps, self.y0 + iy * size - eps,
                            self.x0 + (ix + 1) * size + eps, self.y0 + (iy + 1) * size + eps)
        # Boxes by bounding box, then the exact test on the (prepared) polygons: the same
        # pairs as `query(predicate="intersects")`, which would prepare every box instead.
        at, hit = tree.query(boxes)
        meets = shapely.intersects(geoms[hit], boxes[at])
        at, hit = at[meets], hit[meets]
        order = np.lexsort((hit, at))  # by block, then in code order (assign_one)
        self.cand = hit[order].astype(np.int32)
        self.cand_start = np.searchsorted(at[order], np.arange(mixed_cells.shape[0] + 1)
                                          ).astype(np.int32)
        block = _BLOCK0 - self.cells[coarse].astype(np.int64)  # block of each entry
        self._fine(geoms, seg, block)
        # Views that index to plain numbers, for the single-point path (numpy scalars
        # cost twice as much).
        self.one = SimpleNamespace(**{name: memoryview(getattr(self, name)) for name in (
            "cells", "split", "fine_base", "fine_start", "fine_ref", "eax", "eay", "edx",
            "edy", "eseg", "sax", "say", "sbx", "sby", "spoly")})

    # -- building ------------------------------------------------------------------------
    def _segments(self, geoms: np.ndarray, size: float) -> None:
        """The polygons' boundary segments, exactly as given (splitting them would move
        the boundary by rounding), with their polygon and the orientation error bound."""
        rings, poly = shapely.get_parts(shapely.boundary(geoms), return_index=True)
        xy, ring = shapely.get_coordinates(rings, return_index=True)
        same = np.flatnonzero((ring[1:] == ring[:-1])
                              & np.any(xy[1:] != xy[:-1], axis=1))  # drop empty segments
        a, b = xy[same], xy[same + 1]
        self.sax, self.say, self.sbx, self.sby = (np.ascontiguousarray(c) for c in
                                                  (a[:, 0], a[:, 1], b[:, 0], b[:, 1]))
        self.spoly = poly[ring[same]].astype(np.int32)
        # A polygon whose rings cross (invalid) is not the even-odd region of its rings.
        self.sbad = ~shapely.is_valid(geoms)[self.spoly]
        # Every coordinate difference an orientation uses (segment sides, point or centre
        # to an endpoint of a segment whose box meets the cell, point to centre) is at most
        # L; computed from rounded differences, an orientation is off by < 8uL² (< 4u per
        # product term): beyond 16uL² its sign is certain. (One very long segment raises
        # the bound for all: more points go to shapely, none is answered wrongly.)
        d_max = float(max(np.abs(b - a).max(initial=0.0), size))
        self.thr = 16.0 * _U * (2.0 * (size + d_max)) ** 2

    def _coarse_entries(self, size: float) -> tuple[np.ndarray, np.ndarray]:
        """(segment, cell) for every cell a segment may meet, without duplicates.

        A segment is cut into pieces no longer than a cell on either axis; each piece's
        box, widened by far more than the rounding of its computed ends, meets ≤ 3×3
        cells and the union of those covers the exact segment.
        """
        dx, dy = self.sbx - self.sax, self.sby - self.say
        pieces = np.maximum(np.ceil(np.maximum(np.abs(dx), np.abs(dy)) / size), 1)
        seg, k = _expand(np.zeros(dx.shape[0], dtype=np.int64), pieces.astype(np.int64))
        n = pieces[seg]
        t0, t1 = k / n, (k + 1) / n
        xa, xb = self.sax[seg] + t0 * dx[seg], self.sax[seg] + t1 * dx[seg]
        ya, yb = self.say[seg] + t0 * dy[seg], self.say[seg] + t1 * dy[seg]
        big = max(float(np.abs(self.sax).max(initial=0.0)),
                  float(np.abs(self.say).max(initial=0.0)), abs(self.x0), abs(self.y0))
        pad = size * 1e-6 + 64 * _U * big
        cx0 = np.floor(self._u(np.minimum(xa, xb) - pad, self.x0)).astype(np.int64)
        cx1 = np.floor(self._u(np.maximum(xa, xb) + pad, self.x0)).astype(np.int64)
        cy0 = np.floor(self._u(np.minimum(ya, yb) - pad, self.y0)).astype(np.int64)
        cy1 = np.floor(self._u(np.maximum(ya, yb) + pad, self.y0)).astype(np.int64)
        cx0, cy0 = np.maximum(cx0, 0), np.maximum(cy0, 0)
        cx1, cy1 = np.minimum(cx1, self.nx - 1), np.minimum(cy1, self.ny - 1)
        w = cx1 - cx0 + 1
        piece, k = _expand(np.zeros(w.shape[0], dtype=np.int64), w * (cy1 - cy0 + 1))
        cell = (cy0[piece] + k // w[piece]) * self.nx + cx0[piece] + k % w[piece]
        key = np.sort(seg[piece] * (self.nx * self.ny) + cell)
        key = key[np.r_[True, key[1:] != key[:-1]]]  # np.unique, without its hash table
        return np.divmod(key, self.nx * self.ny)

    def _u(self, v: np.ndarray, origin: float) -> np.ndarray:
        """Position in cell lengths: the one expression all cell numbers come from."""
        return (v - origin) / self.size

    def _ref(self, gx: np.ndarray, gy: np.ndarray, split: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
        """Centre of fine cell (gx, gy) of a raster split F times (same floats at build
        and query time)."""
        h = self.size / split
        return self.x0 + (gx + 0.5) * h, self.y0 + (gy + 0.5) * h

    def _fine(self, geoms: np.ndarray, seg: np.ndarray, block: np.ndarray) -> None:
        """Split each mixed cell into F×F fine cells, list the segments meeting each, and
        find each fine centre's owner."""
        n_blocks = self.mixed_cells.shape[0]
        per_block = np.bincount(block, minlength=n_blocks)
        split = 2 ** np.ceil(np.log2(np.maximum(per_block / _SEGS_PER_FINE, 1.0)))
        split = np.minimum(split, _MAX_SPLIT).astype(np.int64)
        self.split = split.astype(np.int32)
        self.fine_base = np.concatenate([[0], np.cumsum(split * split)]).astype(np.int32)
        by, bx = np.divmod(self.mixed_cells, self.nx)
        # Fine cells of each (segment, block) entry's bounding box, clipped to the block.
        f = split[block]
        ax, ay, bx_, by_ = self.sax[seg], self.say[seg], self.sbx[seg], self.sby[seg]
        fx0 = np.floor(self._u(np.minimum(ax, bx_), self.x0) * f).astype(np.int64)
        fx1 = np.floor(self._u(np.maximum(ax, bx_), self.x0) * f).astype(np.int64)
        fy0 = np.floor(self._u(np.minimum(ay, by_), self.y0) * f).astype(np.int64)
        fy1 = np.floor(self._u(np.maximum(ay, by_), self.y0) * f).astype(np.int64)
        fx0 = np.clip(fx0 - bx[block] * f, 0, f - 1)
        fx1 = np.clip(fx1 - bx[block] * f, 0, f - 1)
        fy0 = np.clip(fy0 - by[block] * f, 0, f - 1)
        fy1 = np.clip(fy1 - by[block] * f, 0, f - 1)
        w = fx1 - fx0 + 1
        ent, k = _expand(np.zeros(w.shape[0], dtype=np.int64), w * (fy1 - fy0 + 1))
        s, b, f = seg[ent], block[ent], f[ent]
        gx = bx[b] * f + fx0[ent] + k % w[ent]  # fine numbers in the whole raster
        gy = by[b] * f + fy0[ent] + k // w[ent]
        # Drop segments whose line misses the fine cell (widened by a cell/64, far more
        # than rounding): a diagonal segment's box holds many cells it never meets.
        h = self.size / f
        cx, cy = self._ref(gx, gy, f)
        dx, dy = self.sbx[s] - self.sax[s], self.sby[s] - self.say[s]
        dist = dx * (cy - self.say[s]) - dy * (cx - self.sax[s])
        reach = (np.abs(dx) + np.abs(dy)) * h * (0.5 + 1 / 64)
        keep = np.flatnonzero(np.abs(dist) <= reach)
        s, b, f, gx, gy = s[keep], b[keep], f[keep], gx[keep], gy[keep]
        dx, dy, dist = dx[keep], dy[keep], dist[keep]
        fine = self.fine_base[b] + (gy - by[b] * f) * f + (gx - bx[b] * f)
        order = np.argsort(fine, kind="stable")
        fine, s, dx, dy, dist = fine[order], s[order], dx[order], dy[order], dist[order]
        n_fine = int(self.fine_base[-1])
        self.fine_start = np.searchsorted(fine, np.arange(n_fine + 1)).astype(np.int32)
        # Orient each listed segment so that its fine centre lies on its left (dist > 0).
        flip = dist < 0
        self.eax = np.where(flip, self.sbx[s], self.sax[s])
        self.eay = np.where(flip, self.sby[s], self.say[s])
        self.edx, self.edy = np.where(flip, -dx, dx), np.where(flip, -dy, dy)
        self.eseg = s.astype(np.int32)
        # Owner of every fine centre; a centre on (or within rounding of) a listed line, or
        # in two polygons, or a cell with a segment of an invalid polygon: ask shapely.
        fb = np.repeat(np.arange(n_blocks), split * split)
        fs = split[fb]
        k = np.arange(n_fine) - self.fine_base[fb]
        cx, cy = self._ref(bx[fb] * fs + k % fs, by[fb] * fs + k // fs, fs)
        # Every polygon covering a centre meets its cell's box, so is among the block's
        # candidates: test those with the prepared polygons (no point objects, no tree).
        at, c = _expand(self.cand_start[fb].astype(np.int64),
                        np.diff(self.cand_start)[fb].astype(np.int64))
        hit = self.cand[c].astype(np.int64)
        covers = shapely.intersects_xy(geoms[hit], cx[at], cy[at])
        at, hit = at[covers], hit[covers]
        ref = np.full(n_fine, _OUTSIDE, dtype=np.int64)
        ref[at] = hit
        doubt = np.bincount(at, minlength=n_fine) > 1
        doubt[fine[np.abs(dist) <= self.thr]] = True
        doubt[fine[self.sbad[s]]] = True
        ref[doubt] = _EXACT
        self.fine_ref = ref.astype(np.int32)
