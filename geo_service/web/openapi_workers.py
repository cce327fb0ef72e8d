"""OpenAPI schemas of the worker endpoints (positions, workers, trails, patrol, visits,
coverage)."""

from __future__ import annotations

from typing import Any

from geo_service.web.openapi_cases import BOOL, INT, NUM, STR, TIME, _object
from geo_service.workers.status import STATUSES
from geo_service.workers.visits import KINDS, MAX_NOTE

NULL_NUM = {"type": ["number", "null"]}
NULL_STR = {"type": ["string", "null"]}
POSITION = _object({"lon": NUM, "lat": NUM, "recorded_at": TIME, "age_s": INT,
                    "grid": NULL_STR, "accuracy_m": NULL_NUM, "in_grid": NULL_STR})
WORKER = _object({
    "code": STR, "role": STR, "areas": {"type": "array", "items": STR},
    "name": {"type": "string", "description": "masked except for admin and dispatcher"},
    "phone": STR, "on_duty": BOOL, "status": {"enum": list(STATUSES)},
    "position": {"anyOf": [POSITION, {"type": "null"}]}})
NULL_INT = {"type": ["integer", "null"]}
SHARE = {"type": ["number", "null"], "minimum": 0, "maximum": 1,
         "description": "verified / households (null: no households)"}
COUNTS = {"households": INT, "visited": {"type": "integer", "description": "any visit"},
          "verified": {"type": "integer", "description": "a visit the trail confirms"},
          "share": SHARE, "care_households": INT, "care_overdue": INT}
ISSUE = _object({"index": INT, "code": STR, "field": NULL_STR, "reason": STR})

WORKER_SCHEMAS: dict[str, dict[str, Any]] = {
    "FixBatch": _object({
        "crs": {"type": "string", "default": "EPSG:4326"},
        "fixes": {"type": "array", "items": _object({
            "lon": NUM, "lat": NUM, "recorded_at": TIME,
            "accuracy_m": {"type": "number", "minimum": 0},
            "speed": {"type": "number", "minimum": 0, "description": "m/s, as phones report"},
            "heading": {"type": "number", "minimum": 0, "maximum": 360},
        }, optional=("accuracy_m", "speed", "heading"))},
    }, optional=("crs",)),
    "FixesRecorded": _object({
        "stored": INT, "duplicates": INT,
        "flagged": {"type": "array", "items": _object({
            "index": INT, "flag": {"enum": ["late", "inaccurate", "too_fast"]}})},
        "rejected": {"type": "array", "items": ISSUE},
        "status": {"enum": list(STATUSES)},
        "position": {"anyOf": [_object({"lon": NUM, "lat": NUM, "recorded_at": TIME,
                                        "grid": NULL_STR, "in_grid": NULL_STR}),
                               {"type": "null"}]}}),
    "Worker": WORKER,
    "WorkerList": _object({"workers": {"type": "array", "items": WORKER}, "count": INT}),
    "Trail": _object({
        "type": {"const": "Feature"}, "id": STR,
        "geometry": {"anyOf": [{"type": "object"}, {"type": "null"}]},
        "properties": _object({"worker": STR, "fixes": INT, "flagged": INT, "points": INT,
                               "truncated": BOOL, "from": NULL_STR, "to": NULL_STR})}),
    "Patrol": _object({
        "day": STR, "area": NULL_STR,
        "workers": {"type": "array", "items": _object({
            "code": STR, "role": STR, "areas": {"type": "array", "items": STR},
            "minutes_in_own_grids": NUM, "grids": {"type": "array", "items": STR},
            "distance_m": NUM})},
        "grids": {"type": "array", "items": _object({"code": STR, "visited_by_team": BOOL})},
        "grids_visited": INT, "grids_total": INT}),
    "NewVisit": _object({
        "household": {"type": "string", "minLength": 1, "maxLength": 40},
        "visited_at": {**TIME, "description": "with offset; not in the future"},
        "kind": {"enum": list(KINDS)},
        "note": {"type": "string", "maxLength": MAX_NOTE},
    }, optional=("note",)),
    "Visit": _object({
        "id": INT, "worker": STR, "household": STR, "visited_at": TIME, "received_at": TIME,
        "kind": {"enum": list(KINDS)}, "note": STR, "verified": BOOL,
        "reason": {"enum": [None, "no_fix", "too_far"],
                   "description": "why it is not verified"},
        "reason_text": NULL_STR, "distance_m": NULL_NUM,
        "fix_offset_s": {**NULL_NUM, "description": "the fix's time minus visited_at"},
        "grid": NULL_STR, "group": NULL_STR}),
    "Coverage": _object({
        "area": NULL_STR, "days": INT, "since": TIME, **COUNTS,
        "grids": {"type": "array", "items": _object({"code": STR, "name": STR, **COUNTS})},
        "groups": {"type": "array", "items": _object({"code": STR, "name": STR,
                                                      "grid": NULL_STR, **COUNTS})},
        "overdue": {"anyOf": [{"type": "array", "items": _object({
            "household": STR, "grid": NULL_STR, "group": NULL_STR,
            "care_tags": {"type": "array", "items": STR}, "address": STR,
            "head": _object({"name": STR, "phone": STR}),
            "last_verified_visit": {"type": ["string", "null"], "format": "date-time"},
            "days_since_visit": NULL_INT, "interval_days": INT})},
            {"type": "null"}], "description": "null for planners and viewers"}}),
}
