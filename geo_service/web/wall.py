"""`/wall`: the command center's wall display (see `geo_service.wall`).

A kiosk browser opens `/wall?token=…` once: the token is swapped for an HttpOnly,
SameSite=Strict session cookie and the address bar loses it (303 to the same page without
it). The cookie carries the token itself, so revoking the token ends the session within
`TOKEN_CACHE_S`, and it authenticates only the page's own reads (see `web._credential`).
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import shapely
from flask import Blueprint, Flask, Response, current_app, redirect, render_template, request
from flask_babel import Babel, get_locale
from flask_babel import gettext as _

from geo_service import wall as domain
from geo_service.app import services
from geo_service.errors import Invalid
from geo_service.web import (
    SESSION_COOKIE,
    allow,
    credential,
    csrf_token,
    principal,
    query,
    scope,
    url_token,
)
from geo_service.web.areas import whole_level
from geo_service.web.lookup import version_index

bp = Blueprint("wall", __name__)
log = logging.getLogger(__name__)

WALL_ROLES = ("viewer", "dispatcher", "admin")
DISPATCH_ROLES = ("dispatcher", "admin")  # their wall assigns, escalates, calls out
LANGS = ("zh", "en")  # Simplified Chinese first: the default
PARAMS = ("area", "cycle", "lang", "token")


def _lang() -> str:
    lang = request.args.get("lang", "")
    return lang if lang in LANGS else LANGS[0]


def init_app(app: Flask) -> None:
    """Flask-Babel: catalogues in geo_service/translations, the language from `?lang=`."""
    Babel(app, locale_selector=_lang, default_locale=LANGS[0])
    app.register_blueprint(bp)


def warm(app: Flask) -> None:
    """Prepare the live version's geometry as a wall first reads it (each level it shades,
    whole, at the tolerances it opens at: `areas.whole_level`), in the process that forks
    the workers, so they share it and no wall's first load waits for the simplifying (1-3 s
    a worker for the demo). Never fails: a wall without it is only slower."""
    svc = services(app)
    vi = svc.indexes.live()
    if vi is None:
        return
    t0 = time.perf_counter()
    try:
        with app.app_context(), svc.engine.connect() as conn:
            for tolerance in domain.OPENING_TOLERANCES:
                for level in ("grid", "township", "county"):
                    whole_level(conn, vi, level, float(tolerance))
    except Exception:
        log.exception("preparing the wall's geometry failed")
        return
    log.info("the wall's geometry of version %s prepared in %.1f s", vi.version,
             time.perf_counter() - t0)


def strings() -> dict[str, str]:
    """Every text the wall's JavaScript shows, in the page's language (`{n}`, `{time}`
    and `{name}` are filled in by the script)."""
    return {
        "offline_since": _("Offline since %(time)s", time="{time}"),
        "reconnected": _("Live"),
        "last_seen": _("last seen %(n)s min ago", n="{n}"),
        "no_position": _("no position"),
        "history": _("History"),
        "reporter": _("Reporter"),
        "owner": _("Owning level"),
        "due": _("Due"),
        "overdue": _("Overdue"),
        "urgent": _("Urgent"),
        "grid": _("Grid"),
        "open_cases": _("Open cases: %(n)s", n="{n}"),
        "class.attention": _("Attention"),
        "class.management": _("Management"),
        "class.service": _("Service"),
        "status.reported": _("reported"), "status.accepted": _("accepted"),
        "status.assigned": _("assigned"), "status.in_progress": _("in progress"),
        "status.resolved": _("resolved"), "status.followed_up": _("followed up"),
        "status.closed": _("closed"), "status.escalated": _("escalated"),
        "status.returned": _("returned"), "status.reopened": _("reopened"),
        "worker.online": _("online"), "worker.stale": _("stale"),
        "worker.offline": _("offline"), "worker.off_duty": _("off duty"),
        "role.grid_worker": _("Grid worker"), "role.grid_leader": _("Grid leader"),
        "role.grid_guide": _("Grid guide"), "role.liaison_head": _("Liaison head"),
        "role.militia": _("Militia"),
        "event.report.created": _("New report"),
        "event.report.changed": _("Report updated"),
        "event.report.escalated": _("Escalated"),
        "event.report.overdue": _("Overdue"),
        "event.report.merged": _("Merged"),
        "event.worker.status": _("Worker status"),
        "event.worker.entered": _("Worker entered grid"),
        "event.boundary.published": _("New boundary version"),
        "event.callout.created": _("Call-out"),
        "event.callout.called": _("Called"),
        "event.callout.acked": _("Acknowledged"),
        "event.callout.closed": _("Call-out stood down"),
        "callout.called": _("called %(n)s", n="{n}"),
        "callout.acked": _("acknowledged %(n)s", n="{n}"),
        "callout.moving": _("on the way %(n)s", n="{n}"),
        "callout.waiting": _("waiting"),
        "callout.on_the_way": _("on the way"),
    }


def dispatch_strings() -> dict[str, str]:
    """The dispatcher's controls (only on a dispatcher's or an admin's wall)."""
    return {
        "dispatch.title": _("Dispatch"),
        "dispatch.pick": _("Click a case on the map"),
        "dispatch.candidates": _("Candidates"),
        "dispatch.none": _("No worker available"),
        "dispatch.assign": _("Assign"),
        "dispatch.auto": _("Auto-assign"),
        "dispatch.escalate": _("Escalate"),
        "dispatch.merge": _("Merge into %(id)s", id="{id}"),
        "dispatch.own_team": _("own team"),
        "dispatch.km": _("%(km)s km", km="{km}"),
        "dispatch.done": _("Done: %(status)s", status="{status}"),
        "dispatch.failed": _("Refused: %(message)s", message="{message}"),
        "callout.start": _("Emergency call-out"),
        "callout.radius": _("Radius (m)"),
        "callout.area": _("Whole grid clicked"),
        "callout.message": _("Message"),
        "callout.click": _("Click the map for the centre"),
        "callout.send": _("Call out"),
        "callout.cancel": _("Cancel"),
        "callout.close": _("Stand down"),
    }


