"""Conversion between any accepted CRS and WGS84, for points and for shapely geometries.

Why: the registry stores WGS84 lon/lat, so every input is converted here, once, whatever
it was declared in: GCJ-02 and BD-09 by the formulas in `china`, everything else by PROJ.
WGS84 in is returned as is (no copy), and a point PROJ cannot convert becomes NaN instead
of PROJ's inf marker, so validation can name it.
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from .china import bd09_to_wgs84, gcj02_to_wgs84, wgs84_to_bd09, wgs84_to_gcj02
from .coords import FloatArray, float_pair
from .names import BD09, GCJ02, WGS84, normalize_crs
from .proj import proj_transformer


def _pyproj_transform(
    src: str, dst: str, x: FloatArray, y: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Cached pyproj transform; PROJ's inf marker for an untransformable point becomes NaN."""
    tx, ty = proj_transformer(src, dst).transform(x, y)
    out_x = np.array(tx, dtype=np.float64)
    out_y = np.array(ty, dtype=np.float64)
    bad = ~(np.isfinite(out_x) & np.isfinite(out_y))
    if bad.any():
        out_x[bad] = np.nan
        out_y[bad] = np.nan
    return out_x, out_y


def to_wgs84(
    x: npt.ArrayLike, y: npt.ArrayLike, crs: str | int | None
) -> tuple[FloatArray, FloatArray]:
    """Coordinates in `crs` (x/easting/lon first) to WGS84 lon, lat."""
    name = normalize_crs(crs)
    xa, ya = float_pair(x, y)
    if name == WGS84:
        return xa, ya  # fast path: no copy
    if name == GCJ02:
        return gcj02_to_wgs84(xa, ya)
    if name == BD09:
        return bd09_to_wgs84(xa, ya)
    return _pyproj_transform(name, WGS84, xa, ya)


def from_wgs84(
    lon: npt.ArrayLike, lat: npt.ArrayLike, crs: str | int | None
) -> tuple[FloatArray, FloatArray]:
    """WGS84 lon, lat to coordinates in `crs` (x/easting/lon first)."""
    name = normalize_crs(crs)
    lon_a, lat_a = float_pair(lon, lat)
    if name == WGS84:
        return lon_a, lat_a  # fast path: no copy
    if name == GCJ02:
        return wgs84_to_gcj02(lon_a, lat_a)
    if name == BD09:
        return wgs84_to_bd09(lon_a, lat_a)
    return _pyproj_transform(WGS84, name, lon_a, lat_a)


def transform_geometries(
    geoms: Any, fn: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]
) -> Any:
    """shapely.transform with a lon/lat function; a Z coordinate is carried through."""

    def on_coords(coords: FloatArray) -> FloatArray:
        out = np.array(coords, dtype=np.float64)
        out[:, 0], out[:, 1] = fn(coords[:, 0], coords[:, 1])
        return out

    return shapely.transform(geoms, on_coords, include_z=None)


def _as_geoms(geoms: Any) -> Any:
    """The identity result in the type shapely.transform would return."""
    return geoms if isinstance(geoms, shapely.Geometry) else np.asarray(geoms, dtype=object)


def geometry_to_wgs84(geoms: Any, crs: str | int | None) -> Any:
    """Geometry (or array-like of them, returned as an object ndarray) from `crs` to WGS84."""
    name = normalize_crs(crs)
    if name == WGS84:
        return _as_geoms(geoms)
    return transform_geometries(geoms, lambda x, y: to_wgs84(x, y, name))


def geometry_from_wgs84(geoms: Any, crs: str | int | None) -> Any:
    """Geometry (or array-like of them, returned as an object ndarray) from WGS84 to `crs`."""
    name = normalize_crs(crs)
    if name == WGS84:
        return _as_geoms(geoms)
    return transform_geometries(geoms, lambda x, y: from_wgs84(x, y, name))
