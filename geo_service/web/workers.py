"""`/api/v1/workers` and `/api/v1/patrol`: positions in, where everyone is, patrol out."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from flask import Blueprint, current_app, jsonify

from geo_service import workers as domain
from geo_service.app import services
from geo_service.auth import ANY_ROLE
from geo_service.cases.sla import local_day
from geo_service.errors import Forbidden, Invalid, Unprocessable
from geo_service.inputs import parse_time
from geo_service.store.uow import unit_of_work
from geo_service.web import allow, json_body, long_running, principal, query, scope, utc_now
from geo_service.web.lookup import version_index

bp = Blueprint("workers", __name__, url_prefix="/api/v1")


def _only(args: dict[str, str], allowed: set[str]) -> None:
    extra = sorted(set(args) - allowed)
    if extra:
        raise Invalid(f"unknown parameter {extra[0][:40]!r}; known: {', '.join(sorted(allowed))}",
                      extra[0][:40], code="unknown_parameter")


def _own_or(code: str, *roles: str) -> None:
    """A worker's token acts for its own worker only; `roles` act for anyone in scope."""
    p = principal()
    if p.role not in roles and p.worker_code != code:
        raise Forbidden(f"this token belongs to worker {p.worker_code or 'none'}, not "
                        f"{code[:40]}", "code")


def _listing_kw() -> dict:
    return {"scope": scope(), "role": principal().role, "now": utc_now(),
            "settings": current_app.config}


@bp.post("/workers/<code>/positions")
@allow("worker", "admin")
def positions(code: str):
    """A batch of GPS fixes from one worker's phone: stored in the trail, placed in their
    grids; the newest good one becomes the current position.

    A repeated `recorded_at` is ignored; a late fix is kept but never moves the position
    back; an inaccurate or impossibly fast one is kept, flagged, and not used. Unreadable
    fixes are listed in `rejected` by index and the rest are stored (422 if none is).
    ---
    post:
      parameters:
        - {in: path, name: code, required: true, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json:
            schema: FixBatch
      responses:
        "200":
          description: what was stored
          content:
            application/json:
              schema: FixesRecorded
        "400": BadRequest
        "404": NotFound
        "413": TooLarge
        "415": NotJson
        "422": Unprocessable
        "503": NoBoundaries
    """
    _own_or(code, "admin")
    body = json_body()
    cfg, now = current_app.config, utc_now()
    vi = version_index(None)
    sc = scope()
    if sc.area is not None and not sc.own_positions(code):
        with services(current_app).engine.connect() as conn:  # 404 outside the scope
            domain.get_worker(conn, vi, code, **_listing_kw())
    batch = domain.read_batch(vi, body, now=now, skew_s=cfg["CLOCK_SKEW_S"],
                              limit=cfg["MAX_FIXES"])
    if batch.rejected and not batch.fixes and not batch.repeated:
        raise Unprocessable(f"none of the {len(batch.rejected)} fixes can be used; the first: "
                            f"{batch.rejected[0]['reason']}", "fixes", code="no_usable_fix",
                            detail={"rejected": batch.rejected})
    svc = services(current_app)
    with unit_of_work(svc.engine) as uow:
        done = domain.record_fixes(uow.conn, code, batch, settings=cfg, now=now)
    s = done.state
    if s.get("recorded_at") is not None:  # committed: this process's dispatch index knows
        svc.positions.note(code, s["lon"], s["lat"], s["recorded_at"], done.status != "off_duty")
    return jsonify({
        "stored": done.stored, "duplicates": done.duplicates, "flagged": done.flagged,
        "rejected": batch.rejected, "status": done.status,
        "position": None if s.get("recorded_at") is None else {
            "lon": s["lon"], "lat": s["lat"], "recorded_at": s["recorded_at"].isoformat(),
            "grid": s["grid_code"], "in_grid": s["dwell_grid"]}})


@bp.post("/workers/<code>/duty")
@allow("worker", "dispatcher", "admin")
def duty(code: str):
    """Start (`{"on_duty": true}`) or end a shift: a worker for itself, a dispatcher for
    the workers in its scope.
    ---
    post:
      parameters:
        - {in: path, name: code, required: true, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties: {on_duty: {type: boolean}}
              required: [on_duty]
              additionalProperties: false
      responses:
        "200":
          description: the worker's status now
          content:
            application/json:
              schema: {type: object, properties: {code: {type: string},
                       status: {type: string}}, required: [code, status]}
        "400": BadRequest
        "404": NotFound
        "415": NotJson
        "503": NoBoundaries
    """
    _own_or(code, "dispatcher", "admin")
    body = json_body()
    if not isinstance(body, dict) or set(body) != {"on_duty"} or type(body["on_duty"]) is not bool:
        raise Invalid('expected {"on_duty": true or false}', "on_duty", code="invalid_body")
    vi = version_index(None)
    svc = services(current_app)
    with unit_of_work(svc.engine) as uow:
        domain.get_worker(uow.conn, vi, code, **_listing_kw())  # 404 outside the scope
        status = domain.set_duty(uow.conn, code, body["on_duty"], settings=current_app.config,
                                 now=utc_now())
    svc.positions.note_duty(code, body["on_duty"])
    return jsonify({"code": code, "status": status})


