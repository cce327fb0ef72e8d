"""`/api/v1/reports` and `/api/v1/stats`: intake, the workflow, lists and the KPIs."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from flask import Blueprint, current_app, jsonify, request

from geo_service import cases
from geo_service.app import services
from geo_service.auth import ANY_ROLE
from geo_service.cases.sla import local_day
from geo_service.errors import Invalid, ServiceError
from geo_service.inputs import parse_time
from geo_service.store.uow import group_commit, unit_of_work
from geo_service.web import (
    allow,
    json_body,
    long_running,
    page_write,
    principal,
    query,
    scope,
    utc_now,
)
from geo_service.web.lookup import version_index
from geo_service.workers.coverage import visited_figures
from geo_service.workers.queries import workforce

bp = Blueprint("reports", __name__, url_prefix="/api/v1")

INTAKE_ROLES = ("admin", "dispatcher", "worker")


@bp.post("/reports")
@allow(*INTAKE_ROLES)
def submit():
    """Receive a report: placed in its grid and chain, stored once per client `id`.

    A retry with the same `id` and content answers 200 with the stored report; the same
    `id` with other content is a 409 `id_reused`. A report in no grid is kept, routed to
    the nearest grid's township and flagged `outside`.
    ---
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: NewReport
      responses:
        "201":
          description: stored; Location names it
          content:
            application/json:
              schema: Report
        "200":
          description: a retry of a report already stored
          content:
            application/json:
              schema: Report
        "400": BadRequest
        "409": Conflict
        "413": TooLarge
        "415": NotJson
        "422": Unprocessable
        "503": NoBoundaries
    """
    body = json_body()
    now = utc_now()
    cfg = current_app.config
    new = cases.read_report(body, now=now, skew_s=cfg["CLOCK_SKEW_S"])
    vi = version_index(None)
    p, sc = principal(), scope()
    engine = services(current_app).engine
    # What only reads comes first, without the write lock (SQLite's one writer): the
    # placement and the duplicate suggestion. A retry is found by the insert, which then
    # writes nothing (a check before it would cost every new report a query).
    with engine.connect() as conn:
        try:
            row = cases.prepare_report(conn, vi, new, actor=p, scope=sc, settings=cfg,
                                       now=now)
        except ServiceError:
            # A retry is answered as stored (or 409) even where its point would be refused
            # now (say, a boundary version since); only a new report gets the refusal.
            stored = cases.stored_report(conn, vi, new, actor=p, scope=sc)
            if stored is None:
                raise
            return jsonify(cases.report_view(vi, stored, p.role, now))
    # The write, in one commit with those of concurrent requests; acknowledged after it.
    created = group_commit(engine, partial(cases.store_report, row=row, actor=p, now=now))
    if created is None:  # the id is taken: a retry, or a concurrent first delivery
        with engine.connect() as conn:
            stored = cases.stored_report(conn, vi, new, actor=p, scope=sc)
        if stored is None:  # reports are never deleted
            raise RuntimeError(f"report {new.id} neither inserted nor found")
        return jsonify(cases.report_view(vi, stored, p.role, now))
    view = cases.report_view(vi, created, p.role, now)
    # What url_for("reports.one", ...) gives (a UUID needs no escaping), in 1 us, not 30.
    return jsonify(view), 201, {"Location": f"{request.script_root}{bp.url_prefix}/reports/"
                                            f"{created['id']}"}


@bp.get("/reports")
@allow(*ANY_ROLE)
def listing():
    """Reports in the caller's scope, newest first, filtered, a page at a time.

    `area` takes everything below that area; `status` takes a comma list (or `open`,
    `active`); pass the answer's `next_cursor` as `cursor` for the next page.
    `format=geojson` answers a FeatureCollection for maps.
    ---
    get:
      parameters:
        - {in: query, name: area, schema: {type: string}}
        - {in: query, name: status, schema: {type: string}}
        - {in: query, name: class, schema: {type: string}}
        - {in: query, name: subtype, schema: {type: string}}
        - {in: query, name: overdue, schema: {type: string, enum: ["true", "false"]}}
        - {in: query, name: level, schema: {type: string},
           description: "the owning level"}
        - {in: query, name: since, schema: {type: string, format: date-time}}
        - {in: query, name: until, schema: {type: string, format: date-time}}
        - {in: query, name: bbox, schema: {type: string},
           description: "minlon,minlat,maxlon,maxlat (WGS84)"}
        - {in: query, name: cursor, schema: {type: string}}
        - {in: query, name: limit, schema: {type: integer, minimum: 1, maximum: 500}}
        - {in: query, name: format, schema: {type: string, enum: [json, geojson]}}
      responses:
        "200":
          description: a page of reports
          content:
            application/json:
              schema: ReportPage
        "400": BadRequest
        "404": NotFound
        "503": NoBoundaries
    """
    args = query()
    fmt = args.pop("format", "json")
    if fmt not in ("json", "geojson"):
        raise Invalid("format must be json or geojson", "format", code="invalid_choice")
    f = cases.read_filter(args)
    vi, now, role = version_index(None), utc_now(), principal().role
    with services(current_app).engine.connect() as conn:
        rows, cursor = cases.find_reports(conn, vi, f, scope=scope(), now=now)
    views = [cases.report_view(vi, r, role, now) for r in rows]
    nxt = str(cursor) if cursor else None
    if fmt == "geojson":
        return jsonify({"type": "FeatureCollection", "next_cursor": nxt,
                        "features": [cases.as_feature(v) for v in views]})
    return jsonify({"reports": views, "next_cursor": nxt})


@bp.get("/reports/<report_id>")
@allow(*ANY_ROLE)
def one(report_id: str):
    """One report with its whole history (every step, who, when, from, to, note).
    ---
    get:
      parameters:
        - {in: path, name: report_id, required: true, schema: {type: string}}
      responses:
        "200":
          description: the report and its history
          content:
            application/json:
              schema: ReportDetail
        "404": NotFound
        "503": NoBoundaries
    """
    vi, now = version_index(None), utc_now()
    with services(current_app).engine.connect() as conn:
        row, steps = cases.get_report(conn, vi, report_id, scope=scope())
    return jsonify({**cases.report_view(vi, row, principal().role, now),
                    "history": [cases.step_view(s) for s in steps]})


@bp.post("/reports/<report_id>/actions")
@allow(*INTAKE_ROLES)
@page_write
def take_action(report_id: str):
    """Move a case: accept, assign, start, resolve, follow_up, close, escalate, return,
    reopen, merge.

    Send the `version` you saw: a stale one is a 409 `stale_version`; an action the
    workflow table does not allow now is a 409 `illegal_transition` listing the allowed.
    ---
    post:
      parameters:
        - {in: path, name: report_id, required: true, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json:
            schema: ReportAction
      responses:
        "200":
          description: the case after the action
          content:
            application/json:
              schema: Report
        "400": BadRequest
        "404": NotFound
        "409": Conflict
        "415": NotJson
        "503": NoBoundaries
    """
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("action"), str):
        raise Invalid("expected a JSON object with action and version", "action",
                      code="invalid_body")
    extra = sorted(set(body) - {"action", "version", "note", "worker", "into"})
    if extra:
        raise Invalid(f"unknown field {extra[0][:40]!r}", extra[0][:40], code="unknown_field")
    vi, now, p = version_index(None), utc_now(), principal()
    with unit_of_work(services(current_app).engine) as uow:
        row = cases.act(uow.conn, vi, report_id, body["action"], actor=p, scope=scope(),
                        version=body.get("version"), settings=current_app.config, now=now,
                        note=body.get("note") or "", worker=body.get("worker"),
                        into=body.get("into"))
    return jsonify(cases.report_view(vi, row, p.role, now))


@bp.get("/stats")
@allow(*ANY_ROLE)
@long_running
def stats():
    """The KPIs of an area: reports, open, overdue, closed, the share resolved inside the
    grid and at township level or below, median times to accept and to close, per class,
    and a daily series (default window: the last 30 days); reports per hour over the last
    24 hours (whatever the window); and, as of now, workers on duty and online, grids
    their own team was in today, households with a verified visit in the last 30 days
    (and their share) and care households overdue for their visit.
    ---
    get:
      parameters:
        - {in: query, name: area, schema: {type: string}}
        - {in: query, name: since, schema: {type: string, format: date-time}}
        - {in: query, name: until, schema: {type: string, format: date-time}}
      responses:
        "200":
          description: the figures
          content:
            application/json:
              schema: Stats
        "400": BadRequest
        "404": NotFound
        "503": NoBoundaries
    """
    args = query()
    unknown = sorted(set(args) - {"area", "since", "until"})
    if unknown:
        raise Invalid(f"unknown parameter {unknown[0][:40]!r}", unknown[0][:40],
                      code="unknown_parameter")
    now = utc_now()
    until = parse_time(args["until"], "until") if "until" in args else now
    since = (parse_time(args["since"], "since") if "since" in args
             else until - timedelta(days=30))
    if since > until:
        raise Invalid("since must not be after until", "since", code="invalid_window")
    area = args.get("area")
    if area == "":
        raise Invalid("area is empty; give an area code", "area", code="invalid_area")
    vi, sc, cfg = version_index(None), scope(), current_app.config
    with services(current_app).engine.connect() as conn:
        figures = cases.area_stats(conn, vi, area=area, scope=sc, since=since, until=until,
                                   now=now)
        figures |= workforce(conn, vi, scope=sc, area=area, now=now, settings=cfg,
                             day=local_day(now, cfg["TIMEZONE"]))
        figures |= visited_figures(conn, vi, scope=sc, area=area, now=now, settings=cfg)
    return jsonify(figures)


@bp.get("/stats/caseload")
@allow(*ANY_ROLE)
def caseload():
    """Open cases and overdue ones per area of one level (county, township, village or
    grid) inside `area` and the token's scope, as of now: the wall's choropleth when it
    is zoomed out to townships or counties. Areas with no open case are left out.
    ---
    get:
      parameters:
        - {in: query, name: level, required: true,
           schema: {type: string, enum: [county, township, village, grid]}}
        - {in: query, name: area, schema: {type: string}}
      responses:
        "200":
          description: open cases per area, most first
          content:
            application/json:
              schema: Caseload
        "400": BadRequest
        "403": Forbidden
        "404": NotFound
        "503": NoBoundaries
    """
    args = query()
    unknown = sorted(set(args) - {"area", "level"})
    if unknown:
        raise Invalid(f"unknown parameter {unknown[0][:40]!r}", unknown[0][:40],
                      code="unknown_parameter")
    level = args.get("level", "")
    if level not in cases.CASELOAD_LEVELS:
        raise Invalid(f"level is one of {', '.join(cases.CASELOAD_LEVELS)}", "level",
                      code="invalid_level")
    area = args.get("area")
    if area == "":
        raise Invalid("area is empty; give an area code", "area", code="invalid_area")
    vi = version_index(None)
    with services(current_app).engine.connect() as conn:
        return jsonify(cases.open_caseload(conn, vi, level=level, area=area, scope=scope(),
                                           now=utc_now()))
