"""`GridIndex`: build an index over one layer, assign points to its polygons (the raster
first, shapely for what the raster leaves open), and the distance questions, which it
answers through its `Proximity`."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import shapely
from shapely import STRtree

from geo_service.index.proximity import Proximity, in_metres
from geo_service.index.raster import _CellRaster
from geo_service.index.raster_build import _MAX_CELLS, _prepare_now

# What `GridIndex.tiers` calls the tiers `_CellRaster.trace` numbers 0, 1, 2.
TIERS = np.array(["cell", "fine", "exact"])


class GridIndex:
    """An immutable point-in-polygon index over one layer of one boundary version."""

    def __init__(self, codes: Sequence[str], geoms: Sequence[shapely.Geometry],
                 version: int | None = None, level: str = "grid", *,
                 raster: bool = True, max_cells: int = _MAX_CELLS) -> None:
        """`raster=False`: a plain index (STRtree and the exact rule only): the same
        answers, built in a fraction of the time and memory, at shapely's speed per point
        (earlier versions asked for by `version=`).

        `max_cells`: at most about this many cells in the raster (and in each distance's
        cores' raster, see `in_core`); int32 each, so the default costs 16 MB. Fewer cells
        send more points to fine cells and shapely: the answers stay the same.
        """
        if max_cells < 1:
            raise ValueError(f"max_cells must be at least 1, not {max_cells}")
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
        _prepare_now(self.geoms)
        if raster and len(self.geoms):
            with ThreadPoolExecutor(1) as pool:  # the metric copy (pyproj) beside the raster
                geoms_m = pool.submit(in_metres, self.geoms, self.bounds)
                self._cells = _CellRaster(self.geoms, self._tree, self.bounds, max_cells)
                metric = geoms_m.result()
        else:  # a plain index makes its metric copy when first asked for a distance
            self._cells, metric = None, None
        self._near = Proximity(self.geoms, self._tree, self._cells, self.bounds, max_cells,
                               metric)
        # The shortest side of a cell in metres (0 when there is no raster).
        self._cell_m = self._near._cell_m

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

    def tiers(self, lon: np.ndarray | Sequence[float], lat: np.ndarray | Sequence[float]
              ) -> np.ndarray:
        """Which tier `assign` answers each point by (strings):

        - "cell": its cell's owner (no boundary in the cell), or none without any geometry
          (off the raster, a non-finite coordinate, an empty layer);
        - "fine": its fine cell's centre and the crossing test, in floats;
        - "exact": shapely (every point of a plain index).
        """
        x = np.asarray(lon, dtype=np.float64).ravel()
        y = np.asarray(lat, dtype=np.float64).ravel()
        out = np.full(x.shape[0], TIERS[0], dtype=TIERS.dtype)
        if not len(self.geoms):
            return out
        ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        if self._cells is None:
            out[ok] = TIERS[2]
        else:
            out[ok] = TIERS[self._cells.trace(x[ok], y[ok]).tier]
        return out

    # -- distances (see `Proximity`) ------------------------------------------------------
    def _deg(self, metres: float) -> float:
        """Degrees that surely span `metres` at this layer's highest latitude."""
        return self._near._deg(metres)

    def near_boundary(self, lon: np.ndarray, lat: np.ndarray, positions: np.ndarray,
                      metres: float) -> np.ndarray:
        """True where a point lies within `metres` of a polygon other than its own."""
        return self._near.near_boundary(lon, lat, positions, metres)

    def near_boundary_one(self, lon: float, lat: float, position: int, metres: float
                          ) -> bool:
        """`near_boundary` for one point: the single-lookup path."""
        return self._near.near_boundary_one(lon, lat, position, metres)

    def in_core(self, lon: float, lat: float, position: int, metres: float) -> bool:
        """Whether a point lies in the core of polygon `position`: the polygon shrunk by a
        little more than `metres`, so farther than that from every other polygon."""
        return self._near.in_core(lon, lat, position, metres)

    def prepare_near(self, metres: float) -> tuple[np.ndarray, _CellRaster]:
        """The cores for `metres` and their raster (see `in_core`), built once: a caller
        builds them ahead of the first single lookup."""
        return self._near.prepare_near(metres)

    def nearest(self, lon: float, lat: float) -> tuple[int, float]:
        """(position, metres) of the polygon nearest a point; (-1, inf) if empty."""
        return self._near.nearest(lon, lat)