def _to_session(args: dict[str, str]) -> Response:
    """303 to the page without `token`, setting the session cookie from it."""
    rest = {k: v for k, v in args.items() if k != "token"}
    target = request.path + ("?" + urlencode(rest) if rest else "")
    response = redirect(target, code=303)
    response.set_cookie(SESSION_COOKIE, credential(), httponly=True, samesite="Strict",
                        secure=request.is_secure, path="/")
    return response


def _policy(tiles: str) -> str:
    """Nothing may load from anywhere but this service (and the configured tile server)."""
    tile_origin = ""
    if tiles:
        parts = urlsplit(tiles)
        tile_origin = f" {parts.scheme}://{parts.netloc}" if parts.netloc else ""
    return ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data:{tile_origin}; connect-src 'self'; font-src 'self'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def _bounds(vi: Any, allowed: Any) -> list[list[float]] | None:
    """[[south, west], [north, east]] of the grids the wall shows, so the map opens fitted
    to them and fetches its geometry once, at that zoom's tier (not at a default zoom's,
    then again)."""
    mask = allowed.grid_mask(vi)
    geoms = vi.grids.geoms if mask is None else vi.grids.geoms[mask]
    if not len(geoms):
        return None
    west, south, east, north = (float(v) for v in shapely.total_bounds(geoms))
    return [[south, west], [north, east]]


@bp.get("/wall")
@allow(*WALL_ROLES)
@url_token
def wall():
    """The wall: the map of caseload and workers, KPIs, the ticker and the trend, for the
    caller's area scope or one area inside it (`area=`), in `lang` (zh or en), touring its
    child areas every `cycle` seconds if asked."""
    args = query()
    unknown = sorted(set(args) - set(PARAMS))
    if unknown:
        raise Invalid(f"unknown parameter {unknown[0][:40]!r}; parameters: "
                      f"{', '.join(PARAMS)}", unknown[0][:40], code="unknown_parameter")
    if "lang" in args and args["lang"] not in LANGS:
        raise Invalid(f"lang is one of {', '.join(LANGS)}", "lang", code="invalid_choice")
    cycle = 0
    if "cycle" in args:
        lo, hi = domain.CYCLE_S
        raw = args["cycle"]
        if not (raw.isascii() and raw.isdigit()) or not lo <= int(raw) <= hi:
            raise Invalid(f"cycle is a number of seconds from {lo} to {hi}", "cycle")
        cycle = int(raw)
    allowed = scope()
    if "token" in args:
        return _to_session(args)
    vi = version_index(None)
    if "area" in args:
        allowed = allowed.narrow(vi, args["area"], "area")
    area = allowed.area
    info = vi.areas.get(area) if area else None
    cfg = current_app.config
    lang = str(get_locale() or LANGS[0])
    title = _("Command center") + (f" · {info.name}" if info else "")
    config: dict[str, Any] = {
        "api": "/api/v1", "area": area, "area_name": info.name if info else None,
        "area_level": info.level if info else None, "role": principal().role,
        "lang": lang, "timezone": cfg["TIMEZONE"],
        "tiles": {"url": cfg["BASEMAP_URL"], "attribution": cfg["BASEMAP_ATTRIBUTION"],
                  "gcj02": bool(cfg["BASEMAP_GCJ02"] and cfg["BASEMAP_URL"])},
        "open_statuses": domain.open_statuses(), "class_colours": domain.CLASS_COLOURS,
        "levels": domain.shaded_levels(info.level if info else None),
        "aggregate_px": domain.AGGREGATE_PX, "tiers": domain.TIERS,
        "caseload": {level: domain.caseload_legend(level) for level in domain.CASELOAD_BINS},
        "cycle": ({**children, "seconds": cycle}
                  if cycle and (children := domain.cycle_children(vi.areas, area)) else None),
        "max_cases": cfg["WALL_MAX_CASES"],
        "stale_min": cfg["STALE_MIN"],
        "ticker_lines": 12, "strings": strings(),
    }
    if principal().role in DISPATCH_ROLES:  # its writes go through `web._page_write`
        config["csrf"] = csrf_token(credential())
        config["strings"].update(dispatch_strings())
    labels = {"grids": _("Open cases per area"), "unvisited": _("Not visited today"),
              "boundaries": _("Townships and counties"), "workers": _("Workers"),
              "offline": _("Offline workers"), "cases": _("Open cases")}
    panel = render_template("wall_panel.html", title=title, lang=lang,
                            legends=config["caseload"], levels=config["levels"],
                            classes=domain.CLASS_COLOURS,
                            other_lang=LANGS[1] if lang == LANGS[0] else LANGS[0],
                            area=area, cycle=cycle, dispatcher=principal().role in DISPATCH_ROLES)
    html = domain.wall_page(lambda path: f"/static/{path}", config=config, labels=labels,
                            panel=panel, title=title, tiles=cfg["BASEMAP_URL"],
                            attribution=cfg["BASEMAP_ATTRIBUTION"],
                            bounds=_bounds(vi, allowed))
    html = html.replace("<html>", f'<html lang="{"zh-CN" if lang == "zh" else "en"}">', 1)
    return Response(html, mimetype="text/html", headers={
        "Content-Security-Policy": _policy(cfg["BASEMAP_URL"]),
        "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"})
