"""A fixed local frame in metres for the whole prefecture (equirectangular about its middle):
good enough for shapes and costs; every output coordinate is longitude/latitude."""

from __future__ import annotations

import math

import numpy as np
import shapely

LON0, LAT0 = 102.9, 34.4
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(LAT0))
M_PER_DEG_LAT = 110_950.0


def to_m(lon, lat):
    return (np.asarray(lon) - LON0) * M_PER_DEG_LON, (np.asarray(lat) - LAT0) * M_PER_DEG_LAT


def to_deg(x, y):
    return np.asarray(x) / M_PER_DEG_LON + LON0, np.asarray(y) / M_PER_DEG_LAT + LAT0


def coords_to_deg(c: np.ndarray) -> np.ndarray:
    """A (n, 2) array of metres as longitude/latitude (for `shapely.transform`)."""
    return np.column_stack(to_deg(c[:, 0], c[:, 1]))


def bounds_m(geom) -> tuple[tuple[float, float], tuple[float, float]]:
    """((x min, x max), (y min, y max)) in metres of a lon/lat geometry's bounding box."""
    x0, y0, x1, y1 = shapely.bounds(geom)
    return to_m([x0, x1], [y0, y1])


def area_km2(geoms) -> np.ndarray:
    """Area of lon/lat polygons, scaled at each one's own latitude."""
    lat = shapely.get_y(shapely.centroid(geoms))
    return shapely.area(geoms) * M_PER_DEG_LAT * 111_320.0 * np.cos(np.radians(lat)) / 1e6
