"""The fine cells of the raster's mixed cells: the boundary segments meeting each, and
the owner of each one's centre (see `raster_build`, whose `_RasterBuild` builds them with
`_FineCells._fine`), and the chunked array helpers the build shares.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely

from geo_service.index import parallel

_OUTSIDE = -1  # a raster value and fine cell owner: no polygon
# Fine cell owners: >= 0 owner of the centre, _OUTSIDE, or _EXACT (always ask shapely).
_EXACT = -2
# Fine cells aim at this many segments each (a point tests every segment of its fine
# cell); F is a power of two up to _MAX_SPLIT. Measured on 10,000 grids (group layer):
# 2 -> 7M points/s but 2.6M fine cells, 170 MB, 5 s build; 4 -> 5.8M/s, 80 MB, ~3 s.
_SEGS_PER_FINE = 4.0
_MAX_SPLIT = 8
# Rows of the build's per-(segment, cell) and per-(segment, fine cell) temporaries taken
# at a time: each such array then takes ≤ 8 MB, whatever the layer's size.
_CHUNK = 1 << 20


def _expand(lo: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner row, index) pairs enumerating lo[i] .. lo[i] + counts[i] - 1 per row."""
    rows = np.repeat(np.arange(counts.shape[0]), counts)
    first = np.cumsum(counts) - counts
    return rows, np.arange(rows.shape[0]) + np.repeat(lo - first, counts)


