"""`/open311/v2`: Open311 GeoReport v2 over our reports, so existing Open311 apps work.

Every method answers in the format its path ends with (`.json` or `.xml`); every error,
down to an unknown route under this prefix, in the spec's format: a list of
`{"code", "description"}` (`<errors><error>…`), 403 for a missing or wrong api_key, 400
for anything else that cannot be done, 404 for what does not exist. The mapping itself is
`geo_service.cases.open311`; this module only parses and serialises.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, request, url_for

from geo_service.app import services
from geo_service.auth import ANY_ROLE, PUBLIC
from geo_service.cases import IdTaken
from geo_service.cases import open311 as o311
from geo_service.errors import Invalid, NotFound, ServiceError
from geo_service.store.uow import unit_of_work
from geo_service.web import allow, fields_body, principal, query, scope, utc_now
from geo_service.web.lookup import version_index
from geo_service.web.reports import INTAKE_ROLES

PREFIX = "/open311/v2"
FORMATS = ("json", "xml")
bp = Blueprint("open311", __name__, url_prefix=PREFIX)

READ = {"public_when": "OPEN311_PUBLIC_READ", "api_key": True}
# The spec's statuses: 403 for a missing or wrong api_key, 400 for what cannot be done.
SPEC_STATUS = {401: 403, 422: 400}
# Not allowed in XML 1.0 (control characters, lone surrogates, U+FFFE/U+FFFF): dropped from
# text, which a client may have typed, so the document always parses.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SINGULAR = {"endpoints": "endpoint", "formats": "format", "attributes": "attribute",
             "errors": "error", "services": "service", "service_requests": "request"}


def _xml_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, v in value.items():
            _fill(ET.SubElement(element, key), v)
    elif isinstance(value, list):
        tag = _SINGULAR[element.tag]
        for v in value:
            _fill(ET.SubElement(element, tag), v)
    else:
        element.text = _xml_text(value)


def to_xml(root: str, data: Any) -> bytes:
    """The spec's XML: a root element named for the resource, a child per item (the plural
    lists of `_SINGULAR`), an empty element for null; built with ElementTree, which escapes."""
    element = ET.Element(root)
    _fill(element, data)
    return (b'<?xml version="1.0" encoding="utf-8"?>\n'
            + ET.tostring(element, encoding="unicode").encode())


def answer(fmt: str, root: str, data: Any, status: int = 200,
           headers: dict[str, str] | None = None) -> Response:
    if fmt == "xml":
        return Response(to_xml(root, data), status, headers, mimetype="text/xml")
    response = current_app.json.response(data)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def error_response(err: ServiceError, status: int) -> Response:
    """An error in the spec's format, in the format the path asked for."""
    message = err.message
    if status == 401:
        message = ("api_key missing or not valid: send a token as api_key (or as "
                   "Authorization: Bearer <token>)")
    status = SPEC_STATUS.get(status, status)
    headers = {k: v for k, v in err.headers.items() if k.lower() != "www-authenticate"}
    fmt = "xml" if request.path.endswith(".xml") else "json"
    return answer(fmt, "errors", [{"code": status, "description": message}], status,
                  headers)


def _bind(view: Callable, fmt: str) -> Callable:
    """`view` with its format fixed; its roles, docstring and name (plus the format)."""

    @functools.wraps(view)
    def bound(**kwargs: Any) -> Response:
        return view(fmt, **kwargs)

    bound.__name__ = f"{view.__name__}_{fmt}"
    return bound


def route(rule: str, methods: tuple[str, ...] = ("GET",)) -> Callable[[Callable], Callable]:
    """Register a view at `rule.json` and `rule.xml`: two endpoints, so each format is its
    own operation in the OpenAPI document (with its own media type)."""

    def register(view: Callable) -> Callable:
        for fmt in FORMATS:
            bound = _bind(view, fmt)
            bp.add_url_rule(f"{rule}.{fmt}", endpoint=bound.__name__, view_func=bound,
                            methods=list(methods))
        return view

    return register


