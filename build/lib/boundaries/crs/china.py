"""The Chinese map offsets: GCJ-02 (AMap/Gaode, Tencent) and BD-09 (Baidu), to and from WGS84.

Why: phone map SDKs in China report GCJ-02 or BD-09, whose points sit a few hundred metres
from WGS84, and PROJ knows neither. These are the publicly circulated formulas, vectorised,
with inverses iterated to ~1e-9 degrees (the one-step inverse most libraries ship is metres
off, a wrong grid near a boundary). Longitude first; NaN stays NaN.
"""

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from .coords import FloatArray, float_arrays, float_pair

# Constants of the publicly circulated GCJ-02 formula: Krasovsky 1940 semi-major axis and
# first eccentricity squared, and Baidu's BD-09 angle factor.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323
_BD_X_PI = math.pi * 3000.0 / 180.0
# The bounding box the public formula treats as "China" (lon min, lon max, lat min, lat max);
# outside it GCJ-02 equals WGS84. This is the wider of the two boxes in circulation (the other,
# 73.66-135.05 E / 3.86-53.55 N, cuts off China's northern tip at Mohe).
_CHINA_BOX = (72.004, 137.8347, 0.8293, 55.8271)
_INVERSE_TOL_DEG = 1e-9  # about 0.1 mm
_INVERSE_MAX_ITER = 10
# Bound on how much the GCJ offset (degrees) changes per degree moved, i.e. the contraction
# factor of the fixed-point inverse. Measured max over the China box: 0.0075 (0.0051 in Gannan).
_GCJ_LIPSCHITZ = 0.01



