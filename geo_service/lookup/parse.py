"""Reading a lookup's input: CRS names, numbers, points, and why a point cannot be right.

Every caller (HTTP, CLI, tests) gets the same errors from here: malformed input is a 400,
a well-formed point that cannot be right (out of range in its CRS, axes swapped) a 422,
each naming the field. A batch's bad points are classified in one vectorised pass, so
refusing 100,000 of them costs what answering them would.
"""

from __future__ import annotations

import itertools
import math
import re
import sys
from typing import Any

import numpy as np

from boundaries.crs import WGS84, canonical_name, to_wgs84, valid_bounds
from geo_service.errors import Invalid, Unprocessable
from geo_service.versions import VersionIndex

_GEOGRAPHIC = {"EPSG:4326", "EPSG:4490", "gcj02", "bd09"}
# CGCS2000 Gauss-Krüger zones (3° and 6°, with and without zone prefix) and Web Mercator.
_PROJECTED = {f"EPSG:{n}" for n in range(4491, 4555)} | {"EPSG:3857"}
SUPPORTED_CRS = "EPSG:4326 (default), EPSG:4490, EPSG:3857, EPSG:4491–4554 (CGCS2000 " \
    "Gauss-Krüger), gcj02, bd09; also as a bare code (4490), WGS84, CRS84, CGCS2000, bd09ll"
# A query-string number: ASCII digits, one optional point, an optional exponent. float()
# alone also reads "١٠٢", "１０２", "1_0", " 1 ", "nan" and "inf".
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_crs(raw: object, field: str = "crs") -> str:
    """A supported CRS name, canonical; 400 naming the accepted ones otherwise.

    Only the names listed in SUPPORTED_CRS: anything else (WKT, PROJ strings, other EPSG
    codes) is refused without asking PROJ, which takes 0.2-0.4 s to parse such text.
    """
    if raw is None or raw == "":
        return WGS84
    crs = canonical_name(raw)
    if crs not in _GEOGRAPHIC and crs not in _PROJECTED:
        shown = repr(raw) if len(repr(raw)) <= 80 else repr(raw)[:77] + "..."
        raise Invalid(f"unknown or unsupported CRS {shown}; "
                      f"accepted: {SUPPORTED_CRS}", field, code="unknown_crs")
    return crs


def parse_number(raw: Any, field: str) -> float:
    """A finite float from a query string (plain ASCII decimal) or a JSON number; 400
    otherwise."""
    if raw is None or raw == "":
        raise Invalid(f"{field} is required", field, code="missing")
    if isinstance(raw, str):
        if not _NUMBER.fullmatch(raw):
            shown = repr(raw) if len(raw) <= 40 else repr(raw[:40]) + "..."
            raise Invalid(f"{field} must be a decimal number such as "
                          f"103.5 or 1.2e6 (ASCII digits), got {shown}", field,
                          code="invalid_number")
    elif isinstance(raw, bool) or not isinstance(raw, int | float):
        raise Invalid(f"{field} must be a number", field, code="invalid_number")
    try:
        value = float(raw)
    except OverflowError:  # JSON integers past 1e308
        value = math.inf
    if not math.isfinite(value):
        raise Invalid(f"{field} must be finite, got {raw!r}", field, code="invalid_number")
    return value


def check_point(vi: VersionIndex, x: float, y: float, crs: str) -> tuple[float, float]:
    """WGS84 lon/lat of an input point, or 422 for out-of-range and swapped axes.

    The common case (in range, inside the service area) is decided here in scalars; any
    other point goes through point_problems, the one rule lookup_batch applies too.
    """
    x0, y0, x1, y1 = valid_bounds(crs)
    if x0 <= x <= x1 and y0 <= y <= y1:
        lon, lat = (x, y) if crs == WGS84 else _wgs(x, y, crs)  # no arrays for the common case
        if (math.isfinite(lon) and math.isfinite(lat)
                and (crs not in _GEOGRAPHIC or _in_service_area(vi, lon, lat))):
            return lon, lat
    lons, lats, kinds = point_problems(vi, np.array([x]), np.array([y]), crs)
    if kinds[0]:
        code, field, message = problem_of(int(kinds[0]), crs, x, y)
        raise (Invalid if code == "invalid_number" else Unprocessable)(message, field, code=code)
    return float(lons[0]), float(lats[0])


# What can be wrong with a point given as two numbers, by kind (0: nothing).
_LON_NAN, _LAT_NAN, _LON_RANGE, _LAT_RANGE, _SWAPPED, _NO_POSITION = 1, 2, 3, 4, 5, 6