def _only(args: dict[str, str], allowed: set[str]) -> None:
    unknown = sorted(set(args) - allowed - {"api_key", "jurisdiction_id"})
    if unknown:
        raise Invalid(f"unknown parameter {unknown[0][:40]!r}", unknown[0][:40],
                      code="unknown_parameter")


def _tz() -> str:
    return current_app.config["TIMEZONE"]


@route("/discovery")
@allow(PUBLIC)
def discovery(fmt: str):
    """Service Discovery: this endpoint, its formats, and how to get a key.
    ---
    get:
      responses:
        "200":
          description: the discovery document
          content:
            application/json: {schema: Open311Discovery}
            text/xml: {schema: {type: string}}
    """
    url = request.url_root.rstrip("/") + PREFIX
    return answer(fmt, "discovery", o311.discovery(url))


@route("/services")
@allow(*ANY_ROLE, unscoped="the service list is the same in every area", **READ)
def service_list(fmt: str):
    """The service types: our report subtypes, grouped by class.

    Names are Chinese; `lang=en` (an extension) answers English ones.
    ---
    get:
      parameters:
        - {in: query, name: lang, schema: {type: string, enum: [zh, en]}}
      responses:
        "200":
          description: the services
          content:
            application/json: {schema: Open311Services}
            text/xml: {schema: {type: string}}
        "400": Open311
    """
    args = query()
    _only(args, {"lang"})
    lang = args.get("lang", "zh")
    if lang not in ("zh", "en"):
        raise Invalid("lang must be zh or en", "lang", code="invalid_choice")
    return answer(fmt, "services", o311.service_list(lang))


@route("/services/<service_code>")
@allow(*ANY_ROLE, unscoped="a service definition is the same in every area", **READ)
def service_definition(fmt: str, service_code: str):
    """A service's definition: none of ours asks for extra attributes.
    ---
    get:
      parameters:
        - {in: path, name: service_code, required: true, schema: {type: string}}
      responses:
        "200":
          description: the definition
          content:
            application/json: {schema: Open311ServiceDefinition}
            text/xml: {schema: {type: string}}
        "400": Open311
        "404": Open311
    """
    _only(query(), set())
    return answer(fmt, "service_definition", o311.service_definition(service_code))


@route("/requests", methods=("POST",))
@allow(*INTAKE_ROLES, api_key=True)
def create_request(fmt: str):
    """File a service request as a report of channel open311, placed in its grid.

    Send the fields form-encoded (or as a JSON object). An `Idempotency-Key` header or
    `idempotency_key` field (an extension) makes a retry answer the request already filed.
    ---
    post:
      parameters:
        - {in: header, name: Idempotency-Key, required: false, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/x-www-form-urlencoded: {schema: Open311NewRequest}
          application/json: {schema: Open311NewRequest}
      responses:
        "200":
          description: the request id (new, or the one a retry filed)
          content:
            application/json: {schema: Open311Created}
            text/xml: {schema: {type: string}}
        "400": Open311
        "404": Open311
        "409": Open311
        "413": Open311
        "415": Open311
        "503": Open311
    """
    _only(query(), set())
    fields = fields_body()
    key = request.headers.get("Idempotency-Key")
    field_key = fields.get("idempotency_key")
    if key is not None and field_key is not None and key != field_key:
        raise Invalid("the idempotency key is given twice, differently", "idempotency_key",
                      code="repeated_parameter")
    key = key if key is not None else field_key
    vi, now, cfg = version_index(None), utc_now(), current_app.config
    p, sc = principal(), scope()
    for attempt in (1, 2):  # a concurrent first delivery of the same key: read it back
        try:
            with unit_of_work(services(current_app).engine) as uow:
                row, _ = o311.submit_request(uow.conn, vi, fields, key=key, actor=p,
                                             scope=sc, settings=cfg, now=now)
            break
        except (sa.exc.IntegrityError, IdTaken):
            if attempt == 2 or key is None:
                raise
    emailed = bool(str(fields.get("email") or "").strip())
    return answer(fmt, "service_requests", [o311.created_view(vi, row, cfg["TIMEZONE"],
                                                              email_given=emailed)])


