"""OpenAPI schemas of boundary versions: the history, the impact preview, publishing,
diffs and rollback."""

from __future__ import annotations

from typing import Any

from boundaries.levels import LEVELS
from geo_service.web.openapi_cases import BOOL, INT, STR
from geo_service.web.openapi_cases import _object as _closed


def _object(props: dict[str, Any], *, optional: tuple[str, ...] = (),
            description: str | None = None, title: str | None = None) -> dict[str, Any]:
    """A closed object whose properties are all required except `optional`."""
    out = _closed(props, optional=optional)
    out.update({k: v for k, v in (("description", description), ("title", title)) if v})
    return out


NULL_STR = {"type": ["string", "null"]}
NULL_INT = {"type": ["integer", "null"]}
TIME = {"type": "string", "format": "date-time"}
LEVEL = {"type": "string", "enum": list(LEVELS)}
COUNT = {"type": "integer", "minimum": 0}
POINT = _object({"type": {"const": "Point"},
                 "coordinates": {"type": "array", "items": {"type": "number"},
                                 "minItems": 2, "maxItems": 2}})
AREA_CHANGE = {"type": "object", "required": ["code", "level"],
               "properties": {"code": STR, "level": LEVEL},
               "description": "the area's code and level, and what changed "
                              "(boundaries.diff: names, parents, areas in m²)"}
DIFF_LISTS = {k: {"type": "array", "items": AREA_CHANGE}
              for k in ("added", "removed", "renamed", "reparented", "reshaped")}

VERSION_SCHEMAS: dict[str, dict[str, Any]] = {
    "Versions": _object({"versions": {"type": "array", "items": _object({
        "id": INT, "state": {"type": "string", "enum": ["draft", "live", "retired"]},
        "author": {"type": "string", "description": "who made the version (the draft)"},
        "published_by": {**NULL_STR, "description": "who published it"},
        "note": STR, "created_at": TIME,
        "published_at": {"type": ["string", "null"], "format": "date-time"},
        "base_version": {"type": ["integer", "null"],
                         "description": "the published version this one started from"},
        "counts": {"type": "object", "description": "areas per level",
                   "properties": {lv: COUNT for lv in LEVELS},
                   "required": list(LEVELS), "additionalProperties": False},
        "households_moved": {**NULL_INT, "description": "households whose grid or group "
                             "its publish changed"},
        "cases_moved": {**NULL_INT, "description": "open cases its publish moved"},
    })}}, description="Drafts are listed for planners and admins only."),
    "Impact": _object({
        "draft": INT, "base_version": NULL_INT,
        "households": {**COUNT, "description": "households that change grid"},
        "groups": {**COUNT, "description": "ten-household groups that change grid"},
        "workers": {**COUNT, "description": "workers whose area changes grid"},
        "open_cases": {**COUNT, "description": "open cases that change grid"},
        "group_only": _object({"households": COUNT, "open_cases": COUNT},
                              description="those changing only their group or chain"),
        "changed_areas": {"type": "array", "items": STR,
                          "description": "grids and groups whose outline changed or went"},
        "moves": {"type": "array", "items": _object({
            "from": NULL_STR, "to": NULL_STR, "households": COUNT, "groups": COUNT,
            "workers": COUNT, "open_cases": COUNT})},
        "features": _object({"type": {"const": "FeatureCollection"},
                             "features": {"type": "array", "items": _object({
                                 "type": {"const": "Feature"}, "geometry": POINT,
                                 "properties": _object({
                                     "kind": {"enum": ["household", "case"]},
                                     "id": {"type": "string", "description": "a household's "
                                            "code or a case's id"},
                                     "from": NULL_STR, "to": NULL_STR})})}}),
        "features_truncated": BOOL}),
    "PublishRequest": _object({"note": {"type": "string", "maxLength": 2000}},
                              optional=("note",)),
    "Published": _object({"version": INT, "previous": NULL_INT, "households_moved": COUNT,
                          "groups_moved": COUNT, "workers_moved": COUNT,
                          "cases_moved": COUNT}),
    "VersionDiff": {"oneOf": [
        _object({"from": INT, "to": INT, **DIFF_LISTS, "unchanged": COUNT},
                title="json"),
        _object({"type": {"const": "FeatureCollection"}, "features": {
            "type": "array", "items": _object({
                "type": {"const": "Feature"}, "id": STR,
                "geometry": {"$ref": "#/components/schemas/Geometry"},
                "properties": {**AREA_CHANGE, "properties": {
                    **AREA_CHANGE["properties"],
                    "change": {"enum": ["added", "removed", "reshaped"]}},
                    "required": ["code", "level", "change"]}})}},
            title="geojson")]},
}
