"""GridIndex: which polygon of one layer (grids, or ten-household groups) holds each point.

The rule for a point, documented in the README and pinned by tests:

1. A point in the interior of a polygon belongs to it.
2. A point exactly on a boundary (a shared edge or vertex) belongs to the polygon with the
   lowest code among those whose boundary it lies on ("covers, lowest code wins").
3. A point covered by no polygon belongs to none (-1 / None).
4. If polygons overlapped (imports refuse that), the lowest-coded containing one wins.

`near_boundary` marks points within N metres of a polygon other than their own, so a
caller knows a GPS error of that size could change the answer.

The implementation (shapely 2 STRtree for bounding-box candidates, then `contains_xy` on
prepared polygons in one vectorized call) is private: callers see codes and arrays only.
An index is immutable once built, so threads share it without locks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely import STRtree

from boundaries.crs import metric_crs, to_metres

# Metres per degree of latitude, a safe lower bound used to turn metres into degrees.
_M_PER_DEG = 110_500.0


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
        self._position = {code: i for i, code in enumerate(self.codes)}
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
        self.metric_crs = metric_crs(*self._origin)
        # Prepared polygons build their point locators lazily; build them now, in one
        # thread, so concurrent first lookups never race on that.
        if len(self.geoms):
            reps = shapely.point_on_surface(self.geoms)
            shapely.contains_xy(self.geoms, shapely.get_x(reps), shapely.get_y(reps))

    def __len__(self) -> int:
        return len(self.codes)

    def position(self, code: str) -> int | None:
        """Position of a code in this index, or None."""
        return self._position.get(code)

    # -- assignment -------------------------------------------------------------------
    def assign(self, lon: np.ndarray | Sequence[float], lat: np.ndarray | Sequence[float]
               ) -> np.ndarray:
        """Positions (int64, -1 for none) of the polygon holding each point, in one call.

        Non-finite coordinates get -1; validating them is the caller's job.
        """
        x = np.asarray(lon, dtype=np.float64).ravel()
        y = np.asarray(lat, dtype=np.float64).ravel()
        n_geoms = len(self.geoms)
        best = np.full(x.shape[0], n_geoms, dtype=np.int64)
        ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        if n_geoms and ok.size:
            pts = shapely.points(x[ok], y[ok])
            inp, cand = self._tree.query(pts)
            inside = shapely.contains_xy(self.geoms[cand], x[ok[inp]], y[ok[inp]])
            np.minimum.at(best, ok[inp[inside]], cand[inside])
            # Points in no interior but with candidates: on a boundary, or outside.
            pending = best[ok[inp]] == n_geoms
            if pending.any():
                p_inp, p_cand = inp[pending], cand[pending]
                on = shapely.covers(self.geoms[p_cand], pts[p_inp])
                np.minimum.at(best, ok[p_inp[on]], p_cand[on])
        best[best == n_geoms] = -1
        return best

    def assign_one(self, lon: float, lat: float) -> int:
        """Position of the polygon holding one point (-1 for none); the lookup fast path."""
        cands = np.sort(self._tree.query(shapely.Point(lon, lat)))
        if not cands.size:
            return -1
        geoms = self.geoms[cands]
        inside = shapely.contains_xy(geoms, lon, lat)
        if inside.any():
            return int(cands[np.argmax(inside)])
        on = shapely.covers(geoms, shapely.Point(lon, lat))
        return int(cands[np.argmax(on)]) if on.any() else -1

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
        pts = shapely.points(x[ok], y[ok])
        inp, cand = self._tree.query(pts, predicate="dwithin", distance=self._deg(metres))
        other = cand != positions[ok[inp]]
        inp, cand = inp[other], cand[other]
        if inp.size:
            pts_m = to_metres(pts[inp], *self._origin)
            close = shapely.dwithin(self._geoms_m[cand], pts_m, metres)
            near[ok[inp[close]]] = True
        return near

    def nearest(self, lon: float, lat: float) -> tuple[int, float]:
        """(position, metres) of the polygon nearest a point; (-1, inf) if empty."""
        if not len(self.geoms):
            return -1, float("inf")
        pt = shapely.Point(lon, lat)
        first = int(self._tree.query_nearest(pt)[0])
        pt_m = to_metres(pt, *self._origin)
        d_first = float(shapely.distance(self._geoms_m[first], pt_m))
        # Degrees are not isotropic: anything within d_first metres may be nearer.
        cands = self._tree.query(pt, predicate="dwithin", distance=self._deg(d_first))
        cands = np.union1d(cands, [first])
        dists = shapely.distance(self._geoms_m[cands], pt_m)
        best = int(np.argmin(dists))
        return int(cands[best]), float(dists[best])