@route("/requests")
@allow(*ANY_ROLE, **READ)
def request_list(fmt: str):
    """Service requests in the caller's scope, newest first (at most 90 days, 1000 a page).

    Extensions: `bbox`, `page_size`, and `page` or `cursor` (the `Link` header names the
    next page).
    ---
    get:
      parameters:
        - {in: query, name: service_request_id, schema: {type: string},
           description: "comma list; overrides every other argument"}
        - {in: query, name: service_code, schema: {type: string},
           description: comma list}
        - {in: query, name: start_date, schema: {type: string, format: date-time}}
        - {in: query, name: end_date, schema: {type: string, format: date-time}}
        - {in: query, name: status, schema: {type: string},
           description: "open, closed, or both (comma list)"}
        - {in: query, name: bbox, schema: {type: string},
           description: "extension: minlon,minlat,maxlon,maxlat (WGS84)"}
        - {in: query, name: page_size, schema: {type: integer, minimum: 1, maximum: 1000},
           description: "extension (default 1000)"}
        - {in: query, name: page, schema: {type: integer, minimum: 1},
           description: "extension: page number, from 1"}
        - {in: query, name: cursor, schema: {type: integer, minimum: 1},
           description: "extension: from the Link header of the previous page"}
      responses:
        "200":
          description: the requests
          content:
            application/json: {schema: Open311Requests}
            text/xml: {schema: {type: string}}
        "400": Open311
        "404": Open311
        "503": Open311
    """
    args = query()
    q = o311.read_query(args, utc_now())
    vi = version_index(None)
    with services(current_app).engine.connect() as conn:
        rows, cursor = o311.find_requests(conn, vi, q, scope=scope(), now=utc_now())
    headers = {}
    if cursor is not None:
        # The query the client used, api_key too (a client that sends its key in the URL
        # follows the link as it is); only the page moves on.
        keep = {k: v for k, v in args.items() if k not in ("page", "cursor")}
        nxt = ({"page": int(args["page"]) + 1} if "page" in args else {"cursor": cursor})
        headers["Link"] = f'<{url_for(request.endpoint, **keep, **nxt)}>; rel="next"'
    return answer(fmt, "service_requests", [o311.request_view(vi, r, _tz()) for r in rows],
                  headers=headers)


@route("/requests/<service_request_id>")
@allow(*ANY_ROLE, **READ)
def request_one(fmt: str, service_request_id: str):
    """One service request (a request outside the caller's scope does not exist).
    ---
    get:
      parameters:
        - {in: path, name: service_request_id, required: true, schema: {type: string}}
      responses:
        "200":
          description: a list holding the request
          content:
            application/json: {schema: Open311Requests}
            text/xml: {schema: {type: string}}
        "400": Open311
        "404": Open311
        "503": Open311
    """
    _only(query(), set())
    vi = version_index(None)
    with services(current_app).engine.connect() as conn:
        rows, _ = o311.find_requests(conn, vi, o311.RequestQuery(ids=(service_request_id,)),
                                     scope=scope(), now=utc_now())
    if not rows:
        raise NotFound(f"no service request {service_request_id[:40]!r}",
                            "service_request_id", code="unknown_report")
    return answer(fmt, "service_requests", [o311.request_view(vi, rows[0], _tz())])


@route("/tokens/<token>")
@allow(*ANY_ROLE, **READ)
def token_lookup(fmt: str, token: str):
    """The request a token stands for. We answer POSTs with the request id at once, so a
    token is a service_request_id or the idempotency key a POST carried.
    ---
    get:
      parameters:
        - {in: path, name: token, required: true, schema: {type: string}}
      responses:
        "200":
          description: the request id
          content:
            application/json: {schema: Open311Tokens}
            text/xml: {schema: {type: string}}
        "400": Open311
        "404": Open311
        "503": Open311
    """
    _only(query(), set())
    vi = version_index(None)
    with services(current_app).engine.connect() as conn:
        found = o311.resolve_token(conn, vi, token, scope=scope())
    return answer(fmt, "service_requests", [found])
