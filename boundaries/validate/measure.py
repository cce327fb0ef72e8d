"""Measuring WGS84 shapes in metres: `LocalMetres`, and what counts as no area at all.

Why: tolerances and reported areas are in metres and m², but overlays run on the WGS84
shapes the point lookup sees. Pieces that come out of an overlay are projected into a local
transverse Mercator around the data (`boundaries.crs.to_metres`) to be measured, after a
cheap estimate in square degrees (`boundaries.units`) has dropped floating-point slivers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from boundaries.crs import to_metres
from boundaries.units import metres_per_degree, square_metres_per_square_degree

AREA_EPSILON_M2 = 1.0  # overlaps and gaps at or below this are floating-point noise
SEGMENT_DEG = 0.0005  # densify to ~50 m before projecting: straight-edge sag under 0.1 mm


def data_centre(*geom_arrays: Any) -> tuple[float, float] | None:
    """Centre (lon, lat) of the bounding box of all given WGS84 geometries, or None."""
    bounds = [shapely.total_bounds(np.asarray(a, dtype=object)) for a in geom_arrays if len(a)]
    bounds = [b for b in bounds if np.isfinite(b).all()]
    if not bounds:
        return None
    b = np.array(bounds)
    return (float(b[:, 0].min() + b[:, 2].max()) / 2, float(b[:, 1].min() + b[:, 3].max()) / 2)


def format_m2(area: float) -> str:
    """An area for a message: whole m², with one decimal below 10 m²."""
    return f"{area:,.0f} m²" if area >= 10 else f"{area:.1f} m²"


class LocalMetres:
    """Areas in m² of WGS84 shapes, through a local transverse Mercator around the data.

    Overlays (difference, intersection, union) run on the WGS84 shapes themselves, whose
    edges are straight in degrees as the point lookup sees them; only the pieces that come
    out are measured. A straight edge in degrees is slightly curved in metres (a 2 km
    parallel sags ~5 cm), so pieces are densified before projecting, and floating-point
    slivers along long edges (1e-15° wide) are dropped by a first estimate from their
    area in square degrees instead of being inflated into tens of m² by the projection.
    """

    def __init__(self, *geom_arrays: np.ndarray) -> None:
        self.centre = data_centre(*geom_arrays)

    def project(self, geoms: np.ndarray, segment_deg: float = SEGMENT_DEG) -> np.ndarray:
        """The shapes in metres, densified first to `segment_deg` (degrees)."""
        assert self.centre is not None
        dense = shapely.segmentize(np.asarray(geoms, dtype=object), segment_deg)
        return np.asarray(to_metres(dense, *self.centre), dtype=object)

    def flat(self, geoms: Any, inverse: bool = False) -> Any:
        """The shapes in a local plane in metres that keeps straight edges straight: lon and
        lat scaled by the length of a degree at the centre (`inverse`: back to degrees).

        Why: an edge straight in degrees (as the lookup and the validation see it) is a
        curve in the transverse Mercator of `project` (a 1 km parallel sags ~1 cm), so a
        vertex put on a neighbour's edge there lands beside it in degrees. The editor snaps
        and overlays in this plane instead; its lengths are off by 0.06 % across a township
        and 0.6 % at the ends of a county a degree tall (a degree of longitude shortens
        northwards), far inside any snapping tolerance; areas for reports still come from
        `area`.
        """
        assert self.centre is not None
        lon0, lat0 = self.centre
        m_lon, m_lat = (float(v) for v in metres_per_degree(lat0))
        if inverse:
            return shapely.transform(geoms, lambda c: c / (m_lon, m_lat) + (lon0, lat0))
        return shapely.transform(geoms, lambda c: (c - (lon0, lat0)) * (m_lon, m_lat))

    def area(self, geoms: np.ndarray) -> np.ndarray:
        geoms = np.asarray(geoms, dtype=object)
        _, miny, _, maxy = shapely.bounds(geoms).T
        out = np.nan_to_num(shapely.area(geoms)
                            * square_metres_per_square_degree((miny + maxy) / 2))
        real = out > AREA_EPSILON_M2 / 100
        if real.any():
            out[real] = shapely.area(self.project(geoms[real]))
        return out

