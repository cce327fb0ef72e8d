"""`/api/v1/callouts`: emergency call-outs ("one order", 一声令) out, acknowledgements in."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request, url_for

from geo_service.app import services
from geo_service.auth import ANY_ROLE
from geo_service.errors import Invalid
from geo_service.inputs import whole_number
from geo_service.store.uow import unit_of_work
from geo_service.web import allow, json_body, page_write, principal, query, scope, utc_now
from geo_service.web.lookup import version_index
from geo_service.workers import callouts as domain

bp = Blueprint("callouts", __name__, url_prefix="/api/v1")

MAX_LIST = 500


def _view(callout_id: str):
    with services(current_app).engine.connect() as conn:
        return domain.callout_view(conn, version_index(None), callout_id, actor=principal(),
                                   scope=scope(), settings=current_app.config, now=utc_now())


@bp.post("/callouts")
@allow("dispatcher", "admin")
@page_write
def create():
    """Call out every on-duty worker of the given roles in an area, or within a radius of
    a point, at once: each gets the order on its own event stream.

    An area calls the workers answering for areas inside it; a radius those whose current
    position lies within it. Online and stale workers are called; off-duty and offline
    ones are counted in `counts.not_called`. The area (or point) must lie inside the
    token's scope, and a radius calls only workers answering for areas inside it.
    ---
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: NewCallout
      responses:
        "201":
          description: sent; Location names it
          content:
            application/json:
              schema: Callout
        "400": BadRequest
        "404": NotFound
        "415": NotJson
        "422": Unprocessable
        "503": NoBoundaries
    """
    new = domain.read_callout(json_body())
    vi = version_index(None)
    with unit_of_work(services(current_app).engine) as uow:
        cid = domain.issue_callout(uow.conn, vi, new, actor=principal(), scope=scope(),
                                   settings=current_app.config, now=utc_now())
    return _view(cid), 201, {"Location": url_for("callouts.one", callout_id=cid)}


@bp.get("/callouts")
@allow(*ANY_ROLE)
def listing():
    """Call-outs in the caller's scope (and, for a worker's token, those that called it),
    newest first, with how many were called and acknowledged.
    ---
    get:
      parameters:
        - {in: query, name: open, schema: {type: string, enum: ["true", "false"]},
           description: "only open (true) or closed (false) call-outs"}
        - {in: query, name: limit, schema: {type: integer, minimum: 1, maximum: 500}}
      responses:
        "200":
          description: the call-outs
          content:
            application/json:
              schema: CalloutList
        "400": BadRequest
        "503": NoBoundaries
    """
    args = query()
    extra = sorted(set(args) - {"open", "limit"})
    if extra:
        raise Invalid(f"unknown parameter {extra[0][:40]!r}; known: limit, open",
                      extra[0][:40], code="unknown_parameter")
    if args.get("open", "true") not in ("true", "false"):
        raise Invalid("open must be true or false", "open", code="invalid_choice")
    limit = whole_number(args, "limit", 1, MAX_LIST, 100)
    open_only = None if "open" not in args else args["open"] == "true"
    with services(current_app).engine.connect() as conn:
        found = domain.list_callouts(conn, version_index(None), actor=principal(),
                                     scope=scope(), open_only=open_only, limit=limit)
    return jsonify({"callouts": found, "count": len(found)})


@bp.get("/callouts/<callout_id>")
@allow(*ANY_ROLE)
def one(callout_id: str):
    """One call-out: who was called, who acknowledged and how fast, who is moving towards
    the point (closer now than when called), with counts; names and phones per role.
    ---
    get:
      parameters:
        - {in: path, name: callout_id, required: true, schema: {type: string}}
      responses:
        "200":
          description: the call-out
          content:
            application/json:
              schema: Callout
        "404": NotFound
        "503": NoBoundaries
    """
    return jsonify(_view(callout_id))


@bp.post("/callouts/<callout_id>/ack")
@allow("worker", "admin")
def ack(callout_id: str):
    """A called worker acknowledges, with its position (optional: else its current one);
    records when, and how far from the point. Again: the first acknowledgement, unchanged.
    ---
    post:
      parameters:
        - {in: path, name: callout_id, required: true, schema: {type: string}}
      requestBody:
        required: false
        content:
          application/json:
            schema: CalloutAck
      responses:
        "200":
          description: the acknowledgement
          content:
            application/json:
              schema: CalloutAcked
        "400": BadRequest
        "404": NotFound
        "409": Conflict
        "415": NotJson
        "422": Unprocessable
        "503": NoBoundaries
    """
    body = {} if not request.content_length and not request.is_json else json_body()
    vi = version_index(None)
    with unit_of_work(services(current_app).engine) as uow:
        done = domain.acknowledge(uow.conn, vi, callout_id, body, actor=principal(),
                                  scope=scope(), now=utc_now())
    return jsonify(done)


@bp.post("/callouts/<callout_id>/close")
@allow("dispatcher", "admin")
@page_write
def close(callout_id: str):
    """Stand a call-out down; acknowledgements after that are refused (409). Closing it
    again changes nothing.
    ---
    post:
      parameters:
        - {in: path, name: callout_id, required: true, schema: {type: string}}
      responses:
        "200":
          description: the call-out, closed
          content:
            application/json:
              schema: Callout
        "404": NotFound
        "503": NoBoundaries
    """
    vi = version_index(None)
    with unit_of_work(services(current_app).engine) as uow:
        domain.close_callout(uow.conn, vi, callout_id, actor=principal(), scope=scope(),
                             now=utc_now())
    return _view(callout_id)
