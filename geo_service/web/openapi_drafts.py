"""OpenAPI schemas of the boundary editor's drafts (/api/v1/drafts, issue #12)."""

from __future__ import annotations

from typing import Any

from boundaries.levels import LEVELS
from geo_service.editing.drafts import MAX_NOTE
from geo_service.editing.ops import MAX_MERGE, MAX_NAME, OPS
from geo_service.lookup import SUPPORTED_CRS
from geo_service.web.openapi_cases import BOOL, INT, STR, TIME, _object

NULL_STR = {"type": ["string", "null"]}
CODE = {"type": "string", "pattern": "^[0-9A-Za-z_.-]{1,32}$"}
NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME}
GEOMETRY = {"type": "object", "required": ["type", "coordinates"],
            "description": "GeoJSON geometry in `crs` (default EPSG:4326)",
            "properties": {"type": STR, "coordinates": {"type": "array"}}}
POSITION = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 3}
EDIT_LEVEL = {"type": "string", "enum": list(LEVELS[1:])}
CRS = {"type": "string", "description": SUPPORTED_CRS}


def _op(op_name: str, /, **props: Any) -> dict[str, Any]:
    return {**_object({"op": {"const": op_name}, **props, "crs": CRS}, optional=("crs",)),
            "title": op_name}


DRAFT_SCHEMAS: dict[str, dict[str, Any]] = {
    "NewDraft": _object({"note": {"type": "string", "maxLength": MAX_NOTE},
                         "area": {"type": "string", "description": "the area the draft "
                                  "edits (inside the token's scope)"}},
                        optional=("note", "area")),
    "DraftProblem": _object({
        "code": {**NULL_STR, "description": "the feature's own code (a gap: the parent's)"},
        "index": {"type": ["integer", "null"],
                  "description": "its position among the areas validated, by code"},
        "kind": {"type": "string", "description": "overlap, outside_parent, gap, "
                 "invalid_geometry, ... (as the import report)"},
        "level": STR, "fatal": BOOL, "message": STR,
        "area_m2": {"type": "number"}, "other_code": STR,
        "geometry": {"anyOf": [{"type": "object"}, {"type": "null"}],
                     "description": "what to draw in red"},
    }, optional=("area_m2", "other_code")),
    "DraftFeatureCollection": _object({
        "type": {"const": "FeatureCollection"},
        "features": {"type": "array", "items": _object({
            "type": {"const": "Feature"}, "id": STR,
            "properties": _object({"code": STR, "name": STR, "level": STR,
                                   "parent_code": NULL_STR, "changed": BOOL}),
            "geometry": {"type": "object"}})}}),
    "DraftEdit": {"oneOf": [
        _op("reshape", code=CODE, geometry=GEOMETRY),
        _op("add", level=EDIT_LEVEL, code=CODE, name=NAME, parent_code=CODE,
            geometry=GEOMETRY),
        _op("move_vertex", level=EDIT_LEVEL, at=POSITION, to=POSITION),
        _op("split", code=CODE, line=GEOMETRY, new_code=CODE, new_name=NAME),
        _op("merge", codes={"type": "array", "items": CODE, "minItems": 2,
                            "maxItems": MAX_MERGE}, into=CODE),
        _op("delete", code=CODE),
        _op("rename", code=CODE, name=NAME),
    ], "description": f"One edit: {', '.join(OPS)}."},
}
_DRAFT = {"id": INT, "state": {"const": "draft"}, "author": STR, "note": STR,
          "created_at": TIME, "base_version": {"type": ["integer", "null"]},
          "live_version": {"type": ["integer", "null"]}, "area": NULL_STR,
          "edits": {"type": "integer", "minimum": 0}, "can_undo": BOOL, "can_redo": BOOL}
DRAFT_SCHEMAS |= {
    "Draft": _object({**_DRAFT, "problems": {"type": "array",
                                             "items": {"$ref": "#/components/schemas/"
                                                               "DraftProblem"}}}),
    "DraftList": _object({"drafts": {"type": "array", "items": _object(_DRAFT)}}),
    "DraftAreas": {"$ref": "#/components/schemas/DraftFeatureCollection"},
    "DraftProblems": _object({"problems": {"type": "array", "items": {
        "$ref": "#/components/schemas/DraftProblem"}}}),
    "EditAnswer": _object({
        "edit": {"type": "integer", "description": "the edit's number in the draft's log"},
        "changed": {"$ref": "#/components/schemas/DraftFeatureCollection"},
        "removed": {"type": "array", "items": STR},
        "problems": {"type": "array", "items": {"$ref": "#/components/schemas/DraftProblem"}},
        "can_undo": BOOL, "can_redo": BOOL}),
}

DRAFT_PARAMETERS = {
    "draft_id": {"in": "path", "name": "draft_id", "required": True,
                 "schema": {"type": "integer", "minimum": 1}, "description": "the draft"},
}
