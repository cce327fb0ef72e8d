"""`/editor`: the boundary editor for grid planners (see `geo_service.editor`).

Opened like the wall: with a login session's cookie, or once with `?token=` that is swapped
for an HttpOnly, SameSite=Strict session cookie (303 to the page without it). Planners and
admins only; a scoped token opens only areas inside its scope. The page's writes (new
draft, edits, undo/redo, publish) go to the draft API with that cookie and the CSRF token
the page is handed (`web.csrf_token`, checked in `web._page_write`), and so does its
History panel's rollback (`POST /api/v1/versions/{id}/rollback`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template
from flask_babel import get_locale
from flask_babel import gettext as _

from geo_service import editor as domain
from geo_service.errors import Invalid
from geo_service.web import (
    allow,
    credential,
    csrf_token,
    principal,
    query,
    scope,
    url_token,
)
from geo_service.web.lookup import version_index
from geo_service.web.wall import LANGS, _policy, _to_session

bp = Blueprint("editor", __name__)

EDITOR_ROLES = ("planner", "admin")
PARAMS = ("area", "draft", "lang", "token")
def init_app(app: Flask) -> None:
    """The page's blueprint. The API's writes it makes with its session cookie (a draft's
    create, edit, undo, redo, publish; a version's rollback) are `page_write` where they
    are declared."""
    app.register_blueprint(bp)


def strings() -> dict[str, str]:
    """Every text the editor's JavaScript shows, in the page's language (`{…}` filled in
    by the script)."""
    return {
        "no_draft": _("No draft open: choose one or start a new draft to edit"),
        "draft_label": _("Draft %(id)s · %(author)s · %(note)s", id="{id}", author="{author}",
                         note="{note}"),
        "draft_created": _("Draft %(id)s started", id="{id}"),
        "draft_stale": _("This draft is based on version %(base)s; version %(live)s is live",
                         base="{base}", live="{live}"),
        "loading": _("Loading…"),
        "saving": _("Saving…"),
        "saved": _("Saved (edit %(n)s)", n="{n}"),
        "refused": _("Refused: %(message)s", message="{message}"),
        "no_problems": _("No problems"),
        "problem.item": _("%(code)s (#%(index)s): %(message)s", code="{code}", index="{index}",
                          message="{message}"),
        "problem.overlap": _("overlaps %(other)s by %(m2)s m²", other="{other}", m2="{m2}"),
        "problem.area": _("%(code)s: %(message)s", code="{code}", message="{message}"),
        "problem.gap": _("%(m2)s m² not covered by any grid", m2="{m2}"),
        "problem.gap.group": _("%(m2)s m² of this grid not covered by its ten-household "
                               "groups", m2="{m2}"),
        "problem.outside_parent": _("%(m2)s m² outside its village", m2="{m2}"),
        "problem.outside_parent.group": _("%(m2)s m² outside its grid", m2="{m2}"),
        "new_grid": _("New grid"),
        "new_grid_hint": _("Name the grid just drawn and save it"),
        "split_none": _("The line must cross exactly one grid"),
        "split_name": _("Name of the new part"),
        "merge_pick": _("Click two neighbouring grids"),
        "merge_ready": _("Merge %(a)s into %(b)s?", a="{a}", b="{b}"),
        "changed": _("changed in this draft"),
        "impact_none": _("Nothing would move"),
        "impact_truncated": _("(the map shows the first %(n)s moved points)", n="{n}"),
        "impact_title": _("%(households)s households, %(groups)s groups, %(workers)s workers, "
                          "%(cases)s open cases change grid", households="{households}",
                          groups="{groups}", workers="{workers}", cases="{cases}"),
        "publish_confirm": _("Publish draft %(id)s? %(summary)s", id="{id}",
                             summary="{summary}"),
        "published": _("Published as version %(version)s: %(households)s households, "
                       "%(cases)s open cases moved", version="{version}",
                       households="{households}", cases="{cases}"),
        "stale": _("Someone published since this draft was started; changed since:"),
        "stale.added": _("added"), "stale.removed": _("removed"),
        "stale.reshaped": _("reshaped"), "stale.renamed": _("renamed"),
        "stale.reparented": _("moved to another parent"),
        "household": _("Household"), "case": _("Open case"), "worker": _("Worker"),
        "group": _("Ten-household group"),
        "tool.split": _("Cut a grid in two along a line"),
        "tool.merge": _("Merge two neighbouring grids"),
        **history_strings(),
    }


def history_strings() -> dict[str, str]:
    """The History panel's texts: the versions, a diff of two on the map, rolling back."""
    return {
        "history.version": _("Version %(id)s", id="{id}"),
        "history.live": _("live"),
        "history.from": _("from version"), "history.to": _("to version"),
        "history.by": _("%(when)s · %(who)s", when="{when}", who="{who}"),
        "history.counts": _("%(grids)s grids, %(groups)s ten-household groups",
                            grids="{grids}", groups="{groups}"),
        "history.moved": _("its publish moved %(households)s households and %(cases)s open "
                           "cases", households="{households}", cases="{cases}"),
        "history.none": _("No published versions"),
        "history.pick": _("Pick two different versions to compare"),
        "history.rollback": _("Roll back to this version…"),
        "rollback.note": _("Rollback to version %(id)s", id="{id}"),
        "diff.title": _("Version %(a)s → version %(b)s: %(changes)s", a="{a}", b="{b}",
                        changes="{changes}"),
        "sep": _(", "),
        "diff.none": _("No differences at this level"),
        "diff.count": _("%(n)s %(change)s", n="{n}", change="{change}"),
        "change.added": _("added"), "change.removed": _("removed"),
        "change.reshaped": _("reshaped"), "change.renamed": _("renamed"),
        "change.reparented": _("moved to another parent"),
        "diff.area": _("%(name)s (%(code)s), %(m2)s m²", name="{name}", code="{code}",
                       m2="{m2}"),
        "diff.reshaped": _("%(name)s (%(code)s): %(change)s m², %(moved)s m² changed hands",
                           name="{name}", code="{code}", change="{change}", moved="{moved}"),
        "diff.renamed": _("%(code)s: %(old)s → %(new)s", code="{code}", old="{old}",
                          new="{new}"),
        "diff.reparented": _("%(name)s (%(code)s): %(old)s → %(new)s", name="{name}",
                             code="{code}", old="{old}", new="{new}"),
        "rollback.confirm": _("Roll back to version %(id)s? A new version holding exactly "
                              "its areas will be published in place of version %(live)s "
                              "(%(changes)s); households, ten-household groups, workers' "
                              "areas and open cases follow their grids.", id="{id}",
                              live="{live}", changes="{changes}"),
        "rollback.done": _("Rolled back to version %(target)s, published as version "
                           "%(version)s: %(households)s households, %(groups)s groups, "
                           "%(workers)s workers and %(cases)s open cases moved",
                           target="{target}", version="{version}", households="{households}",
                           groups="{groups}", workers="{workers}", cases="{cases}"),
    }


@bp.get("/editor")
@allow(*EDITOR_ROLES)
@url_token
def editor():
    """The editor of one township's or village's grids (`area=`), on a draft (`draft=`)
    or none yet, in `lang` (zh or en). Without an area (or on a county), the townships
    and villages the caller may open."""
    args = query()
    unknown = sorted(set(args) - set(PARAMS))
    if unknown:
        raise Invalid(f"unknown parameter {unknown[0][:40]!r}; parameters: "
                      f"{', '.join(PARAMS)}", unknown[0][:40], code="unknown_parameter")
    if "lang" in args and args["lang"] not in LANGS:
        raise Invalid(f"lang is one of {', '.join(LANGS)}", "lang", code="invalid_choice")
    draft = args.get("draft")
    if draft is not None and not (draft.isascii() and draft.isdigit() and draft[0] != "0"
                                  and int(draft) < 2**31):
        raise Invalid("draft is a draft's id, a whole number such as 3", "draft",
                      code="invalid_draft")
    allowed = scope()
    if "token" in args:
        return _to_session(args)
    vi = version_index(None)
    if "area" in args:
        allowed = allowed.narrow(vi, args["area"], "area")
    info = vi.areas.get(allowed.area) if allowed.area else None
    if info is not None and info.level in ("grid", "group"):
        raise Invalid(f"the editor opens on a township or a village; {info.code} is a "
                      f"{info.level}", "area", code="invalid_area_level")
    lang = str(get_locale() or LANGS[0])
    other = LANGS[1] if lang == LANGS[0] else LANGS[0]
    cfg = current_app.config
    if info is None or info.level not in domain.EDITABLE_LEVELS:
        title = _("Boundary editor")
        html = render_template("editor_choose.html", title=title, lang=lang,
                               choices=domain.choices(vi, allowed), other_lang=other,
                               area=allowed.area)
        return _page(html, cfg["BASEMAP_URL"])
    title = _("Boundary editor") + f" · {info.name}"
    config: dict[str, Any] = {
        "api": "/api/v1", "area": info.code, "area_name": info.name,
        "area_level": info.level, "role": principal().role, "user": principal().name,
        "timezone": cfg["TIMEZONE"],
        "draft": int(draft) if draft else None, "live_version": vi.version, "lang": lang,
        "tiles": {"url": cfg["BASEMAP_URL"], "attribution": cfg["BASEMAP_ATTRIBUTION"],
                  "gcj02": cfg["BASEMAP_GCJ02"]},
        "csrf": csrf_token(credential()), "strings": strings(),
    }
    labels = {"grids": _("Grids"), "context": _("Area outline"),
              "groups": _("Ten-household groups"), "problems": _("Problems"),
              "impact": _("What would move"), "history": _("Changes between versions")}
    panel = render_template("editor_panel.html", title=title, lang=lang, other_lang=other,
                            area=info.code, draft=draft, colours=domain.COLOURS)
    html = domain.editor_page(lambda path: f"/static/{path}", config=config, labels=labels,
                              panel=panel, title=title, tiles=cfg["BASEMAP_URL"],
                              attribution=cfg["BASEMAP_ATTRIBUTION"])
    html = html.replace("<html>", f'<html lang="{"zh-CN" if lang == "zh" else "en"}">', 1)
    return _page(html, cfg["BASEMAP_URL"])


def _page(html: str, tiles: str) -> Response:
    return Response(html, mimetype="text/html", headers={
        "Content-Security-Policy": _policy(tiles), "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff"})
