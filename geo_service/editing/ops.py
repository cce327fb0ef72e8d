"""Reading one edit of a draft: the op, its fields, and geometry in any accepted CRS.

Why: every bad input must be refused before anything is written, with the one error
shape naming the field (`geometry.coordinates`, `at`, `codes[1]`): wrong types, NaN,
a self-intersecting polygon (400); coordinates out of range or with longitude and
latitude swapped (422, as the lookup says it); too many vertices (413).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from boundaries.crs import WGS84, geometry_to_wgs84, valid_bounds
from boundaries.levels import LEVELS
from boundaries.validate import CHINA_BBOX
from geo_service.errors import Invalid, TooLarge, Unprocessable
from geo_service.inputs import finite
from geo_service.lookup import parse_crs

OPS = ("reshape", "add", "move_vertex", "split", "merge", "delete", "rename")
FIELDS = {
    "reshape": ("code", "geometry"),
    "add": ("level", "code", "name", "parent_code", "geometry"),
    "move_vertex": ("level", "at", "to"),
    "split": ("code", "line", "new_code", "new_name"),
    "merge": ("codes", "into"),
    "delete": ("code",),
    "rename": ("code", "name"),
}
CODE = re.compile(r"[0-9A-Za-z_.-]{1,32}")
MAX_NAME = 200
MAX_MERGE = 50


@dataclass
class Op:
    """One edit, read: codes as text, geometry in WGS84."""

    op: str
    code: str | None = None
    level: str | None = None
    name: str | None = None
    parent_code: str | None = None
    geometry: BaseGeometry | None = None
    at: tuple[float, float] | None = None
    to: tuple[float, float] | None = None
    new_code: str | None = None
    new_name: str | None = None
    codes: list[str] = field(default_factory=list)
    into: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The op as the edit log keeps it (geometry as WKT: readable, for the record)."""
        out: dict[str, Any] = {"op": self.op}
        for key in ("code", "level", "name", "parent_code", "new_code", "new_name", "into"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.codes:
            out["codes"] = self.codes
        if self.at is not None:
            out["at"], out["to"] = list(self.at), list(self.to or ())
        if self.geometry is not None:
            out["geometry"] = shapely.to_wkt(self.geometry, rounding_precision=-1)
        return out


def read_op(body: Any, *, max_vertices: int) -> Op:
    """One edit from a JSON body; 4xx naming the field for anything wrong."""
    if not isinstance(body, dict):
        raise Invalid("expected a JSON object with an op", "body", code="invalid_body")
    name = body.get("op")
    if name not in OPS:
        raise Invalid(f"op must be one of {', '.join(OPS)}", "op",
                      code="missing" if name is None else "invalid_choice")
    wanted = FIELDS[name]
    allowed = {"op", "crs", *wanted}
    for key in body:
        if key not in allowed:
            raise Invalid(f"unknown field {str(key)[:40]!r} for op {name}; expected "
                          f"{', '.join(wanted)}", str(key)[:40], code="unknown_field")
    for key in wanted:
        if body.get(key) is None:
            raise Invalid(f"{key} is required for op {name}", key, code="missing")
    crs = parse_crs(body.get("crs"), "crs") if "crs" in body else WGS84
    op = Op(name)
    for key in ("code", "parent_code", "new_code", "into"):
        if key in wanted:
            setattr(op, key, read_code(body[key], key))
    for key in ("name", "new_name"):
        if key in wanted:
            setattr(op, key, read_name(body[key], key))
    if "level" in wanted:
        level = body["level"]
        if level not in LEVELS or level == "prefecture":
            raise Invalid(f"level must be one of {', '.join(LEVELS[1:])}", "level",
                          code="invalid_level")
        op.level = level
    if "geometry" in wanted:
        op.geometry = read_geometry(body["geometry"], "geometry", crs,
                                    ("Polygon", "MultiPolygon"), max_vertices)
    if "line" in wanted:
        op.geometry = read_geometry(body["line"], "line", crs, ("LineString",), max_vertices)
    if "at" in wanted:
        op.at = read_position(body["at"], "at", crs)
        op.to = read_position(body["to"], "to", crs)
    if "codes" in wanted:
        codes = body["codes"]
        if not isinstance(codes, list) or not 2 <= len(codes) <= MAX_MERGE:
            raise Invalid(f"codes must be a list of 2 to {MAX_MERGE} area codes", "codes",
                          code="invalid")
        op.codes = [read_code(c, f"codes[{i}]") for i, c in enumerate(codes)]
        if len(set(op.codes)) != len(op.codes):
            raise Invalid("codes names an area twice", "codes", code="repeated_code")
        if op.into not in op.codes:
            raise Invalid("into must be one of codes", "into", code="invalid_into")
    if op.new_code is not None and op.new_code == op.code:
        raise Invalid("new_code must differ from code", "new_code", code="repeated_code")
    return op


def read_code(raw: Any, field: str) -> str:
    if not isinstance(raw, str) or not CODE.fullmatch(raw):
        raise Invalid(f"{field} must be an area code (1-32 letters, digits, '.', '_', '-')",
                      field, code="invalid")
    return raw


def read_name(raw: Any, field: str) -> str:
    if (not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_NAME
            or any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in raw)):
        raise Invalid(f"{field} must be text of 1 to {MAX_NAME} characters without control "
                      "characters", field, code="invalid_text")
    return raw.strip()


