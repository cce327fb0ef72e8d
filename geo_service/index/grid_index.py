"""GridIndex: which polygon of one layer (grids, or ten-household groups) holds each point.

The rule for a point, documented in the README and pinned by tests:

1. A point in the interior of a polygon belongs to it.
2. A point exactly on a boundary (a shared edge or vertex) belongs to the polygon with the
   lowest code among those whose boundary it lies on ("covers, lowest code wins").
3. A point covered by no polygon belongs to none (-1 / None).
4. If polygons overlapped (imports refuse that), the lowest-coded containing one wins.

`near_boundary` marks points within N metres of a polygon other than their own, so a
caller knows a GPS error of that size could change the answer.

The implementation is private (callers see codes and arrays only) and has three tiers:

- a raster of cells over the layer's extent, each cell either owned by one polygon (no
  boundary passes through it), outside every polygon, or "mixed". Most points are
  answered by arithmetic on their cell, with no geometry at all;
- a mixed cell is split into F×F fine cells (F grows with the edges it holds, so dense
  towns get small cells). Each fine cell lists the boundary segments that may meet it and
  knows the owner of its centre. A point's owner is the centre's owner, changed by the
  polygons whose boundary the segment point→centre crosses an odd number of times:
  a vectorized crossing test on a handful of segments, in plain numpy;
- the crossing test uses floating-point orientations with a proven error bound. A point
  it cannot decide for certain (on or within rounding of a boundary line, or a segment
  through a vertex) goes to shapely: an STRtree `intersects` query (= covers), the exact
  rule. So answers equal shapely's, boundaries included.

A single point (`assign_one`, the GET lookup) reads the same cells in plain Python; only
when its fine cell lists segments does it ask shapely, among that cell's few candidates.

An index is immutable once built, so threads share it without locks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np
import shapely
from scipy import ndimage
from shapely import STRtree

from boundaries.crs import distance_m, metric_transformer, to_metres
from boundaries.units import min_metres_per_degree

# Cell raster: at most this many cells (int32 each: 16 MB).
_MAX_CELLS = 4_000_000
_MIN_CELL_DEG = 5e-5  # ~5 m: finer cells would not help and only cost memory
_LOCAL_DEG = 10.0  # farther than this from the layer's centre, nearest() measures geodesically
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


class _CellRaster:
    """Cells, fine cells and their boundary segments.

    Cell numbers come from u = (x - x0) / size, one float expression that is monotone in
    x (as every rounded operation is); fine numbers from u * F (F a power of two: exact).
    So a segment whose bounding box meets the box spanned by two float points is listed
    in (or marks mixed) every cell between their cells: no boundary separates two points
    of the same fine cell, or of the same region of 4-adjacent unmixed cells. (Only the
    coarse pass, which cuts long segments into cell-sized pieces, needs a small pad.)
    """

    def __init__(self, geoms: np.ndarray, tree: STRtree,
                 bounds: tuple[float, float, float, float]) -> None:
        x0, y0, x1, y1 = bounds
        size = max(np.sqrt((x1 - x0) * (y1 - y0) / _MAX_CELLS), _MIN_CELL_DEG)
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

    # -- lookups -------------------------------------------------------------------------
    def _cell(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cell or -1, u, v) per point: the cell number and positions in cell lengths."""
        with np.errstate(over="ignore"):  # a huge finite x is off the raster, no more
            u, v = self._u(x, self.x0), self._u(y, self.y0)
        ix, iy = np.floor(u), np.floor(v)
        inside = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        cell = np.full(x.shape[0], -1, dtype=np.int64)
        cell[inside] = iy[inside] * self.nx + ix[inside]
        return cell, u, v

    def locate_one(self, x: float, y: float) -> tuple[int, int]:
        """`locate` for one point in plain Python: (position or _OUTSIDE, -1), or
        (_EXACT, block) when only shapely can tell, among that block's candidates.

        The same float operations as `_cell`, `_ref` and `locate`, in the same order, so
        both paths put a point in the same cell and reach the same verdicts.
        """
        one = self.one
        u, v = (x - self.x0) / self.size, (y - self.y0) / self.size
        if not (0 <= u < self.nx and 0 <= v < self.ny):
            return _OUTSIDE, -1
        ix, iy = int(u), int(v)
        value = one.cells[iy * self.nx + ix]
        if value > _BLOCK0:
            return value, -1
        b = _BLOCK0 - value
        f = one.split[b]
        gx, gy = math.floor(u * f), math.floor(v * f)
        fine = one.fine_base[b] + (gy - iy * f) * f + gx - ix * f
        ref = one.fine_ref[fine]
        if ref == _EXACT:
            return _EXACT, b
        members = {ref} if ref >= 0 else set()
        h = self.size / f
        rx, ry = self.x0 + (gx + 0.5) * h, self.y0 + (gy + 0.5) * h
        qx, qy = rx - x, ry - y
        thr = self.thr
        for e in range(one.fine_start[fine], one.fine_start[fine + 1]):
            ex, ey = one.eax[e], one.eay[e]
            side = one.edx[e] * (y - ey) - one.edy[e] * (x - ex)
            if side > thr:
                continue  # surely on the centre's side of this segment's line
            if side >= -thr:
                return _EXACT, b
            s = one.eseg[e]
            oa = qx * (one.say[s] - y) - qy * (one.sax[s] - x)
            ob = qx * (one.sby[s] - y) - qy * (one.sbx[s] - x)
            if abs(oa) <= thr or abs(ob) <= thr:
                return _EXACT, b
            if (oa > 0) != (ob > 0):
                members ^= {one.spoly[s]}  # crossing its boundary toggles a polygon
        return (min(members) if members else _OUTSIDE), -1

    def candidates_of(self, block: int) -> np.ndarray:
        """Positions of the polygons meeting a mixed cell, in code order."""
        return self.cand[self.cand_start[block]:self.cand_start[block + 1]]

    def around(self, x: float, y: float, half: float) -> set[int] | None:
        """Every polygon meeting the cells that the box x ± half, y ± half touches (at
        most 2×2 when half is under half a cell), so every polygon within `half` degrees
        of the point; None if the box leaves the raster."""
        ix0, ix1 = int((x - half - self.x0) // self.size), int((x + half - self.x0) // self.size)
        iy0, iy1 = int((y - half - self.y0) // self.size), int((y + half - self.y0) // self.size)
        if min(ix0, iy0) < 0 or ix1 >= self.nx or iy1 >= self.ny:
            return None
        found: set[int] = set()
        for row in range(iy0, iy1 + 1):
            for cell in range(row * self.nx + ix0, row * self.nx + ix1 + 1):
                value = self.one.cells[cell]
                if value >= 0:
                    found.add(value)
                elif value <= _BLOCK0:
                    found.update(self.candidates_of(_BLOCK0 - value).tolist())
        return found

    def near_edge_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """False where a point is surely a cell length away from every boundary."""
        cell = self._cell(x, y)[0]
        out = np.zeros(x.shape[0], dtype=bool)  # off the raster: a cell from every polygon
        inside = cell >= 0
        out[inside] = self.near_edge[cell[inside]]
        return out

    def locate(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position or -1 per point, points the float test cannot decide)."""
        out = np.full(x.shape[0], _OUTSIDE, dtype=np.int64)
        cell, u, v = self._cell(x, y)
        at = np.flatnonzero(cell >= 0)
        value = self.cells[cell[at]]
        out[at] = np.maximum(value, _OUTSIDE)
        at, value = at[value <= _BLOCK0], value[value <= _BLOCK0]
        if not at.size:
            return out, at
        b = _BLOCK0 - value.astype(np.int64)
        f = self.split[b].astype(np.int64)
        gx = np.floor(u[at] * f).astype(np.int64)  # exact scaling: consistent with the cell
        gy = np.floor(v[at] * f).astype(np.int64)
        by, bx = np.divmod(self.mixed_cells[b], self.nx)
        fine = self.fine_base[b] + (gy - by * f) * f + (gx - bx * f)
        ref = self.fine_ref[fine].astype(np.int64)
        out[at] = np.maximum(ref, _OUTSIDE)
        exact = [at[ref == _EXACT]]
        lo = self.fine_start[fine].astype(np.int64)
        counts = self.fine_start[fine + 1] - lo
        test = np.flatnonzero((counts > 0) & (ref != _EXACT))
        if test.size:
            pt, e = _expand(lo[test], counts[test])  # (point, listed segment) pairs
            px, py = x[at[test]], y[at[test]]
            ex, ey = self.eax[e], self.eay[e]
            side = self.edx[e] * (py[pt] - ey) - self.edy[e] * (px[pt] - ex)
            near = np.flatnonzero(side <= self.thr)  # not surely on the centre's side
            unsure = np.abs(side[near]) <= self.thr
            exact.append(at[test[pt[near[unsure]]]])
            cross = near[~unsure]  # the line surely separates point and centre
            if cross.size:
                ct, s = pt[cross], self.eseg[e[cross]]
                t = test[ct]
                rx, ry = self._ref(gx[t], gy[t], f[t])
                px, py = px[ct], py[ct]
                qx, qy = rx - px, ry - py
                oa = qx * (self.say[s] - py) - qy * (self.sax[s] - px)
                ob = qx * (self.sby[s] - py) - qy * (self.sbx[s] - px)
                unsure = (np.abs(oa) <= self.thr) | (np.abs(ob) <= self.thr)
                exact.append(at[t[unsure]])
                hit = ~unsure & ((oa > 0) != (ob > 0))
                out[at] = self._flip(out[at], t[hit], self.spoly[s[hit]].astype(np.int64),
                                     ref)
        return out, np.unique(np.concatenate(exact))

    @staticmethod
    def _flip(res: np.ndarray, pt: np.ndarray, poly: np.ndarray, ref: np.ndarray
              ) -> np.ndarray:
        """Owners after crossings: the centre's polygon set, each crossed polygon toggled
        once per crossing; the lowest member wins."""
        if not pt.size:
            return res
        n = int(max(poly.max(), ref.max())) + 1
        moved = np.unique(pt)
        own = ref[moved]
        keys = np.concatenate([pt * n + poly, moved[own >= 0] * n + own[own >= 0]])
        keys, times = np.unique(keys, return_counts=True)
        keys = keys[times % 2 == 1]  # sorted: the first key of a point is its lowest
        res = res.copy()
        res[moved] = _OUTSIDE
        first = np.unique(keys // n, return_index=True)[1]
        res[keys[first] // n] = keys[first] % n
        return res


def _prepare_now(geoms: np.ndarray) -> None:
    """Prepare polygons and build their point locators, which GEOS would otherwise build
    lazily: here, in one thread, so concurrent first lookups never race on that."""
    shapely.prepare(geoms)
    full = ~shapely.is_empty(geoms)
    if full.any():
        reps = shapely.point_on_surface(geoms[full])
        shapely.contains_xy(geoms[full], shapely.get_x(reps), shapely.get_y(reps))


class GridIndex:
    """An immutable point-in-polygon index over one layer of one boundary version."""

    def __init__(self, codes: Sequence[str], geoms: Sequence[shapely.Geometry],
                 version: int | None = None, level: str = "grid", *,
                 raster: bool = True) -> None:
        """`raster=False`: a plain index (STRtree and the exact rule only): the same
        answers, built in a fraction of the time and memory, at shapely's speed per point
        (earlier versions asked for by `version=`)."""
        codes_arr = np.asarray(codes, dtype=object)
        order = np.argsort(codes_arr.astype(str), kind="stable")  # position = code rank
        self.codes: np.ndarray = codes_arr[order]
        self.geoms: np.ndarray = np.asarray(geoms, dtype=object)[order]
        self.version = version
        self.level = level
        self._tree = STRtree(self.geoms)
        if len(self.geoms):
            x0, y0, x1, y1 = shapely.total_bounds(self.geoms)
        else:
            x0, y0, x1, y1 = 0.0, 0.0, 0.0, 0.0
        self.bounds = (float(x0), float(y0), float(x1), float(y1))
        self._origin = ((x0 + x1) / 2, (y0 + y1) / 2)
        self._max_lat = float(min(max(abs(y0), abs(y1)), 89.0))
        self._m_per_deg = min_metres_per_degree(self._max_lat)  # the shortest degree here
        self._geoms_m = to_metres(self.geoms, *self._origin)
        self._to_m = metric_transformer(float(self._origin[0]), float(self._origin[1]))
        _prepare_now(self.geoms)
        self._core_cache: dict[float, tuple[np.ndarray, _CellRaster]] = {}
        self._cells = (_CellRaster(self.geoms, self._tree, self.bounds)
                       if raster and len(self.geoms) else None)
        # The shortest side of a cell in metres (0 when there is no raster).
        self._cell_m = self._cells.size * self._m_per_deg if self._cells else 0.0

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
        if not len(self.geoms):
            return out
        ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        if self._cells is None:  # a plain index
            out[ok] = self._exact(x[ok], y[ok])
            return out
        found, exact = self._cells.locate(x[ok], y[ok])
        if exact.size:
            found[exact] = self._exact(x[ok[exact]], y[ok[exact]])
        out[ok] = found
        return out

    def _exact(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The rule itself, by shapely: the lowest polygon whose interior holds a point,
        else the lowest whose boundary does (the two differ only where polygons overlap)."""
        at, hit = self._tree.query(shapely.points(x, y), predicate="intersects")  # covers
        n_geoms = len(self.geoms)
        inner = np.full(x.shape[0], n_geoms, dtype=np.int64)
        inside = shapely.contains_xy(self.geoms[hit], x[at], y[at])
        np.minimum.at(inner, at[inside], hit[inside])
        on = np.full(x.shape[0], n_geoms, dtype=np.int64)
        np.minimum.at(on, at, hit)
        best = np.where(inner < n_geoms, inner, on)
        best[best == n_geoms] = -1
        return best

    def assign_one(self, lon: float, lat: float) -> int:
        """Position of the polygon holding one finite point (-1 for none), without arrays
        of points: the single-lookup path."""
        if self._cells is None:
            return int(self._exact(np.array([lon]), np.array([lat]))[0]) if len(self) else -1
        found, block = self._cells.locate_one(lon, lat)
        if block < 0:
            return found
        cands = self._cells.candidates_of(block)
        if not cands.size:
            return -1
        inside = shapely.contains_xy(self.geoms[cands], lon, lat)
        first = int(inside.argmax())  # candidates are in code order: the first hit wins
        if inside[first]:
            return int(cands[first])
        on = shapely.covers(self.geoms[cands], shapely.Point(lon, lat))
        first = int(on.argmax())
        return int(cands[first]) if on[first] else -1

    def codes_of(self, positions: np.ndarray) -> np.ndarray:
        """Codes for positions (None where -1)."""
        out = np.full(len(positions), None, dtype=object)
        hit = positions >= 0
        out[hit] = self.codes[positions[hit]]
        return out

    # -- distances --------------------------------------------------------------------
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
        if not around or self.in_core(lon, lat, position, metres):
            return False
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
            return bool(shapely.contains_xy(cores[position], lon, lat))
        return found == position

    def prepare_near(self, metres: float) -> tuple[np.ndarray, _CellRaster]:
        """The cores for `metres` and their raster (see `in_core`), built once.

        Shrunk in the metric CRS and cut into ≤ 1 km edges before going back to degrees,
        where such an edge bends by about 2 cm; the margin (1 % + 1 cm) covers that and
        buffer arcs drawn as chords (≤ 0.5 % of the distance at 8 segments per quarter).
        """
        built = self._core_cache.get(metres)
        if built is None:
            shrunk = shapely.segmentize(
                shapely.buffer(self._geoms_m, -(metres * 1.01 + 0.01)), 1000.0)
            cores = shapely.transform(shrunk, lambda xy: np.column_stack(
                self._to_m.transform(xy[:, 0], xy[:, 1], direction="INVERSE")))
            _prepare_now(cores)
            built = cores, _CellRaster(cores, STRtree(cores), self.bounds)
            self._core_cache[metres] = built  # a racing thread builds an equal copy
        return built

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