def _sines_of_multiples(
    t: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """sin of t, 4t, 12t, 24t and 72t from one np.sin and one np.cos of t.

    Why: np.sin dominates the cost of the GCJ formula, and its angles x*pi/12, x*pi/3,
    x*pi, 2*x*pi and 6*x*pi are multiples of one another; double- and triple-angle
    identities cost a few multiplications each and lose ~1e-14 at most.
    """
    s1, c1 = np.sin(t), np.cos(t)
    s2, c2 = 2.0 * s1 * c1, 1.0 - 2.0 * s1 * s1  # 2t
    s4, c4 = 2.0 * s2 * c2, 1.0 - 2.0 * s2 * s2  # 4t
    s4_sq = s4 * s4
    s12 = s4 * (3.0 - 4.0 * s4_sq)  # 12t
    c12 = c4 * (4.0 * c4 * c4 - 3.0)
    s24 = 2.0 * s12 * c12  # 24t
    s72 = s24 * (3.0 - 4.0 * s24 * s24)  # 72t
    return s1, s4, s12, s24, s72


def _gcj_offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 minus WGS84 in degrees at WGS84 (lon, lat): the public forward formula.

    In the published form with a = pi*(lon - 105) and b = pi*(lat - 35), the sines are of
    a/12, a/3, a, 2a, 6a, a/30 and of b/12, b/3, b, b/30.
    """
    x = lon - 105.0
    y = lat - 35.0
    sx12, sx3, sx1, sx2, sx6 = _sines_of_multiples(x * (math.pi / 12.0))
    sy12, sy3, sy1, _, _ = _sines_of_multiples(y * (math.pi / 12.0))
    sx30 = np.sin(x * (math.pi / 30.0))
    sy30 = np.sin(y * (math.pi / 30.0))
    common = (20.0 * sx6 + 20.0 * sx2) * (2.0 / 3.0)
    sqrt_abs_x = np.sqrt(np.abs(x))
    xy = x * y
    north = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * xy
        + 0.2 * sqrt_abs_x
        + common
        + (20.0 * sy1 + 40.0 * sy3) * (2.0 / 3.0)
        + (160.0 * sy12 + 320.0 * sy30) * (2.0 / 3.0)
    )
    east = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * xy
        + 0.1 * sqrt_abs_x
        + common
        + (20.0 * sx1 + 40.0 * sx3) * (2.0 / 3.0)
        + (150.0 * sx12 + 300.0 * sx30) * (2.0 / 3.0)
    )
    # Metres on the Krasovsky ellipsoid to degrees: meridional and prime-vertical radii.
    sin_phi = np.sin(np.radians(lat))
    sin2 = sin_phi * sin_phi
    cos_phi = np.sqrt(1.0 - sin2)  # |lat| < 56 inside the box, so cos > 0
    w2 = 1.0 - _GCJ_EE * sin2
    w = np.sqrt(w2)
    dlat = north * (180.0 / math.pi) * (w2 * w) / (_GCJ_A * (1.0 - _GCJ_EE))
    dlon = east * (180.0 / math.pi) * w / (_GCJ_A * cos_phi)
    return dlon, dlat


def _inside_china(lon: FloatArray, lat: FloatArray) -> npt.NDArray[np.bool_]:
    """Where the public formula applies an offset (NaN and inf are outside)."""
    lon_min, lon_max, lat_min, lat_max = _CHINA_BOX
    return (lon >= lon_min) & (lon <= lon_max) & (lat >= lat_min) & (lat <= lat_max)


def _where_in_china(
    lon: FloatArray,
    lat: FloatArray,
    fn: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
) -> tuple[FloatArray, FloatArray]:
    """Apply `fn` to the points inside the China box, copy the others unchanged."""
    inside = _inside_china(lon, lat)
    if inside.all():
        return fn(lon, lat)
    out_lon = np.array(lon, dtype=np.float64)
    out_lat = np.array(lat, dtype=np.float64)
    if inside.any():
        out_lon[inside], out_lat[inside] = fn(lon[inside], lat[inside])
    return out_lon, out_lat


def _wgs_to_gcj_all(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def _gcj_to_wgs_all(glon: FloatArray, glat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Solve forward(w) = g by fixed-point iteration w <- g - offset(w).

    The map contracts by q <= _GCJ_LIPSCHITZ, so after a step of size d the remaining error
    is at most d*q/(1-q): we stop once that bound is under 1e-9 degrees (3-4 evaluations
    of the formula, not the 5 a "step < 1e-9" rule would take).
    """
    q = _GCJ_LIPSCHITZ
    stop_step = _INVERSE_TOL_DEG * (1.0 - q) / q
    dlon, dlat = _gcj_offset(glon, glat)
    lon, lat = glon - dlon, glat - dlat
    for _ in range(_INVERSE_MAX_ITER):
        dlon, dlat = _gcj_offset(lon, lat)
        new_lon, new_lat = glon - dlon, glat - dlat
        step = np.maximum(np.abs(new_lon - lon), np.abs(new_lat - lat))
        lon, lat = new_lon, new_lat
        if not np.any(step > stop_step):  # NaN compares False: it never holds us up
            break
    return lon, lat


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """WGS84 to GCJ-02 (AMap/Tencent) by the public formula; outside China unchanged."""
    return float_arrays(*_where_in_china(*float_pair(lon, lat), _wgs_to_gcj_all))


def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 to WGS84: the iterative inverse of wgs84_to_gcj02, exact to ~1e-9 degrees.

    The one-step approximation most libraries ship is metres off; that is a wrong grid
    near a boundary, hence the iteration.
    """
    return float_arrays(*_where_in_china(*float_pair(lon, lat), _gcj_to_wgs_all))




def _gcj_to_bd(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _BD_X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BD_X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 to BD-09 (Baidu) by the public formula, which applies everywhere."""
    return float_arrays(*_gcj_to_bd(*float_pair(lon, lat)))


def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """BD-09 to GCJ-02: the public closed form, refined to invert gcj02_to_bd09 exactly.

    The published closed form alone is up to ~1 m off its own forward formula; two or three
    fixed-point steps remove that so BD-09 round trips to ~1e-9 degrees.
    """
    blon, blat = float_pair(lon, lat)
    x = blon - 0.0065
    y = blat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
    glon, glat = z * np.cos(theta), z * np.sin(theta)
    for _ in range(_INVERSE_MAX_ITER):
        flon, flat = _gcj_to_bd(glon, glat)
        dlon, dlat = blon - flon, blat - flat
        glon, glat = glon + dlon, glat + dlat
        if not np.any(np.maximum(np.abs(dlon), np.abs(dlat)) > _INVERSE_TOL_DEG):
            break
    return float_arrays(glon, glat)


def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """WGS84 to BD-09, through GCJ-02 as Baidu defines it."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """BD-09 to WGS84, through GCJ-02."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
