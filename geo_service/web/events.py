"""`/api/v1/events`: the live event stream (Server-Sent Events) for the command center's
walls, filtered by the token's area scope; see `geo_service.live`."""

from __future__ import annotations

import select
import socket
from collections.abc import Callable

from flask import Blueprint, Response, current_app, request

from geo_service import live
from geo_service.app import services
from geo_service.auth import ANY_ROLE
from geo_service.errors import Invalid, Unavailable
from geo_service.lookup.parse import parse_number
from geo_service.web import allow, credential, long_running, principal, query, scope
from geo_service.web.lookup import version_index


def _closed_by_client(sock: socket.socket | None) -> Callable[[], bool]:
    """Whether the client closed the connection (readable at end of file), without
    waiting; gunicorn hands views the socket, other servers learn it at the next write."""
    if sock is None:
        return lambda: False

    def gone() -> bool:
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    return gone


bp = Blueprint("events", __name__, url_prefix="/api/v1")

PARAMS = ("after", "max_s", "area")


@bp.get("/events")
@allow(*ANY_ROLE)
@long_running
def stream():
    """The live stream of changes in the caller's area scope (Server-Sent Events).

    Each message is `id: <event id>`, `event: <kind>` (`report.created`, `report.changed`,
    `report.escalated`, `report.overdue`, `report.merged`, `boundary.published`) and
    `data: <JSON>`; no personal data. Reconnecting with the `Last-Event-ID` header (or
    `after=` for clients that cannot set headers; the header wins) replays every event
    after that id in order, then continues live; without either the stream starts at the
    current end. `: keepalive` comments come every `STREAM_HEARTBEAT_S` seconds on an idle
    stream. `area=` narrows the stream to one area (a county's wall), within the token's
    scope. A stream ends after `STREAM_MAX_S` seconds (or `max_s`, if shorter); the client
    reconnects and loses nothing.
    ---
    get:
      parameters:
        - {in: header, name: Last-Event-ID, schema: {type: string, pattern: "^[0-9]+$"},
           description: "the id of the last message received: replay what came after"}
        - {in: query, name: after, schema: {type: integer, minimum: 0},
           description: "the same as Last-Event-ID, for clients that cannot set headers"}
        - {in: query, name: area, schema: {type: string},
           description: "only events of this area and below (inside the token's scope)"}
        - {in: query, name: max_s, schema: {type: number, exclusiveMinimum: 0},
           description: "end the stream after this many seconds (at most STREAM_MAX_S)"}
      responses:
        "200":
          description: "an endless text/event-stream (until its lifetime ends)"
          content:
            text/event-stream:
              schema: StreamEvent
        "400": BadRequest
        "404": NotFound
        "503": StreamsFull
    """
    args = query()
    unknown = sorted(set(args) - set(PARAMS))
    if unknown:
        raise Invalid(f"unknown parameter {unknown[0][:40]!r}; parameters: "
                      f"{', '.join(PARAMS)}", unknown[0][:40], code="unknown_parameter")
    header = request.headers.get("Last-Event-ID", "")
    if header:
        after = live.parse_event_id(header, "Last-Event-ID")
    elif "after" in args:
        after = live.parse_event_id(args["after"], "after")
    else:
        after = None
    svc, cfg = services(current_app), current_app.config
    slots = cfg.get("STREAM_SLOTS")  # set by `serve`: streams this worker may hold
    if slots is not None and svc.hub.subscribers >= slots:
        raise Unavailable(f"this server process holds its most event streams ({slots}); "
                          "connect again shortly" if slots else "event streams need lane "
                          "threads (GEO_THREADS above 1)", headers={"Retry-After": "5"})
    lifetime = cfg["STREAM_MAX_S"]
    if "max_s" in args:
        max_s = parse_number(args["max_s"], "max_s")
        if max_s <= 0:
            raise Invalid(f"max_s must be above 0, got {args['max_s'][:40]!r}", "max_s")
        lifetime = min(lifetime, max_s)
    p, token, allowed = principal(), credential(), scope()
    if args.get("area"):  # a wall of one area: narrower than the token's scope, never wider
        allowed = allowed.narrow(version_index(None), args["area"], "area")
    body = live.event_stream(
        svc.engine, svc.hub, live.visible_to(allowed, svc.indexes.live), after,
        heartbeat_s=cfg["STREAM_HEARTBEAT_S"], lifetime_s=lifetime,
        allowed=lambda: svc.tokens.verify(svc.engine.connect, token) == p,
        gone=_closed_by_client(request.environ.get("gunicorn.socket")))
    # No buffering in a proxy (nginx honours X-Accel-Buffering), no caching anywhere.
    return Response(body, mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
