"""Coordinate reference systems the service accepts, and conversion to and from WGS84.

Why: phone map SDKs in China report GCJ-02 (AMap/Gaode, Tencent) or BD-09 (Baidu), survey
data arrives in CGCS2000 Gauss-Krüger zones, and the registry stores WGS84 lon/lat. A point
sent in GCJ-02 and read as WGS84 lands a few hundred metres off, in the wrong grid near
every boundary, so every input declares its CRS and is converted here, once. One job per
module: `names` (accepted names, UnknownCRS, valid bounds), `china` (GCJ-02/BD-09),
`transform` (any CRS to and from WGS84, points and geometries), `local` (metres: the local
frame and distances), with `proj` (cached PROJ objects) and `coords` (array shapes) under
them. Callers import from `boundaries.crs`; the modules are its layout, not its interface.

All converters are vectorised over numpy arrays (the lookup API converts batches), take
and return longitude first, and leave NaN as NaN.
"""

from .china import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from .local import distance_m, metric_crs, metric_transformer, to_metres
from .names import (
    BD09,
    CGCS2000,
    GCJ02,
    WGS84,
    UnknownCRS,
    canonical_name,
    normalize_crs,
    valid_bounds,
)
from .transform import from_wgs84, geometry_from_wgs84, geometry_to_wgs84, to_wgs84

__all__ = [
    "BD09",
    "CGCS2000",
    "GCJ02",
    "WGS84",
    "UnknownCRS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "canonical_name",
    "distance_m",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "geometry_from_wgs84",
    "geometry_to_wgs84",
    "metric_crs",
    "metric_transformer",
    "normalize_crs",
    "to_metres",
    "to_wgs84",
    "valid_bounds",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]
