"""The cell raster's lookups: which polygon holds a point, by its cell, its fine cell and
the crossing test (see the package docstring), and the polygons near a point.

Every lookup uses the float expressions of `raster_build` in the same order as the build,
so build and query put a point in the same cell and fine cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from geo_service.index.raster_build import _BLOCK0, _RasterBuild
from geo_service.index.raster_fine import _EXACT, _OUTSIDE, _expand

# Tiers as `trace` numbers them (the names `GridIndex.tiers` gives them).
CELL, FINE, EXACT = 0, 1, 2


@dataclass(frozen=True)
class Trace:
    """How the raster answers each point (see `_CellRaster.trace`)."""

    tier: np.ndarray  # CELL, FINE or EXACT
    split: np.ndarray  # F of the point's mixed cell, 0 elsewhere
    exact_cell: np.ndarray  # in a fine cell whose centre only shapely can place
    centre: np.ndarray  # owner of the fine cell's centre (-1: none, unknown or no fine cell)
    segments: np.ndarray  # boundary segments listed in the fine cell (0 outside them)


class _CellRaster(_RasterBuild):
    """A layer's cell raster (built by `_RasterBuild`) and its lookups."""

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
            s = one.eseg[e]
            ax, ay = one.sax[s], one.say[s]
            side = (one.sbx[s] - ax) * (y - ay) - (one.sby[s] - ay) * (x - ax)
            if one.eflip[e]:
                side = -side  # > 0: on the fine centre's side
            if side > thr:
                continue  # surely on the centre's side of this segment's line
            if side >= -thr:
                return _EXACT, b
            oa = qx * (ay - y) - qy * (ax - x)
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
        f, gx, gy, fine = self._fine_of(u[at], v[at], value)
        ref = self.fine_ref[fine].astype(np.int64)
        out[at] = np.maximum(ref, _OUTSIDE)
        exact = [at[ref == _EXACT]]
        lo = self.fine_start[fine].astype(np.int64)
        counts = self.fine_start[fine + 1] - lo
        test = np.flatnonzero((counts > 0) & (ref != _EXACT))
        if test.size:
            pt, e = _expand(lo[test], counts[test])  # (point, listed segment) pairs
            px, py = x[at[test]], y[at[test]]
            s = self.eseg[e]
            ax, ay = self.sax[s], self.say[s]
            side = (self.sbx[s] - ax) * (py[pt] - ay) - (self.sby[s] - ay) * (px[pt] - ax)
            np.negative(side, out=side, where=self.eflip[e])  # > 0: the centre's side
            near = np.flatnonzero(side <= self.thr)  # not surely on the centre's side
            unsure = np.abs(side[near]) <= self.thr
            exact.append(at[test[pt[near[unsure]]]])
            cross = near[~unsure]  # the line surely separates point and centre
            if cross.size:
                ct, s = pt[cross], s[cross]
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

    def _fine_of(self, u: np.ndarray, v: np.ndarray, value: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(F, fine column, fine row, fine cell) of points at u, v cell lengths from the
        origin, in mixed cells of raster values `value`."""
        b = _BLOCK0 - value.astype(np.int64)
        f = self.split[b].astype(np.int64)
        gx = np.floor(u * f).astype(np.int64)  # exact scaling: consistent with the cell
        gy = np.floor(v * f).astype(np.int64)
        by, bx = np.divmod(self.mixed_cells[b], self.nx)
        return f, gx, gy, self.fine_base[b] + (gy - by * f) * f + (gx - bx * f)

    def trace(self, x: np.ndarray, y: np.ndarray) -> Trace:
        """How `locate` answers each point: by its cell (CELL: also off the raster), by
        its fine cell's centre and the crossing test (FINE), or by shapely (EXACT), with
        the fine cell's split, centre owner and listed segments."""
        n = x.shape[0]
        doubtful = self.locate(x, y)[1]
        cell, u, v = self._cell(x, y)
        at = np.flatnonzero(cell >= 0)
        value = self.cells[cell[at]]
        at, value = at[value <= _BLOCK0], value[value <= _BLOCK0]
        f, _, _, fine = self._fine_of(u[at], v[at], value)
        tier = np.full(n, CELL, dtype=np.int8)
        tier[at] = FINE
        tier[doubtful] = EXACT
        split, centre = np.zeros(n, dtype=np.int64), np.full(n, _OUTSIDE, dtype=np.int64)
        exact_cell, segments = np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64)
        ref = self.fine_ref[fine].astype(np.int64)
        split[at], centre[at], exact_cell[at] = f, np.maximum(ref, _OUTSIDE), ref == _EXACT
        segments[at] = self.fine_start[fine + 1] - self.fine_start[fine]
        return Trace(tier, split, exact_cell, centre, segments)

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

