"""The point-in-grid lookup: which grid holds a point, its chain, and who answers for it.

Input checking lives here too, so every caller (HTTP, CLI, tests) gets the same errors:
malformed input is a 400, a well-formed point that cannot be right (out of range, axes
swapped) a 422, each naming the field.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
import orjson
from orjson import Fragment

from boundaries.crs import WGS84, UnknownCRS, from_wgs84, normalize_crs, to_wgs84

from .errors import ApiError
from .registry import VersionIndex
from .roster import PeopleDirectory
from .scope import EVERYTHING, Scope

MAX_BATCH = 100_000
_GEOGRAPHIC = {"EPSG:4326", "EPSG:4490", "gcj02", "bd09"}
# CGCS2000 Gauss-Krüger zones (3° and 6°, with and without zone prefix) and Web Mercator.
_PROJECTED = {f"EPSG:{n}" for n in range(4491, 4555)} | {"EPSG:3857"}
SUPPORTED_CRS = "EPSG:4326 (default), EPSG:4490, EPSG:3857, EPSG:4491–4554 (CGCS2000 " \
    "Gauss-Krüger), gcj02, bd09"


def parse_crs(raw: str | None, field: str = "crs") -> str:
    """A supported CRS name, canonical; 400 naming the accepted ones otherwise."""
    try:
        crs = normalize_crs(raw or "EPSG:4326")
    except UnknownCRS:
        crs = None
    if crs not in _GEOGRAPHIC and crs not in _PROJECTED:
        raise ApiError(400, "unknown_crs", f"unknown or unsupported CRS {raw!r}; "
                       f"accepted: {SUPPORTED_CRS}", field)
    return crs


def parse_number(raw: Any, field: str) -> float:
    """A finite float from a query string or JSON value; 400 otherwise."""
    if raw is None or raw == "":
        raise ApiError(400, "missing", f"{field} is required", field)
    if isinstance(raw, bool):
        raise ApiError(400, "invalid_number", f"{field} must be a number", field)
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON ints past 1e308
        raise ApiError(400, "invalid_number", f"{field} must be a number, got {raw!r}",
                       field) from None
    if not math.isfinite(value):
        raise ApiError(400, "invalid_number", f"{field} must be finite, got {raw!r}", field)
    return value


def check_point(vi: VersionIndex, x: float, y: float, crs: str) -> tuple[float, float]:
    """WGS84 lon/lat of an input point, or 422 for out-of-range and swapped axes."""
    if crs in _GEOGRAPHIC and (abs(x) > 180 or abs(y) > 90):
        if abs(y) <= 180 and abs(x) <= 90 and _in_service_area(vi, *_wgs(y, x, crs)):
            raise _swapped(x, y)
        field = "lat" if abs(y) > 90 else "lon"
        raise ApiError(422, "out_of_range", "latitude must be within ±90 and longitude "
                       f"within ±180; got lon={x}, lat={y}", field)
    lon, lat = (x, y) if crs == WGS84 else _wgs(x, y, crs)  # no arrays for the common case
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise ApiError(422, "out_of_range", f"({x}, {y}) is not a valid position in {crs}",
                       "lon")
    if (crs in _GEOGRAPHIC and not _in_service_area(vi, lon, lat)
            and _in_service_area(vi, *_wgs(y, x, crs))):
        raise _swapped(x, y)
    return lon, lat


def _swapped(x: float, y: float) -> ApiError:
    return ApiError(422, "swapped_axes", f"({x}, {y}) is far outside the service area but "
                    "inside it with longitude and latitude swapped: send lon first, then lat",
                    "lon")


def _wgs(x: float, y: float, crs: str) -> tuple[float, float]:
    lon, lat = to_wgs84(x, y, crs)
    return float(lon), float(lat)


def _in_service_area(vi: VersionIndex, lon: float, lat: float, margin: float = 0.5) -> bool:
    x0, y0, x1, y1 = vi.grids.bounds
    return x0 - margin <= lon <= x1 + margin and y0 - margin <= lat <= y1 + margin


def chain_of(vi: VersionIndex, code: str | None) -> list[dict[str, Any]]:
    return [{"level": a.level, "code": a.code, "name": a.name} for a in vi.chain(code)]


def area_brief(vi: VersionIndex, code: str | None) -> dict[str, Any] | None:
    info = vi.areas.get(code) if code else None
    return {"code": info.code, "name": info.name, "kind": info.kind} if info else None


def _encoded(vi: VersionIndex, grid: str, group: str | None
             ) -> tuple[Fragment, Fragment | None, Fragment]:
    """The grid's and the group's briefs and the grid's chain as JSON, encoded once per
    version and pair (a race only encodes them twice)."""
    key = (grid, group)
    parts = vi.json.get(key)
    if parts is None:
        parts = vi.json[key] = (Fragment(orjson.dumps(area_brief(vi, grid))),
                                Fragment(orjson.dumps(area_brief(vi, group))) if group else None,
                                Fragment(orjson.dumps(chain_of(vi, grid))))
    return parts


def encode_answers(vi: VersionIndex) -> None:
    """Encode the answer parts of every (grid, group) pair the layers nest, once per
    index build (~0.1 s for the demo), so no single lookup pays for a first encoding."""
    for info in vi.areas.values():
        if info.level == "grid":
            _encoded(vi, info.code, None)
        elif info.level == "group" and info.parent_code in vi.areas:
            _encoded(vi, info.parent_code, info.code)


def lookup_point(vi: VersionIndex, lon: float, lat: float, *, near_m: float,
                 people: PeopleDirectory, role: str, scope: Scope = EVERYTHING
                 ) -> dict[str, Any]:
    """The grid, group, chain, near-boundary flag and responsible people for one WGS84
    point, as `role` and `scope` may see them."""
    pos = vi.grids.assign_one(lon, lat)
    answer: dict[str, Any] = {"version": vi.version, "lon": lon, "lat": lat}
    if pos < 0:
        near, dist = vi.grids.nearest(lon, lat)
        nearest = str(vi.grids.codes[near]) if near >= 0 else None
        answer.update(grid=None, group=None, chain=[], near_boundary=False, people=[],
                      nearest={"grid": area_brief(vi, nearest), "distance_m": round(dist, 1)}
                      if scope.covers(vi, nearest) else None)
        return answer
    grid = str(vi.grids.codes[pos])
    if scope.area is not None and not scope.covers(vi, grid):
        raise scope.refusal("lon")
    gpos = vi.groups.assign_one(lon, lat)
    group = str(vi.groups.codes[gpos]) if gpos >= 0 else None
    brief, group_brief, chain = _encoded(vi, grid, group)
    answer.update(grid=brief, group=group_brief, chain=chain,
                  near_boundary=vi.grids.near_boundary_one(lon, lat, pos, near_m),
                  people=people.for_role((grid, group) if group else (grid,), role))
    return answer


def output_point(answer: dict[str, Any], crs: str) -> dict[str, Any]:
    """Echo the point in the caller's CRS as well."""
    if crs != "EPSG:4326":
        x, y = from_wgs84(answer["lon"], answer["lat"], crs)
        answer["point"] = {"crs": crs, "x": float(x), "y": float(y)}
    return answer