def _positions(raw: Any, field: str, minimum: int, count: list[int], limit: int
               ) -> list[tuple[float, float]]:
    if not isinstance(raw, list) or len(raw) < minimum:
        raise Invalid(f"{field} must be a list of at least {minimum} positions", field,
                      code="invalid_geometry")
    count[0] += len(raw)
    if count[0] > limit:
        raise TooLarge(f"the geometry has more than {limit} vertices", field,
                       code="too_large")
    out = []
    for p in raw:
        if not isinstance(p, list) or not 2 <= len(p) <= 3:
            raise Invalid(f"{field} must hold positions [x, y]", field,
                          code="invalid_geometry")
        out.append((finite(p[0], field), finite(p[1], field)))
    return out


def read_geometry(raw: Any, field: str, crs: str, kinds: tuple[str, ...],
                  max_vertices: int) -> BaseGeometry:
    """A GeoJSON geometry of one of `kinds` in `crs`, as valid WGS84 shapely."""
    if not isinstance(raw, dict) or raw.get("type") not in kinds:
        raise Invalid(f"{field} must be a GeoJSON {' or '.join(kinds)}", field,
                      code="invalid_geometry")
    extra = set(raw) - {"type", "coordinates", "bbox", "crs"}
    if extra:
        raise Invalid(f"{field} has unknown member {sorted(extra)[0][:40]!r}", field,
                      code="invalid_geometry")
    coords, where, count = raw.get("coordinates"), f"{field}.coordinates", [0]
    if raw["type"] == "LineString":
        geom: BaseGeometry = shapely.LineString(_positions(coords, where, 2, count,
                                                           max_vertices))
    else:
        polys = [coords] if raw["type"] == "Polygon" else coords
        if not isinstance(polys, list) or not polys:
            raise Invalid(f"{where} must hold polygons", where, code="invalid_geometry")
        parts = []
        for poly in polys:
            if not isinstance(poly, list) or not poly:
                raise Invalid(f"{where} must hold rings", where, code="invalid_geometry")
            rings = [_positions(r, where, 4, count, max_vertices) for r in poly]
            if any(r[0] != r[-1] for r in rings):
                raise Invalid(f"{where}: a ring must end where it starts", where,
                              code="invalid_geometry")
            parts.append(shapely.Polygon(rings[0], rings[1:]))
        geom = shapely.MultiPolygon(parts)
    _check_range(geom, where, crs)
    geom = geometry_to_wgs84(geom, crs)
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        raise Unprocessable(f"{field} cannot be converted from {crs}", where,
                            code="out_of_range")
    _check_place(geom, where)
    if geom.is_empty or not geom.is_valid:
        reason = shapely.is_valid_reason(geom) if not geom.is_empty else "empty"
        raise Invalid(f"{field} is not a valid {raw['type']}: {reason}", field,
                      code="invalid_geometry")
    return geom


def read_position(raw: Any, field: str, crs: str) -> tuple[float, float]:
    """One [x, y] position in `crs`, as WGS84 lon, lat."""
    if not isinstance(raw, list) or not 2 <= len(raw) <= 3:
        raise Invalid(f"{field} must be a position [x, y]", field, code="invalid_point")
    point = shapely.Point(finite(raw[0], field), finite(raw[1], field))
    _check_range(point, field, crs)
    point = geometry_to_wgs84(point, crs)
    if not (math.isfinite(point.x) and math.isfinite(point.y)):
        raise Unprocessable(f"{field} cannot be converted from {crs}", field,
                            code="out_of_range")
    _check_place(point, field)
    return point.x, point.y


def _check_range(geom: BaseGeometry, field: str, crs: str) -> None:
    x0, y0, x1, y1 = valid_bounds(crs)
    minx, miny, maxx, maxy = geom.bounds
    if minx < x0 or maxx > x1 or miny < y0 or maxy > y1:
        if x1 <= 180:  # geographic: latitude and longitude exchanged is the likely cause
            _check_place(geom, field)
        raise Unprocessable(f"{field} lies outside the valid range of {crs} "
                            f"({x0:g}..{x1:g}, {y0:g}..{y1:g})", field, code="out_of_range")


def _check_place(geom: BaseGeometry, field: str) -> None:
    """422 for shapes outside China: with longitude and latitude swapped, say so."""
    lon0, lat0, lon1, lat1 = CHINA_BBOX
    minx, miny, maxx, maxy = geom.bounds
    if lon0 <= minx and maxx <= lon1 and lat0 <= miny and maxy <= lat1:
        return
    if lon0 <= miny and maxy <= lon1 and lat0 <= minx and maxx <= lat1:
        raise Unprocessable(f"{field} lies outside China but inside it with x and y "
                            "exchanged: send longitude first, then latitude", field,
                            code="swapped_axes")
    raise Unprocessable(f"{field} lies outside China ({lon0}-{lon1} E, {lat0}-{lat1} N); "
                        "is the CRS right?", field, code="out_of_range")
