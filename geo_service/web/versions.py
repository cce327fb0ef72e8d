"""Publishing, impact, history: `/api/v1/drafts/{id}/impact|publish`,
`/api/v1/versions/{a}/diff/{b}`, `/api/v1/versions/{id}/rollback`. Thin: each view
parses, calls one domain function of `geo_service.versions`, and serialises."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from boundaries.levels import check_level
from geo_service.app import services
from geo_service.auth import ANY_ROLE, DRAFT_ROLES
from geo_service.errors import Invalid
from geo_service.store.uow import unit_of_work
from geo_service.versions import publish, resolve_version
from geo_service.versions.history import diff_geojson, diff_versions, rollback
from geo_service.versions.impact import impact
from geo_service.versions.reading import UnknownVersion
from geo_service.web import allow, json_body, long_running, page_write, principal, query, scope

bp = Blueprint("versions", __name__, url_prefix="/api/v1")

MAX_NOTE = 2000
MAX_ID = 2**31 - 1  # the store's integer ids


def _id(value: int) -> int:
    if value > MAX_ID:
        raise UnknownVersion(f"boundary version {value} does not exist")
    return value


def _no_parameters(known: tuple[str, ...] = ()) -> dict[str, str]:
    args = query()
    extra = sorted(set(args) - set(known))
    if extra:
        raise Invalid(f"unknown parameter {extra[0][:40]!r}; known: {', '.join(known) or '-'}",
                      extra[0][:40], code="unknown_parameter")
    return args


def _note() -> str | None:
    """The optional `{"note": ...}` body of a publish or rollback (no body: no note)."""
    _no_parameters()
    if not request.content_length and "chunked" not in request.headers.get(
            "Transfer-Encoding", "").lower():
        return None
    body: Any = json_body()
    if not isinstance(body, dict):
        raise Invalid("expected a JSON object, such as {\"note\": \"why\"}", "body",
                      code="invalid_body")
    extra = sorted(set(body) - {"note"})
    if extra:
        raise Invalid(f"unknown field {extra[0][:40]!r}; the body has only note",
                      extra[0][:40], code="unknown_field")
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE
                             or "\x00" in note):
        raise Invalid(f"note must be text of at most {MAX_NOTE} characters, without NUL",
                      "note", code="invalid_note")
    return note


@bp.get("/drafts/<int:draft_id>/impact")
@allow(*DRAFT_ROLES)
@long_running
def draft_impact(draft_id: int):
    """What publishing the draft would move: households, ten-household groups, workers
    and open cases that change grid, per (from → to), and the moved points on a map.

    Computed in one vectorized pass over the rows near the change. Households appear by
    code only (positions to 0.001° for planners), cases by id; `features` holds at most
    `GEO_IMPACT_MAX_FEATURES` points (`features_truncated` says when there were more). A
    scoped token may preview only a draft whose changes lie inside its area.
    ---
    get:
      parameters:
        - {in: path, name: draft_id, required: true, schema: {type: integer, minimum: 0}}
      responses:
        "200":
          description: the impact
          content:
            application/json:
              schema: Impact
        "400": BadRequest
        "404": NotFound
    """
    _no_parameters()
    sc = scope()
    with services(current_app).engine.connect() as conn:
        return jsonify(impact(conn, _id(draft_id), role=principal().role, scope=sc,
                              max_features=current_app.config["IMPACT_MAX_FEATURES"]))


@bp.post("/drafts/<int:draft_id>/publish")
@allow(*DRAFT_ROLES)
@long_running
@page_write
def publish_draft(draft_id: int):
    """Make the draft live, in one transaction: groups take the grid covering most of
    them, households, workers' areas and open cases move with their grids (a history step
    and an event per case), an audit record and `boundary.published` are written. Every
    process's lookup index switches to the new version within `GEO_INDEX_REFRESH_S`.

    409 `stale_draft` when another version was published since the draft began;
    `detail.changed` lists what that changed (added, removed, renamed, reparented,
    reshaped codes). The optional body's `note` becomes the version's note.
    ---
    post:
      parameters:
        - {in: path, name: draft_id, required: true, schema: {type: integer, minimum: 0}}
      requestBody:
        required: false
        content:
          application/json:
            schema: PublishRequest
      responses:
        "200":
          description: published
          content:
            application/json:
              schema: Published
        "400": BadRequest
        "404": NotFound
        "409": Conflict
        "413": TooLarge
        "415": NotJson
    """
    note, sc, who = _note(), scope(), principal().name
    with unit_of_work(services(current_app).engine) as uow:
        done = publish(uow.conn, _id(draft_id), who, note=note, scope=sc)
    return jsonify(done.to_dict())


@bp.get("/versions/<int:a>/diff/<int:b>")
@allow(*ANY_ROLE)
@long_running
def version_diff(a: int, b: int):
    """What changed from version `a` to version `b`: added, removed, renamed, reparented
    and reshaped areas (each with its level; areas in m²). `format=geojson`: the added,
    removed and reshaped areas as a FeatureCollection with a `change` property.

    Drafts only for planners and admins; a scoped token sees the areas inside its scope.
    ---
    get:
      parameters:
        - {in: path, name: a, required: true, schema: {type: integer, minimum: 0}}
        - {in: path, name: b, required: true, schema: {type: integer, minimum: 0}}
        - {in: query, name: format, schema: {type: string, enum: [json, geojson],
           default: json}}
        - {in: query, name: level, schema: {type: string, enum: [prefecture, county,
           township, village, grid, group]}}
      responses:
        "200":
          description: the diff
          content:
            application/json:
              schema: VersionDiff
        "400": BadRequest
        "404": NotFound
    """
    args = _no_parameters(("format", "level"))
    fmt = args.get("format", "json")
    if fmt not in ("json", "geojson"):
        raise Invalid(f"unknown format {fmt[:40]!r}; expected json or geojson", "format",
                      code="invalid_choice")
    level = args.get("level")
    if level is not None:
        check_level(level)
    drafts = principal().role in DRAFT_ROLES
    sc = scope()
    with services(current_app).engine.connect() as conn:
        a = resolve_version(conn, _id(a), drafts=drafts)
        b = resolve_version(conn, _id(b), drafts=drafts)
        if fmt == "geojson":
            return jsonify(diff_geojson(conn, a, b, level=level, scope=sc))
        return jsonify({"from": a, "to": b,
                        **diff_versions(conn, a, b, level=level, scope=sc)})


@bp.post("/versions/<int:version_id>/rollback")
@allow(*DRAFT_ROLES)
@long_running
@page_write
def rollback_version(version_id: int):
    """Make an earlier published version's areas live again: a new draft holding exactly
    that version's areas, published through the same path as any draft (households,
    groups, workers' areas and open cases follow; workers moved by the publishes since
    go back). 409 when the version is live already. The editor's History panel makes it
    with its session cookie and CSRF token (`page_write`).
    ---
    post:
      parameters:
        - {in: path, name: version_id, required: true, schema: {type: integer, minimum: 0}}
      requestBody:
        required: false
        content:
          application/json:
            schema: PublishRequest
      responses:
        "200":
          description: rolled back (a new live version)
          content:
            application/json:
              schema: Published
        "400": BadRequest
        "404": NotFound
        "409": Conflict
        "413": TooLarge
        "415": NotJson
    """
    note, sc, who = _note(), scope(), principal().name
    with unit_of_work(services(current_app).engine) as uow:
        done = rollback(uow.conn, _id(version_id), who, note or "", scope=sc)
    return jsonify(done.to_dict())
