"""Dispatch: candidates for a case, assigning (by name or automatically), my cases."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from geo_service import cases, dispatch
from geo_service import workers as field
from geo_service.app import services
from geo_service.cases.records import home_area, require_report
from geo_service.dispatch.candidates import MAX_CANDIDATES
from geo_service.errors import Forbidden, Invalid, NotFound
from geo_service.inputs import whole_number
from geo_service.store.uow import unit_of_work
from geo_service.web import allow, json_body, page_write, principal, query, scope, utc_now
from geo_service.web.lookup import version_index

bp = Blueprint("dispatch", __name__, url_prefix="/api/v1")

DISPATCHERS = ("dispatcher", "admin")
DEFAULT_LIMIT = 20


def _limit(args: dict[str, str]) -> int:
    extra = sorted(set(args) - {"limit"})
    if extra:
        raise Invalid(f"unknown parameter {extra[0][:40]!r}; known: limit", extra[0][:40],
                      code="unknown_parameter")
    return whole_number(args, "limit", 1, MAX_CANDIDATES, DEFAULT_LIMIT)


@bp.get("/reports/<report_id>/candidates")
@allow(*DISPATCHERS)
def candidates(report_id: str):
    """Who can be sent: on-duty workers with a recent fix, inside the level that owns the
    case (and the caller's scope), the case's own grid team first, each nearest first.

    Each with role, current grid, distance in metres, open assigned cases and minutes
    since the last fix; at most `limit` (default 20), the whole own team first.
    ---
    get:
      parameters:
        - {in: path, name: report_id, required: true, schema: {type: string}}
        - {in: query, name: limit, schema: {type: integer, minimum: 1, maximum: 200}}
      responses:
        "200":
          description: the candidates, in the order the dispatch rule takes them
          content:
            application/json:
              schema: Candidates
        "400": BadRequest
        "404": NotFound
        "503": NoBoundaries
    """
    limit = _limit(query())
    vi, now, sc, cfg = version_index(None), utc_now(), scope(), current_app.config
    svc = services(current_app)
    with svc.engine.connect() as conn:
        row = require_report(conn, report_id)
        if not sc.covers(vi, home_area(row)):
            raise NotFound(f"no report {report_id!r}", "id", code="unknown_report")
        picks = dispatch.rank(svc.positions, vi, row, scope=sc, now=now, settings=cfg, limit=limit)
        found = dispatch.describe(conn, picks, role=principal().role, now=now, settings=cfg)
    return jsonify({"report": row["id"], "owner": {"level": row["owner_level"],
                                                   "code": row["owner_code"]},
                    "grid": row["grid_code"], "candidates": found, "count": len(found)})


@bp.post("/reports/<report_id>/assign")
@allow(*DISPATCHERS)
@page_write
def assign(report_id: str):
    """Send a worker to a case through the workflow's `assign` step: the one named
    (`worker`), or the one the dispatch rule picks (`auto: true`).

    The rule: the nearest online member of the case's own grid team; else the nearest
    online worker who answers for an area inside the level that owns the case; else 409
    `no_worker_available`. A named worker who is off duty, stale or offline is a 409
    `worker_unavailable`, one outside the owning level's area a 409
    `worker_out_of_area`. Send the `version` you saw (409 `stale_version` otherwise).
    ---
    post:
      parameters:
        - {in: path, name: report_id, required: true, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json:
            schema: AssignRequest
      responses:
        "200":
          description: the case after the assignment, and who was sent by which rule
          content:
            application/json:
              schema: Assignment
        "400": BadRequest
        "404": NotFound
        "409": Conflict
        "415": NotJson
        "503": NoBoundaries
    """
    body = json_body()
    if not isinstance(body, dict):
        raise Invalid('expected {"worker": code, "version": n} or {"auto": true, '
                      '"version": n}', "body", code="invalid_body")
    extra = sorted(set(body) - {"worker", "auto", "version", "note"})
    if extra:
        raise Invalid(f"unknown field {extra[0][:40]!r}", extra[0][:40], code="unknown_field")
    auto = body.get("auto", False)
    if type(auto) is not bool or auto == ("worker" in body):
        raise Invalid('name a `worker`, or send "auto": true (not both)', "worker",
                      code="invalid_body")
    vi, now, p, sc, cfg = version_index(None), utc_now(), principal(), scope(), current_app.config
    svc = services(current_app)
    with unit_of_work(svc.engine) as uow:
        if auto:
            row = require_report(uow.conn, report_id)
            if not sc.covers(vi, home_area(row)):
                raise NotFound(f"no report {report_id!r}", "id", code="unknown_report")
            chosen = dispatch.choose(uow.conn, svc.positions, vi, row, scope=sc, now=now,
                                     settings=cfg)
        else:
            chosen = {"code": body["worker"], "distance_m": None, "rule": "named"}
        new = cases.act(uow.conn, vi, report_id, "assign", actor=p, scope=sc,
                        version=body.get("version"), settings=cfg, now=now,
                        note=body.get("note", ""), worker=chosen["code"])
    return jsonify({"report": cases.report_view(vi, new, p.role, now), "assigned": chosen})


@bp.get("/workers/<code>/cases")
@allow("worker", *DISPATCHERS)
def my_cases(code: str):
    """A worker's open assigned cases, the most pressing deadline first ("my cases"):
    the worker itself, or dispatchers and admins in scope.
    ---
    get:
      parameters:
        - {in: path, name: code, required: true, schema: {type: string}}
      responses:
        "200":
          description: the open cases assigned to the worker
          content:
            application/json:
              schema: WorkerCases
        "400": BadRequest
        "404": NotFound
        "503": NoBoundaries
    """
    p = principal()
    if p.role == "worker" and p.worker_code != code:
        raise Forbidden(f"this token belongs to worker {p.worker_code or 'none'}, not "
                        f"{code[:40]}", "code")
    args = query()
    if args:
        name = sorted(args)[0][:40]
        raise Invalid(f"unknown parameter {name!r}", name, code="unknown_parameter")
    vi, now, sc = version_index(None), utc_now(), scope()
    with services(current_app).engine.connect() as conn:
        field.get_worker(conn, vi, code, scope=sc, role=p.role, now=now,
                         settings=current_app.config)  # 404 outside the scope
        rows = dispatch.open_cases(conn, vi, code, scope=sc)
    views = [cases.report_view(vi, r, p.role, now) for r in rows]
    return jsonify({"worker": code, "cases": views, "count": len(views)})
