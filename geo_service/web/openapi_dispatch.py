"""OpenAPI schemas of the dispatch endpoints (candidates, assign, my cases)."""

from __future__ import annotations

from typing import Any

from boundaries.levels import LEVELS
from geo_service.web.openapi_cases import BOOL, INT, STR, _object

NULL_STR = {"type": ["string", "null"]}
REPORT = {"$ref": "#/components/schemas/Report"}

CANDIDATE = _object({
    "code": STR, "role": STR,
    "name": {"type": "string", "description": "masked except for admin and dispatcher"},
    "phone": STR, "grid": {**NULL_STR, "description": "the grid of the current position"},
    "distance_m": {"type": "number", "minimum": 0, "description": "metres from the case"},
    "own_team": {**BOOL, "description": "answers for the case's grid or one of its groups"},
    "open_cases": {"type": "integer", "minimum": 0},
    "minutes_since_fix": {"type": "number", "minimum": 0}})

DISPATCH_SCHEMAS: dict[str, dict[str, Any]] = {
    "Candidate": CANDIDATE,
    "Candidates": _object({
        "report": STR, "owner": _object({"level": {"enum": list(LEVELS)}, "code": STR}),
        "grid": NULL_STR, "candidates": {"type": "array", "items": CANDIDATE},
        "count": INT}),
    "AssignRequest": {
        "type": "object", "additionalProperties": False,
        "properties": {"worker": {"type": "string", "description": "the worker to send"},
                       "auto": {"const": True, "description": "let the dispatch rule choose"},
                       "version": INT, "note": {"type": "string", "maxLength": 2000}},
        "required": ["version"],
        "oneOf": [{"required": ["worker"], "not": {"required": ["auto"]}},
                  {"required": ["auto"], "not": {"required": ["worker"]}}]},
    "Assignment": _object({
        "report": REPORT,
        "assigned": _object({
            "code": STR, "distance_m": {"type": ["number", "null"]},
            "rule": {"enum": ["named", "own_team", "nearest"],
                     "description": "named by the dispatcher; the nearest online member of "
                                    "the grid's own team; the nearest online worker inside "
                                    "the owning level"}})}),
    "WorkerCases": _object({"worker": STR, "cases": {"type": "array", "items": REPORT},
                            "count": INT}),
}