@bp.get("/workers")
@allow(*ANY_ROLE)
def listing():
    """Workers answering for areas in the caller's scope, with their current position,
    its age and grid, and their status (online, stale, offline, off_duty).
    ---
    get:
      parameters:
        - {in: query, name: area, schema: {type: string}}
        - {in: query, name: status, schema: {type: string,
           enum: [online, stale, offline, off_duty]}}
        - {in: query, name: role, schema: {type: string}}
        - {in: query, name: located, schema: {type: string, enum: ["true", "false"]},
           description: "true: only workers with a position (what a map can draw)"}
      responses:
        "200":
          description: the workers
          content:
            application/json:
              schema: WorkerList
        "400": BadRequest
        "404": NotFound
        "503": NoBoundaries
    """
    args = query()
    _only(args, {"area", "status", "role", "located"})
    for k in ("area", "role"):
        if args.get(k) == "":
            raise Invalid(f"{k} is empty", k, code="invalid_choice")
    if args.get("located", "false") not in ("true", "false"):
        raise Invalid("located must be true or false", "located", code="invalid_choice")
    with services(current_app).engine.connect() as conn:
        found = domain.find_workers(conn, version_index(None), area=args.get("area"),
                                    status=args.get("status"), worker_role=args.get("role"),
                                    located=args.get("located") == "true", **_listing_kw())
    return jsonify({"workers": found, "count": len(found)})


@bp.get("/workers/<code>")
@allow(*ANY_ROLE)
def one(code: str):
    """One worker: areas, status, current position.
    ---
    get:
      parameters:
        - {in: path, name: code, required: true, schema: {type: string}}
      responses:
        "200":
          description: the worker
          content:
            application/json:
              schema: Worker
        "404": NotFound
        "503": NoBoundaries
    """
    with services(current_app).engine.connect() as conn:
        return jsonify(domain.get_worker(conn, version_index(None), code, **_listing_kw()))


@bp.get("/workers/<code>/trail")
@allow("worker", "dispatcher", "admin")
def worker_trail(code: str):
    """Where a worker walked (GeoJSON LineString of good fixes), `from`–`to` (default the
    last 24 hours), simplified to `simplify` metres (default 5; 0 keeps every fix).
    ---
    get:
      parameters:
        - {in: path, name: code, required: true, schema: {type: string}}
        - {in: query, name: from, schema: {type: string, format: date-time}}
        - {in: query, name: to, schema: {type: string, format: date-time}}
        - {in: query, name: simplify, schema: {type: number, minimum: 0, maximum: 1000}}
      responses:
        "200":
          description: the trail
          content:
            application/json:
              schema: Trail
        "400": BadRequest
        "404": NotFound
        "503": NoBoundaries
    """
    _own_or(code, "dispatcher", "admin")
    args = query()
    _only(args, {"from", "to", "simplify"})
    now = utc_now()
    until = parse_time(args["to"], "to") if "to" in args else now
    since = parse_time(args["from"], "from") if "from" in args else until - timedelta(days=1)
    simplify = 5.0
    if "simplify" in args:
        try:
            simplify = float(args["simplify"]) if args["simplify"].isascii() else math.nan
        except ValueError:
            simplify = math.nan
        if not 0 <= simplify <= 1000:
            raise Invalid("simplify must be metres from 0 to 1000", "simplify",
                          code="invalid_number")
    with services(current_app).engine.connect() as conn:
        domain.get_worker(conn, version_index(None), code, **_listing_kw())
        return jsonify(domain.trail(conn, code, since, until, simplify))


@bp.get("/patrol")
@allow(*ANY_ROLE)
@long_running
def patrol():
    """Patrol on one day (`date`, default today where the command center is): per worker,
    minutes inside their own grids, the grids they were in and metres walked; per grid,
    whether its team was in it.
    ---
    get:
      parameters:
        - {in: query, name: area, schema: {type: string}}
        - {in: query, name: date, schema: {type: string, format: date}}
      responses:
        "200":
          description: the day's patrol
          content:
            application/json:
              schema: Patrol
        "400": BadRequest
        "404": NotFound
        "503": NoBoundaries
    """
    args = query()
    _only(args, {"area", "date"})
    now = utc_now()
    day = args.get("date") or local_day(now, current_app.config["TIMEZONE"])
    try:
        if not day.isascii():
            raise ValueError
        datetime.strptime(day, "%Y-%m-%d")
    except ValueError:
        raise Invalid("date must be YYYY-MM-DD", "date", code="invalid_time") from None
    if args.get("area") == "":
        raise Invalid("area is empty", "area", code="invalid_area")
    with services(current_app).engine.connect() as conn:
        return jsonify(domain.patrol_report(conn, version_index(None), area=args.get("area"),
                                            day=day, **_listing_kw()))
