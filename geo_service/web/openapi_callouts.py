"""OpenAPI schemas of the call-out endpoints (emergency response "one order")."""

from __future__ import annotations

from typing import Any

from geo_service.lookup import SUPPORTED_CRS
from geo_service.web.openapi_cases import BOOL, INT, NUM, STR, TIME, _object
from geo_service.web.openapi_workers import NULL_NUM, NULL_STR
from geo_service.workers.callouts import CALLOUT_ROLES, MAX_MESSAGE, MAX_RADIUS_M
from geo_service.workers.status import STATUSES

NULL_TIME = {"type": ["string", "null"], "format": "date-time"}
ROLES = {"type": "array", "items": {"enum": list(CALLOUT_ROLES)}, "minItems": 1,
         "uniqueItems": True}
BRIEF = {
    "id": STR, "created_at": TIME, "created_by": STR,
    "area": _object({"code": STR, "name": NULL_STR, "level": NULL_STR}),
    "lon": NUM, "lat": NUM, "radius_m": NULL_NUM, "roles": ROLES, "message": STR,
    "open": BOOL, "closed_at": NULL_TIME}
ACK = {"acked_at": NULL_TIME, "ack_seconds": NULL_NUM, "ack_distance_m": NULL_NUM}

CALLOUT_SCHEMAS: dict[str, dict[str, Any]] = {
    "NewCallout": {**_object({
        "area": {"type": "string", "description": "call everyone answering for areas "
                 "inside this one"},
        "lon": NUM, "lat": NUM,
        "crs": {"type": "string", "default": "EPSG:4326", "description": SUPPORTED_CRS},
        "radius_m": {"type": "number", "minimum": 1, "maximum": MAX_RADIUS_M,
                     "description": "call everyone whose current position is within"},
        "roles": {**ROLES, "description": "default: all of them"},
        "message": {"type": "string", "minLength": 1, "maxLength": MAX_MESSAGE},
    }, optional=("area", "lon", "lat", "crs", "radius_m", "roles")),
        "description": 'Either "area" (with an optional point: where to go) or a point '
                       'and "radius_m".'},
    "Callout": _object({
        **BRIEF,
        "targets": {"type": "array", "items": _object({
            "code": STR, "role": STR, "area": NULL_STR,
            "name": {"type": "string", "description": "masked except for admin and "
                     "dispatcher"},
            "phone": STR, "status_when_called": {"enum": ["online", "stale"]},
            "status": {"enum": list(STATUSES)}, "acked": BOOL, **ACK,
            "distance_when_called_m": NULL_NUM, "distance_now_m": NULL_NUM,
            "moving_towards": BOOL})},
        "counts": _object({
            "called": INT, "acked": INT, "moving_towards": INT, "median_ack_s": NULL_NUM,
            "not_called": _object({"off_duty": INT, "offline": INT})}),
    }),
    "CalloutList": _object({"callouts": {"type": "array", "items": _object({
        **BRIEF, "called": INT, "acked": INT})}, "count": INT}),
    "CalloutAck": _object({
        "worker": {"type": "string", "description": "admin only: the worker acknowledging"},
        "lon": NUM, "lat": NUM, "crs": {"type": "string", "default": "EPSG:4326"},
    }, optional=("worker", "lon", "lat", "crs")),
    "CalloutAcked": _object({"id": STR, "worker": STR, "first": BOOL, **ACK}),
}