def point_problems(vi: VersionIndex, xs: np.ndarray, ys: np.ndarray, crs: str
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WGS84 lon/lat (NaN where the point is bad) and a problem kind per input point.

    Vectorised: a batch of bad points costs what a batch of good ones does. Out of range
    means outside valid_bounds(crs); a geographic point out of range, or outside the service
    area, whose swapped axes land in the service area is `swapped` instead.
    """
    kinds = np.zeros(len(xs), dtype=np.int8)
    finite = np.isfinite(xs) & np.isfinite(ys)
    x0, y0, x1, y1 = valid_bounds(crs)
    y_out = finite & ((ys < y0) | (ys > y1))
    x_out = finite & ((xs < x0) | (xs > x1)) & ~y_out
    ok = finite & ~y_out & ~x_out
    kinds[~np.isfinite(ys)] = _LAT_NAN
    kinds[~np.isfinite(xs)] = _LON_NAN
    kinds[y_out] = _LAT_RANGE
    kinds[x_out] = _LON_RANGE
    if ok.all():
        lon, lat = to_wgs84(xs, ys, crs)
    else:
        lon, lat = np.full(len(xs), np.nan), np.full(len(xs), np.nan)
        if ok.any():
            lon[ok], lat[ok] = to_wgs84(xs[ok], ys[ok], crs)
    placed = np.isfinite(lon) & np.isfinite(lat)
    kinds[ok & ~placed] = _NO_POSITION
    if crs in _GEOGRAPHIC:
        maybe = ((y_out | x_out) & (np.abs(ys) <= 180) & (np.abs(xs) <= 90)) | (
            placed & ~_in_service_areas(vi, lon, lat))
        if maybe.any():
            which = np.flatnonzero(maybe)
            slon, slat = to_wgs84(ys[which], xs[which], crs)
            kinds[which[_in_service_areas(vi, slon, slat)]] = _SWAPPED
    bad = kinds != 0
    if bad.any():
        lon, lat = np.where(bad, np.nan, lon), np.where(bad, np.nan, lat)
    return lon, lat, kinds


def problem_of(kind: int, crs: str, x: float | None = None, y: float | None = None
             ) -> tuple[str, str, str]:
    """(code, field, message) for a point's problem kind; the message quotes the point
    when given one (a batch lists its errors by index instead, ~10× cheaper)."""
    got = f"; got x={x}, y={y}" if x is not None else ""
    if kind in (_LON_NAN, _LAT_NAN):
        field = "lon" if kind == _LON_NAN else "lat"
        return "invalid_number", field, f"{field} must be a finite JSON number{got}"
    if kind == _SWAPPED:
        return ("swapped_axes", "lon", "far outside the service area but inside it with "
                f"longitude and latitude swapped: send lon first, then lat{got}")
    field = "lat" if kind == _LAT_RANGE else "lon"
    if kind == _NO_POSITION:
        return "out_of_range", field, f"not a valid position in {crs}{got}"
    if crs in _GEOGRAPHIC:
        return ("out_of_range", field, "latitude must be within ±90 and longitude within "
                f"±180{got}")
    x0, y0, x1, y1 = valid_bounds(crs)
    return ("out_of_range", field, f"in {crs} x must be within {x0:.0f}..{x1:.0f} and y "
            f"within {y0:.0f}..{y1:.0f}{got}")


def _wgs(x: float, y: float, crs: str) -> tuple[float, float]:
    lon, lat = to_wgs84(x, y, crs)
    return float(lon), float(lat)


def _in_service_area(vi: VersionIndex, lon: float, lat: float, margin: float = 0.5) -> bool:
    x0, y0, x1, y1 = vi.grids.bounds
    return x0 - margin <= lon <= x1 + margin and y0 - margin <= lat <= y1 + margin


def _in_service_areas(vi: VersionIndex, lon: np.ndarray, lat: np.ndarray,
                      margin: float = 0.5) -> np.ndarray:
    x0, y0, x1, y1 = vi.grids.bounds
    return ((lon >= x0 - margin) & (lon <= x1 + margin)
            & (lat >= y0 - margin) & (lat <= y1 + margin))


def feature_points(features: list[Any]
                   ) -> tuple[list[Any], list[Any], dict[int, tuple[str, str, str]]]:
    """Ids, coordinates and unusable features (index -> code, field, reason) of a GeoJSON
    FeatureCollection's features: only a Point is a point."""
    ids: list[Any] = []
    points: list[Any] = []
    problems: dict[int, tuple[str, str, str]] = {}
    for i, f in enumerate(features):
        feature = f if isinstance(f, dict) else {}
        geom = feature.get("geometry")
        ids.append(feature.get("id"))
        kind = geom.get("type") if isinstance(geom, dict) else None
        if kind == "Point":
            points.append(geom.get("coordinates"))
            continue
        points.append(None)
        problems[i] = ("invalid_geometry", "geometry",
                       f"a {str(kind)[:40]} is not a point: only Point geometries are looked up"
                       if kind is not None else "a feature needs a Point geometry")
    return ids, points, problems


_NUMBER_TYPES = {int, float}


def read_points(points: list[Any]
                 ) -> tuple[np.ndarray, np.ndarray, dict[int, tuple[str, str, str]]]:
    """x and y arrays, NaN where an entry is not a pair of JSON numbers, and why those are
    not (JSON strings, true/false and null are not coordinates, whatever the other points
    are, though numpy would read "102.9" and true as numbers)."""
    try:
        arr = np.asarray(points, dtype=np.float64)
        if arr.shape == (len(points), 2) and set(
                map(type, itertools.chain.from_iterable(points))) <= _NUMBER_TYPES:
            return arr[:, 0].copy(), arr[:, 1].copy(), {}
    except (TypeError, ValueError, OverflowError):
        pass
    xs = np.full(len(points), np.nan)
    ys = np.full(len(points), np.nan)
    unread: dict[int, tuple[str, str, str]] = {}
    for i, p in enumerate(points):
        if not isinstance(p, list) or len(p) not in (2, 3):
            unread[i] = ("invalid_point", "point",
                         "a point must be [lon, lat] (or [lon, lat, altitude])")
            continue
        for field, v in zip(("lon", "lat", "altitude"), p, strict=False):
            if type(v) not in _NUMBER_TYPES or not abs(v) <= sys.float_info.max:
                shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:37] + "..."
                unread[i] = ("invalid_number", field,
                             f"{field} must be a finite JSON number, got {shown}")
                break
        else:
            xs[i], ys[i] = p[:2]  # a GeoJSON position may carry an altitude: not needed here
    return xs, ys, unread
