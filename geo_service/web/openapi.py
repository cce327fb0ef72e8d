"""The OpenAPI 3 document, generated from the registered views, and its offline docs page.

Each view's docstring carries its operation after `---` (parameters, requestBody and
responses naming the components below). What the auth gate decides is not repeated there:
the builder reads each view's `allow(...)` declaration and adds the bearer-token security
requirement, the 401/403 answers and the roles line itself, so the document cannot drift
from the gate. The document is built once per app, on first request.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from apispec import APISpec
from apispec_webframeworks.flask import FlaskPlugin
from flask import Blueprint, Flask, current_app, jsonify, render_template_string, url_for

from boundaries.levels import LEVELS
from geo_service.auth import PUBLIC
from geo_service.events import Event
from geo_service.lookup import SUPPORTED_CRS
from geo_service.web import allow
from geo_service.web.openapi_callouts import CALLOUT_SCHEMAS
from geo_service.web.openapi_cases import CASE_SCHEMAS, OPEN311_SCHEMAS
from geo_service.web.openapi_dispatch import DISPATCH_SCHEMAS
from geo_service.web.openapi_drafts import DRAFT_PARAMETERS, DRAFT_SCHEMAS
from geo_service.web.openapi_versions import VERSION_SCHEMAS
from geo_service.web.openapi_workers import WORKER_SCHEMAS

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")

PREFIX = "/api/v1/"
OPEN311 = "/open311/v2/"
TAGS = {"api": "service", "openapi": "docs"}  # blueprint -> tag, when the names differ
SWAGGER_UI = "vendor/swagger-ui-dist-5.35.0"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(props: dict[str, Any], *, optional: tuple[str, ...] = (), closed: bool = True,
            description: str | None = None, title: str | None = None) -> dict[str, Any]:
    """An object whose properties are all required except `optional`."""
    out: dict[str, Any] = {"type": "object", "properties": props,
                           "required": [k for k in props if k not in optional]}
    if closed:
        out["additionalProperties"] = False
    if description:
        out["description"] = description
    if title:
        out["title"] = title
    return out


STR, INT, NUM, BOOL = ({"type": "string"}, {"type": "integer"}, {"type": "number"},
                       {"type": "boolean"})
NULL_STR = {"type": ["string", "null"]}
POSITION = {"type": "array", "items": NUM, "minItems": 2, "maxItems": 3,
            "description": "[x, y] or [x, y, altitude]: longitude then latitude in "
                           "geographic CRSs; an altitude is ignored"}


def _area_properties(**extra: Any) -> dict[str, Any]:
    return _object({"code": STR, "name": STR, "level": {"type": "string", "enum": list(LEVELS)},
                    "kind": NULL_STR, "parent_code": NULL_STR, "version": INT, **extra})


def _area_feature(properties: dict[str, Any]) -> dict[str, Any]:
    return _object({"type": {"const": "Feature"}, "id": STR, "properties": properties,
                    "geometry": ref("Geometry"), "crs": OUT_CRS}, optional=("crs",))


OUT_CRS = {"type": "string", "description": "CRS of the coordinates when not EPSG:4326"}


def batch_request(limit: int) -> dict[str, Any]:
    """The batch body's schema, with the deployment's `MAX_BATCH_POINTS`."""
    return {"oneOf": [
        _object({"points": {"type": "array", "items": POSITION, "maxItems": limit},
                 "crs": STR, "chain": BOOL, "version": {"type": "integer", "minimum": 1}},
                optional=("crs", "chain", "version"), title="points",
                description="points form: [[x, y], ...]"),
        _object({"type": {"const": "FeatureCollection"},
                 "features": {"type": "array", "maxItems": limit, "items": {
                     "type": "object", "required": ["geometry"],
                     "properties": {"type": {"const": "Feature"},
                                    "id": {"type": ["string", "integer", "null"]},
                                    "geometry": _object({"type": {"const": "Point"},
                                                         "coordinates": POSITION}),
                                    "properties": {"type": ["object", "null"]}}}},
                 "crs": STR, "chain": BOOL, "version": {"type": "integer", "minimum": 1}},
                optional=("crs", "chain", "version"), closed=False, title="GeoJSON",
                description="GeoJSON form: a FeatureCollection of Points"),
    ], "description": f"At most {limit} points. Points that cannot be read are listed "
       "in the answer's errors, not refused."}


def _leaf_kinds(cls: type[Event]) -> list[str]:
    """The `kind` of every event class that is published (those without subclasses)."""
    subs = cls.__subclasses__()
    return [k for sub in subs for k in _leaf_kinds(sub)] if subs else [cls.kind]


SCHEMAS: dict[str, dict[str, Any]] = {
    "StreamEvent": _object({
        "id": {"type": "string", "pattern": "^[0-9]+$",
               "description": "the outbox id: send it back as Last-Event-ID"},
        "event": {"type": "string", "enum": sorted(_leaf_kinds(Event))},
        "data": {"type": "string", "contentMediaType": "application/json",
                 "description": "the event's payload as JSON; nothing personal"},
        "retry": {"type": "integer", "description": "milliseconds before reconnecting"},
    }, optional=("retry",), description="One Server-Sent Events message of /events."),
    "Error": _object({"error": _object({
        "code": {"type": "string", "description": "stable machine-readable code"},
        "message": {"type": "string", "description": "what went wrong, for people"},
        "field": {"type": ["string", "null"],
                  "description": "the input that was wrong (query parameter, JSON path)"},
        "detail": {"description": "more about the failure, when there is more"},
    }, optional=("detail",))}, description="The one shape of every error the service returns."),
    "Health": _object({"status": {"const": "ok"}, "live_version": {"type": ["integer", "null"]},
                       "grids": {"type": "integer", "minimum": 0}}),
    "AreaBrief": _object({"code": STR, "name": STR, "kind": NULL_STR}),
    "ChainLink": _object({"level": {"type": "string", "enum": list(LEVELS)}, "code": STR,
                          "name": STR}),
    "Person": _object({"code": STR, "role": STR, "area_code": STR, "on_duty": BOOL,
                       "name": STR, "phone": STR},
                      description="A worker answering for an area; name and phone are "
                      "masked except for admin and dispatcher."),
    "Geometry": {"type": "object", "required": ["type"], "description": "GeoJSON geometry "
                 "(areas are Polygon or MultiPolygon, WGS84)",
                 "properties": {"type": STR, "coordinates": {"type": "array"},
                                "geometries": {"type": "array"}}},
    "LookupAnswer": _object({
        "version": INT, "lon": NUM, "lat": NUM,
        "grid": nullable(ref("AreaBrief")), "group": nullable(ref("AreaBrief")),
        "chain": {"type": "array", "items": ref("ChainLink"),
                  "description": "grid up to prefecture; empty when no grid covers the point"},
        "near_boundary": BOOL,
        "nearest": {**nullable(_object({"grid": nullable(ref("AreaBrief")),
                                        "distance_m": NUM})),
                    "description": "only when no grid covers the point"},
        "people": {"type": "array", "items": ref("Person")},
        "point": {**_object({"crs": STR, "x": NUM, "y": NUM}),
                  "description": "the point in out_crs, when that is not EPSG:4326"},
    }, optional=("nearest", "point")),
    "BatchAnswer": _object({
        "version": INT, "count": INT,
        "grid": {"type": "array", "items": NULL_STR, "description": "in input order"},
        "group": {"type": "array", "items": NULL_STR},
        "errors": {"type": "array", "items": _object({
            "index": INT, "code": STR, "field": NULL_STR, "reason": STR}),
            "description": "points that could not be looked up: the error code and field "
                           "a single lookup would answer (out_of_range, swapped_axes, "
                           "invalid_number, invalid_point, invalid_geometry)"},
        "chain": {"type": "array", "items": {"type": "array", "items": ref("ChainLink")},
                  "description": "with chain=true"},
        "ids": {"type": "array", "description": "the features' ids (GeoJSON form)"},
    }, optional=("chain", "ids")),
    "AreaFeature": _area_feature(_area_properties(
        chain={"type": "array", "items": ref("ChainLink"), "description": "parent upwards"},
        children={"type": "array", "items": _object(
            {"code": STR, "name": STR, "level": {"type": "string", "enum": list(LEVELS)}})})),
    "AreaCollection": _object({"type": {"const": "FeatureCollection"}, "crs": OUT_CRS,
                               "features": {"type": "array",
                                            "items": _area_feature(_area_properties())}},
                              optional=("crs",)),
    "HouseholdPage": _object({
        "area": STR, "page": INT, "per_page": INT, "total": INT,
        "households": {"type": "array", "items": _object({
            "code": STR, "grid_code": NULL_STR, "group_code": NULL_STR, "members": INT,
            "address": {"type": "string", "description": "planners: up to the village"},
            "care_tags": {"type": "array", "items": STR,
                          "description": "empty for planners"},
            "lon": {"type": "number", "description": "planners: to 0.001°"}, "lat": NUM,
            "head": _object({"name": STR, "phone": STR},
                            description="masked except for admin and dispatcher"),
        })},
    }),
}

ERRORS = {
    "BadRequest": (400, "Malformed input; `error.field` names it."),
    "Unauthorized": (401, "No valid bearer token."),
    "Forbidden": (403, "The token's role may not call this, or the area is outside its scope."),
    "NotFound": (404, "No such area, boundary version or report."),
    "Conflict": (409, "The change conflicts with the current state: a stale `version`, an "
                      "action the workflow does not allow now (`illegal_transition`, with the "
                      "allowed ones), or a report id reused with other content."),
    "TooLarge": (413, "Request body or batch over the limit."),
    "NotJson": (415, "The body was not sent as `Content-Type: application/json`."),
    "Unprocessable": (422, "A well-formed point that cannot be right: out of range, or "
                           "longitude and latitude swapped."),
    "NoBoundaries": (503, "No boundary version is live yet (`no_boundaries`), or the "
                          "earlier version asked for is being loaded (`version_warming`: "
                          "ask again after the Retry-After header's seconds)."),
    "StreamsFull": (503, "This server process holds as many event streams as it may "
                         "(`unavailable`); connect again after the Retry-After header's "
                         "seconds."),
}

PARAMETERS = {
    "version": {"in": "query", "name": "version", "required": False,
                "schema": {"type": "integer", "minimum": 1},
                "description": "a boundary version (default: the live one)"},
    "code": {"in": "path", "name": "code", "required": True, "schema": STR,
             "description": "area code"},
    "out_crs": {"in": "query", "name": "out_crs", "required": False,
                "schema": {"type": "string", "default": "EPSG:4326"},
                "description": f"CRS of the returned geometries: {SUPPORTED_CRS}"},
    "crs": {"in": "query", "name": "crs", "required": False,
            "schema": {"type": "string", "default": "EPSG:4326"},
            "description": f"CRS of the input coordinates: {SUPPORTED_CRS}"},
}


class GatedFlaskPlugin(FlaskPlugin):
    """FlaskPlugin that also writes what the auth gate enforces into each operation."""

    def operation_helper(self, path: str | None = None, operations: dict | None = None,
                         **kwargs: Any) -> None:
        view = kwargs["view"]
        blueprint = self._rule_for_view(view, app=kwargs.get("app")).endpoint.split(".")[0]
        roles = getattr(view, "allowed_roles", ())
        prose = (view.__doc__ or "").split("---", 1)[0].strip()
        summary, _, rest = prose.partition("\n")
        for op in (operations or {}).values():
            op.setdefault("summary", summary.strip().rstrip("."))
            op["operationId"] = view.__name__
            op.setdefault("tags", [TAGS.get(blueprint, blueprint)])
            if blueprint == "open311":
                rule = self._rule_for_view(view, app=kwargs.get("app")).rule
                _open311_operation(op, view, rule, " ".join(rest.split()))
                continue
            responses = {str(code): r for code, r in op.get("responses", {}).items()}
            if PUBLIC in roles:
                op["security"] = []
                note = "Public: no token needed."
            else:
                op["security"] = [{"bearerAuth": []}]
                responses.setdefault("401", "Unauthorized")
                responses.setdefault("403", "Forbidden")
                note = f"Roles: {', '.join(roles)}."
            op["responses"] = dict(sorted(responses.items()))
            op["description"] = "\n\n".join(p for p in (" ".join(rest.split()), note) if p)


OPEN311_ERRORS = {
    "400": "The request cannot be done: a field missing or malformed, coordinates out of "
           "range or swapped, a value outside its list.",
    "403": "api_key missing or not valid, a role that may not do this, or a place outside "
           "the token's area.",
    "404": "No such service, request or token (a request outside the token's area too).",
    "409": "An idempotency key reused with other content.",
    "413": "Body over the limit.",
    "415": "Body neither form-encoded nor JSON.",
    "503": "No boundary version is live yet.",
}


def _open311_operation(op: dict[str, Any], view: Any, rule: str, prose: str) -> None:
    """What the gate enforces, in Open311's terms: api_key (or the bearer header), 403 for
    key problems, errors in the spec's format, one media type per path (`.json`/`.xml`)."""
    roles = getattr(view, "allowed_roles", ())
    media = "text/xml" if rule.endswith(".xml") else "application/json"
    errors = {"text/xml": {"schema": STR}, "application/json": {"schema": ref(
        "Open311Errors")}}[media]
    responses = {str(code): r for code, r in op.get("responses", {}).items()}
    if PUBLIC in roles:
        op["security"], note = [], "Public: no key needed."
    else:
        responses.setdefault("403", "Open311")
        op["security"] = [{"bearerAuth": []}, {"open311Key": []}]
        note = f"Roles: {', '.join(roles)}."
        if getattr(view, "public_when", ""):
            op["security"].append({})
            note += f" Without a key while GEO_{view.public_when} is on (no personal data)."
    for code, r in list(responses.items()):
        if isinstance(r, str):
            responses[code] = {"description": f"{code}: {OPEN311_ERRORS[code]}",
                               "content": {media: errors}}
        elif "content" in r:
            r["content"] = {media: r["content"][media]}
    op["responses"] = dict(sorted(responses.items()))
    op["description"] = "\n\n".join(p for p in (prose, note) if p)


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of every /api/v1 and /open311/v2 route registered on `app`."""
    try:
        version = metadata.version("geo-service")
    except metadata.PackageNotFoundError:
        version = "0"
    spec = APISpec(
        title="geo-service grid registry API", version=version, openapi_version="3.1.0",
        plugins=[GatedFlaskPlugin()],
        info={"description": "Point-in-grid lookup and the area tree (prefecture → county "
              "→ township → village → grid → ten-household group). Send "
              "`Authorization: Bearer <token>`. Every error has one shape: "
              '`{"error": {"code", "message", "field"}}`.'})
    for name, text in (("lookup", "Which grid holds a point"),
                       ("areas", "The area tree as GeoJSON, and households per area"),
                       ("service", "Health and boundary versions"),
                       ("reports", "Reports, the case workflow and the KPIs"),
                       ("workers", "Workers in the field: positions, status, patrol"),
                       ("callouts", "Emergency call-outs and their acknowledgements"),
                       ("open311", "Open311 GeoReport v2 (its own error format, api_key)"),
                       ("visits", "Household visits and their coverage"),
                       ("events", "The live event stream (Server-Sent Events)"),
                       ("dispatch", "Who to send to a case, sending them, their caseload"),
                       ("drafts", "The boundary editor: drafts, edits, undo/redo, problems"),
                       ("versions", "Boundary versions: impact of a draft, publishing, "
                                    "diffs, rollback"),
                       ("docs", "This document and its page")):
        spec.tag({"name": name, "description": text})
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme("open311Key", {"type": "apiKey", "in": "query",
                                                   "name": "api_key"})
    for name, schema in {**SCHEMAS, **CASE_SCHEMAS, **WORKER_SCHEMAS, **CALLOUT_SCHEMAS,
                         **OPEN311_SCHEMAS, **DISPATCH_SCHEMAS, **DRAFT_SCHEMAS,
                         **VERSION_SCHEMAS}.items():
        spec.components.schema(name, schema)
    spec.components.schema("BatchRequest", batch_request(app.config["MAX_BATCH_POINTS"]))
    for name, (status, text) in ERRORS.items():
        spec.components.response(name, {"description": f"{status}: {text}", "content": {
            "application/json": {"schema": ref("Error")}}})
    for name, param in {**PARAMETERS, **DRAFT_PARAMETERS}.items():
        spec.components.parameter(name, param["in"], {
            k: v for k, v in param.items() if k != "in"})
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.rule.startswith((PREFIX, OPEN311)):
            spec.path(view=app.view_functions[rule.endpoint], app=app)
    return spec.to_dict()


def document(app: Flask) -> dict[str, Any]:
    """The app's OpenAPI document, built on first use."""
    if "openapi" not in app.extensions:
        app.extensions["openapi"] = build_spec(app)
    return app.extensions["openapi"]


@bp.get("/openapi.json")
@allow(PUBLIC)
def openapi_json():
    """This API's OpenAPI 3.1 document, generated from the code.
    ---
    get:
      responses:
        "200":
          description: the OpenAPI document
          content:
            application/json:
              schema: {type: object, required: [openapi, paths]}
    """
    return jsonify(document(current_app))


DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>geo-service API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{{ url_for('static', filename=ui + '/swagger-ui.css') }}">
</head>
<body>
<div id="swagger-ui"></div>
<script id="docs-config" type="application/json">{{ config|tojson }}</script>
<script src="{{ url_for('static', filename=ui + '/swagger-ui-bundle.js') }}"></script>
<script src="{{ url_for('static', filename='js/docs.js') }}"></script>
</body>
</html>
"""


@bp.get("/docs")
@allow(PUBLIC)
def docs():
    """The API documentation page (Swagger UI, served from this service; works offline).
    ---
    get:
      responses:
        "200":
          description: an HTML page
          content:
            text/html:
              schema: {type: string}
    """
    config = {"specUrl": url_for("openapi.openapi_json")}
    return render_template_string(DOCS_PAGE, ui=SWAGGER_UI, config=config)
