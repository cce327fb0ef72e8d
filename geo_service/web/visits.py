"""`/api/v1/workers/{code}/visits` and `/api/v1/coverage`: household visits in, coverage out."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from geo_service.app import services
from geo_service.auth import ANY_ROLE
from geo_service.errors import Forbidden, Invalid
from geo_service.inputs import whole_number
from geo_service.store.uow import unit_of_work
from geo_service.web import allow, json_body, long_running, principal, query, scope, utc_now
from geo_service.web.lookup import version_index
from geo_service.workers.coverage import coverage as coverage_of
from geo_service.workers.visits import read_visit, record_visit, visit_view

bp = Blueprint("visits", __name__, url_prefix="/api/v1")

MAX_DAYS = 365
MAX_LIST = 1000


@bp.post("/workers/<code>/visits")
@allow("worker", "admin")
def record(code: str):
    """Record a household visit: verified when the worker's fix nearest in time lies
    within `GEO_VISIT_RADIUS_M` of the household, else kept and flagged with the reason.

    From the worker's own token (or admin). A household that does not exist or lies outside
    the token's area is a 404. The same worker, household and `visited_at` again answers
    200 with the stored visit (a phone's resend); with another kind or note, 409.
    ---
    post:
      parameters:
        - {in: path, name: code, required: true, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json:
            schema: NewVisit
      responses:
        "201":
          description: recorded
          content:
            application/json:
              schema: Visit
        "200":
          description: a resend of a visit already recorded
          content:
            application/json:
              schema: Visit
        "400": BadRequest
        "404": NotFound
        "409": Conflict
        "413": TooLarge
        "415": NotJson
        "503": NoBoundaries
    """
    p = principal()
    if p.role != "admin" and p.worker_code != code:
        raise Forbidden(f"this token belongs to worker {p.worker_code or 'none'}, not "
                        f"{code[:40]}", "code")
    cfg, now = current_app.config, utc_now()
    new = read_visit(json_body(), now=now, skew_s=cfg["CLOCK_SKEW_S"])
    vi, sc = version_index(None), scope()
    with unit_of_work(services(current_app).engine) as uow:
        row, created = record_visit(uow.conn, vi, code, new, scope=sc, settings=cfg, now=now)
    return jsonify(visit_view(row)), 201 if created else 200


@bp.get("/coverage")
@allow(*ANY_ROLE)
@long_running
def coverage():
    """Visit coverage of an area over the last `days` days: per grid and ten-household
    group, households, those visited (any visit) and verified, and the share verified;
    care households and those overdue for their visit.

    The list of overdue care households (most overdue first, at most `limit`) is for the
    roles that see care tags (admin, dispatcher, worker); the head's name and phone as
    the role may see them. Planners and viewers get the counts and `overdue: null`.
    ---
    get:
      parameters:
        - {in: query, name: area, schema: {type: string}}
        - {in: query, name: days, schema: {type: integer, minimum: 1, maximum: 365,
           default: 30}}
        - {in: query, name: limit, schema: {type: integer, minimum: 0, maximum: 1000,
           default: 100}}
      responses:
        "200":
          description: the coverage
          content:
            application/json:
              schema: Coverage
        "400": BadRequest
        "404": NotFound
        "503": NoBoundaries
    """
    args = query()
    extra = sorted(set(args) - {"area", "days", "limit"})
    if extra:
        raise Invalid(f"unknown parameter {extra[0][:40]!r}; known: area, days, limit",
                      extra[0][:40], code="unknown_parameter")
    if args.get("area") == "":
        raise Invalid("area is empty; give an area code", "area", code="invalid_area")
    days = whole_number(args, "days", 1, MAX_DAYS, 30)
    limit = whole_number(args, "limit", 0, MAX_LIST, 100)
    with services(current_app).engine.connect() as conn:
        return jsonify(coverage_of(conn, version_index(None), scope=scope(),
                                   area=args.get("area"), days=days, role=principal().role,
                                   now=utc_now(), settings=current_app.config,
                                   limit=limit))