def _chunks(weights: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """Consecutive row ranges [lo, hi) whose weights add up to at most `limit` (or one
    row, if that alone weighs more)."""
    ends = np.cumsum(weights)
    out, lo = [], 0
    while lo < weights.shape[0]:
        done = int(ends[lo - 1]) if lo else 0
        hi = max(int(np.searchsorted(ends, done + limit, side="right")), lo + 1)
        out.append((lo, hi))
        lo = hi
    return out


class _FineCells:
    """The fine-cell half of `_RasterBuild` (which provides the cells, segments,
    candidates, `_u` and `_ref`)."""

    def _fine(self, geoms: np.ndarray, seg: np.ndarray, block: np.ndarray,
              per_block: np.ndarray,
              hint: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> None:
        """Split each mixed cell into F×F fine cells (F from `per_block`, the segments
        whose pieces' boxes meet it), list the segments meeting each, and find each fine
        centre's owner (entries and blocks in chunks: bounded memory), among the block's
        candidates or the one polygon `hint` names (see `_RasterBuild`)."""
        split = 2 ** np.ceil(np.log2(np.maximum(per_block / _SEGS_PER_FINE, 1.0)))
        split = np.minimum(split, _MAX_SPLIT).astype(np.int64)
        self.split = split.astype(np.int32)
        self.fine_base = np.concatenate([[0], np.cumsum(split * split)]).astype(np.int32)
        n_fine = int(self.fine_base[-1])
        by, bx = np.divmod(self.mixed_cells.astype(np.int64), self.nx)
        doubt = np.zeros(n_fine, dtype=bool)
        parts = parallel.chunks(
            lambda lo, hi: self._fine_entries(seg[lo:hi], block[lo:hi], split, bx, by),
            _chunks(split[block] ** 2, _CHUNK))
        for p in parts:
            doubt[p[3]] = True
        # Entries grouped by fine cell: one sort of (fine cell, segment, flip) keys (their
        # order within a cell is immaterial), cheaper than an argsort and two gathers.
        n_seg = self.sax.shape[0]
        fine = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int32)
        self.fine_start = np.zeros(n_fine + 1, dtype=np.int32)
        np.cumsum(np.bincount(fine, minlength=n_fine), out=self.fine_start[1:])
        key = fine.astype(np.int64) * (2 * n_seg)
        del fine
        if parts:
            key += np.concatenate([2 * p[1].astype(np.int64) + p[2] for p in parts])
        del parts
        key.sort()
        # The listed segments (5 bytes each), and whether the fine centre lies on the
        # right of a→b: a point's side is then the orientation's sign, flipped (exactly).
        self.eflip = (key & 1).astype(bool)
        key %= 2 * n_seg
        key >>= 1
        self.eseg = key.astype(np.int32)
        del key
        # Owner of every fine centre; a centre on (or within rounding of) a listed line, or
        # in two polygons, or a cell with a segment of an invalid polygon: ask shapely.
        ref = np.full(n_fine, _OUTSIDE, dtype=np.int32)
        n_cand = np.diff(self.cand_start).astype(np.int64)

        def owners(lo: int, hi: int) -> None:
            f0, f1 = int(self.fine_base[lo]), int(self.fine_base[hi])
            fb = np.repeat(np.arange(lo, hi), split[lo:hi] ** 2)
            fs = split[fb]
            k = np.arange(f0, f1) - self.fine_base[fb]
            cx, cy = self._ref(bx[fb] * fs + k % fs, by[fb] * fs + k // fs, fs)
            del fs, k
            if hint is None:
                # Every polygon covering a centre meets its cell's box, so is among the
                # block's candidates: test those with the prepared polygons (no points).
                at, c = _expand(self.cand_start[fb].astype(np.int64), n_cand[fb])
                hit = self.cand[c]
            else:
                hit = hint(cx, cy)
                at = np.flatnonzero(hit >= 0)
                hit = hit[at]
            covers = shapely.intersects_xy(geoms[hit], cx[at], cy[at])
            at, hit = at[covers], hit[covers]
            ref[f0 + at] = hit  # chunks write disjoint slices of ref and doubt
            doubt[f0:f1] |= np.bincount(at, minlength=f1 - f0) > 1

        # Rows per centre: its tests, or the hint's batch lookup (~8 rows of temporaries).
        rows = n_cand + 1 if hint is None else np.full(n_cand.shape[0], 8)
        parallel.chunks(owners, _chunks(rows * split * split, _CHUNK))
        ref[doubt] = _EXACT
        self.fine_ref = ref

    def _fine_entries(self, seg: np.ndarray, block: np.ndarray, split: np.ndarray,
                      bx: np.ndarray, by: np.ndarray) -> list[np.ndarray | None]:
        """[fine cell, segment, flip, doubt] for the fine cells each (segment, block)
        entry meets: those of the segment's box in the block, less those its line misses;
        doubt: fine cells whose centre only shapely can place."""
        f = split[block]
        sax, say, sbx, sby = self.sax[seg], self.say[seg], self.sbx[seg], self.sby[seg]
        ox, oy = bx[block] * f, by[block] * f  # the block's first fine column and row
        fx0 = np.clip(np.floor(self._u(np.minimum(sax, sbx), self.x0) * f) - ox, 0, f - 1)
        fx1 = np.clip(np.floor(self._u(np.maximum(sax, sbx), self.x0) * f) - ox, 0, f - 1)
        fy0 = np.clip(np.floor(self._u(np.minimum(say, sby), self.y0) * f) - oy, 0, f - 1)
        fy1 = np.clip(np.floor(self._u(np.maximum(say, sby), self.y0) * f) - oy, 0, f - 1)
        fx0, fy0 = fx0.astype(np.int64), fy0.astype(np.int64)
        w = fx1.astype(np.int64) - fx0 + 1
        ent, k = _expand(np.zeros(w.shape[0], dtype=np.int64),
                         w * (fy1.astype(np.int64) - fy0 + 1))
        del fx1, fy1
        f_e = f[ent]
        gx = ox[ent] + fx0[ent] + k % w[ent]  # fine numbers in the whole raster
        gy = oy[ent] + fy0[ent] + k // w[ent]
        del k
        # Drop segments whose line misses the fine cell (widened by a cell/64, far more
        # than rounding): a diagonal segment's box holds many cells it never meets.
        cx, cy = self._ref(gx, gy, f_e)
        ax, ay = sax[ent], say[ent]
        dx, dy = self.sdx[seg][ent], self.sdy[seg][ent]
        dist = dx * (cy - ay) - dy * (cx - ax)
        del cx, cy, ax, ay
        reach = (np.abs(dx) + np.abs(dy)) * (self.size / f_e) * (0.5 + 1 / 64)
        keep = np.flatnonzero(np.abs(dist) <= reach)
        del dx, dy, reach
        ent, dist = ent[keep], dist[keep]
        b = block[ent]
        fine = (self.fine_base[b] + (gy[keep] - oy[ent]) * f_e[keep]
                + (gx[keep] - ox[ent])).astype(np.int32)
        s = seg[ent]
        doubt = fine[(np.abs(dist) <= self.thr) | self.sbad[s]]
        return [fine, s, dist < 0, doubt]