def lookup_batch(vi: VersionIndex, points: list[Any], crs: str, *, chain: bool = False,
                 scope: Scope = EVERYTHING) -> dict[str, Any]:
    """Grid and group codes for many points in input order; bad points, and points in
    grids outside `scope`, listed by index."""
    n = len(points)
    xs, ys = _coordinates(points)
    errors: list[dict[str, Any]] = []
    lon, lat = to_wgs84(xs, ys, crs)
    bad = ~(np.isfinite(lon) & np.isfinite(lat))
    if crs in _GEOGRAPHIC:
        bad |= (np.abs(xs) > 180) | (np.abs(ys) > 90)
    lon[bad] = np.nan
    pos = vi.grids.assign(lon, lat)
    gpos = vi.groups.assign(lon, lat)
    hidden = scope.grids_outside(vi, pos)
    pos[hidden] = gpos[hidden] = -1
    grids = vi.grids.codes_of(pos)
    for i in np.flatnonzero(bad):
        errors.append({"index": int(i), "reason": _point_reason(points[i], vi, crs)})
    errors.extend({"index": int(i), "reason": f"outside area {scope.area}, the area this "
                   "token is limited to"} for i in hidden)
    errors.sort(key=lambda e: e["index"])
    out: dict[str, Any] = {"version": vi.version, "count": n, "grid": grids.tolist(),
                           "group": vi.groups.codes_of(gpos).tolist(), "errors": errors}
    if chain:
        cache: dict[str, list[dict[str, Any]]] = {}
        out["chain"] = [cache.setdefault(g, chain_of(vi, g)) if g else [] for g in grids]
    return out


def _is_number(v: Any) -> bool:
    return (isinstance(v, int | float) and not isinstance(v, bool)
            and abs(v) <= sys.float_info.max)


def _coordinates(points: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """x and y arrays; NaN where an entry is not a pair of numbers (JSON true/false are
    not coordinates, though numpy would read them as 1 and 0)."""
    try:
        arr = np.asarray(points, dtype=np.float64)
        if arr.shape == (len(points), 2) and not any(
                v is True or v is False for p in points for v in p):
            return arr[:, 0].copy(), arr[:, 1].copy()
    except (TypeError, ValueError, OverflowError):
        pass
    xs = np.full(len(points), np.nan)
    ys = np.full(len(points), np.nan)
    for i, p in enumerate(points):
        if isinstance(p, list | tuple) and len(p) == 2 and all(map(_is_number, p)):
            xs[i], ys[i] = p
    return xs, ys


def _point_reason(p: Any, vi: VersionIndex, crs: str) -> str:
    try:
        if not isinstance(p, list | tuple) or len(p) != 2:
            return "a point must be [lon, lat]"
        x, y = (parse_number(v, f) for v, f in zip(p, ("lon", "lat"), strict=True))
        check_point(vi, x, y, crs)
    except ApiError as err:
        return err.message
    return "not a valid position"
