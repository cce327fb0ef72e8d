"""`/api/v1/drafts`: the boundary editor's drafts (issue #12) — open, list, read, discard,
edit with undo and redo, validate, export and import. Planners and admins only; a draft's
areas never reach any other role. Each view parses, calls one domain function of
`geo_service.editing` in one unit of work, and serialises."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Blueprint, current_app, jsonify, request, url_for

from boundaries.levels import LEVELS
from geo_service.app import services
from geo_service.editing import answers, apply, drafts, files, log, ops
from geo_service.editing.problems import draft_problems
from geo_service.errors import Invalid, UnsupportedMediaType
from geo_service.lookup import parse_crs
from geo_service.store.uow import unit_of_work
from geo_service.web import allow, json_body, long_running, page_write, principal, query, scope
from geo_service.web.lookup import version_index

bp = Blueprint("drafts", __name__, url_prefix="/api/v1")
EDITORS = ("planner", "admin")
UPLOAD_SUFFIXES = (".geojson", ".json", ".gpkg", ".zip")


def _engine():
    return services(current_app).engine


def _tolerance() -> float:
    return current_app.config["IMPORT_TOLERANCE_M"]


def _args(known: set[str]) -> dict[str, str]:
    args = query()
    extra = sorted(set(args) - known)
    if extra:
        raise Invalid(f"unknown parameter {extra[0][:40]!r}; known: "
                      f"{', '.join(sorted(known)) or 'none'}", extra[0][:40],
                      code="unknown_parameter")
    return args


def _level(args: dict[str, str], default: str = "grid") -> str:
    level = args.get("level", default)
    if level not in LEVELS:
        raise Invalid(f"level must be one of {', '.join(LEVELS)}", "level",
                      code="invalid_level")
    return level


@bp.post("/drafts")
@allow(*EDITORS)
@page_write
def create():
    """Open a draft on the live boundary version, limited to an area (default: the
    token's own area; none: the whole tree).
    ---
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: NewDraft
      responses:
        "201":
          description: the new draft; Location names it
          content:
            application/json:
              schema: Draft
        "400": BadRequest
        "404": NotFound
        "413": TooLarge
        "415": NotJson
        "503": NoBoundaries
    """
    body = json_body()
    if not isinstance(body, dict):
        raise Invalid("expected a JSON object", "body", code="invalid_body")
    extra = sorted(set(body) - {"note", "area"})
    if extra:
        raise Invalid(f"unknown field {extra[0][:40]!r}", extra[0][:40], code="unknown_field")
    vi = version_index(None)
    with unit_of_work(_engine()) as uow:
        draft = drafts.open_draft(uow.conn, principal(), scope(), vi,
                                  note=body.get("note", ""), area=body.get("area"))
        out = answers.draft_answer(uow.conn, draft, _tolerance())
    return out, 201, {"Location": url_for("drafts.one", draft_id=draft.id)}


@bp.get("/drafts")
@allow(*EDITORS)
def listing():
    """The open drafts the caller may see (their area inside the token's scope).
    ---
    get:
      responses:
        "200":
          description: the drafts, oldest first
          content:
            application/json:
              schema: DraftList
        "400": BadRequest
        "503": NoBoundaries
    """
    _args(set())
    vi = version_index(None)
    with _engine().connect() as conn:
        return jsonify({"drafts": drafts.list_drafts(conn, scope(), vi)})


@bp.get("/drafts/<int:draft_id>")
@allow(*EDITORS)
def one(draft_id: int):
    """One draft: who, when, based on which version, its area, its edit log's state and
    every problem where it changed something.
    ---
    get:
      parameters: [draft_id]
      responses:
        "200":
          description: the draft
          content:
            application/json:
              schema: Draft
        "400": BadRequest
        "404": NotFound
        "503": NoBoundaries
    """
    _args(set())
    vi = version_index(None)
    with _engine().connect() as conn:
        draft = drafts.access(conn, draft_id, principal(), scope(), vi)
        return jsonify(answers.draft_answer(conn, draft, _tolerance()))


@bp.delete("/drafts/<int:draft_id>")
@allow(*EDITORS)
def discard(draft_id: int):
    """Discard a draft and everything in it (its author or an admin).
    ---
    delete:
      parameters: [draft_id]
      responses:
        "204":
          description: discarded
        "400": BadRequest
        "404": NotFound
        "503": NoBoundaries
    """
    _args(set())
    vi = version_index(None)
    with unit_of_work(_engine()) as uow:
        draft = drafts.access(uow.conn, draft_id, principal(), scope(), vi, write=True)
        drafts.discard(uow.conn, draft, principal())
    return "", 204


@bp.get("/drafts/<int:draft_id>/areas")
@allow(*EDITORS)
def draft_areas(draft_id: int):
    """The draft's areas of one level inside an area (default: the draft's own), at full
    precision, each saying whether the draft changed it.
    ---
    get:
      parameters:
        - draft_id
        - {in: query, name: level, schema: {type: string, enum: [prefecture, county,
           township, village, grid, group], default: grid}}
        - {in: query, name: area, schema: {type: string},
           description: "an area of the draft inside its own area"}
      responses:
        "200":
          description: the areas
          content:
            application/json:
              schema: DraftAreas
        "400": BadRequest
        "404": NotFound
        "503": NoBoundaries
    """
    args = _args({"level", "area"})
    level = _level(args)
    vi = version_index(None)
    with _engine().connect() as conn:
        draft = drafts.access(conn, draft_id, principal(), scope(), vi)
        area = args.get("area") or draft.area
        if area is not None:
            drafts.Ancestry(conn, draft).require(area, "area")
        return jsonify(files.collection(files.level_under(conn, draft, level, area)))


def _edit_answer(draft_id: int, work) -> dict:
    vi = version_index(None)
    with unit_of_work(_engine()) as uow:
        draft = drafts.access(uow.conn, draft_id, principal(), scope(), vi, write=True)
        outcome = work(uow.conn, draft)
        return answers.edit_answer(uow.conn, draft, outcome)


@bp.post("/drafts/<int:draft_id>/edits")
@allow(*EDITORS)
@page_write
def edit(draft_id: int):
    """Make one edit: reshape, add, move_vertex, split, merge, delete or rename. Drawn
    vertices snap to neighbours within GEO_EDIT_SNAP_M, neighbours follow, the grid's
    ten-household groups are re-grouped, all in one transaction; then the parents it
    touched are validated.
    ---
    post:
      parameters: [draft_id]
      requestBody:
        required: true
        content:
          application/json:
            schema: DraftEdit
      responses:
        "200":
          description: what changed, and the problems around it
          content:
            application/json:
              schema: EditAnswer
        "400": BadRequest
        "404": NotFound
        "409": Conflict
        "413": TooLarge
        "415": NotJson
        "422": Unprocessable
        "503": NoBoundaries
    """
    _args(set())
    op = ops.read_op(json_body(), max_vertices=current_app.config["EDIT_MAX_VERTICES"])
    snap, tol = current_app.config["EDIT_SNAP_M"], _tolerance()
    return jsonify(_edit_answer(draft_id, lambda conn, draft: apply.apply_edit(
        conn, draft, op, principal(), snap_m=snap, tolerance_m=tol)))


def _step(step):
    def work(conn, draft):
        seq, now, then = step(conn, draft)
        return apply.revisit(conn, draft, seq, now, then, _tolerance())
    return work


@bp.post("/drafts/<int:draft_id>/undo")
@allow(*EDITORS)
@page_write
def undo(draft_id: int):
    """Undo the draft's last edit: every area it touched is put back exactly.
    ---
    post:
      parameters: [draft_id]
      responses:
        "200":
          description: the areas as they are again, and the problems around them
          content:
            application/json:
              schema: EditAnswer
        "400": BadRequest
        "404": NotFound
        "409": Conflict
        "503": NoBoundaries
    """
    _args(set())
    return jsonify(_edit_answer(draft_id, _step(log.undo)))


@bp.post("/drafts/<int:draft_id>/redo")
@allow(*EDITORS)
@page_write
def redo(draft_id: int):
    """Make the first undone edit again.
    ---
    post:
      parameters: [draft_id]
      responses:
        "200":
          description: the areas as the edit left them, and the problems around them
          content:
            application/json:
              schema: EditAnswer
        "400": BadRequest
        "404": NotFound
        "409": Conflict
        "503": NoBoundaries
    """
    _args(set())
    return jsonify(_edit_answer(draft_id, _step(log.redo)))


@bp.get("/drafts/<int:draft_id>/problems")
@allow(*EDITORS)
def problems(draft_id: int):
    """Every problem where the draft changed something, found as the import CLI finds
    them; each names the feature's own code and index and carries a shape to draw.
    ---
    get:
      parameters: [draft_id]
      responses:
        "200":
          description: the problems
          content:
            application/json:
              schema: DraftProblems
        "400": BadRequest
        "404": NotFound
        "503": NoBoundaries
    """
    _args(set())
    vi = version_index(None)
    with _engine().connect() as conn:
        draft = drafts.access(conn, draft_id, principal(), scope(), vi)
        return jsonify({"problems": draft_problems(conn, draft.id, draft.base,
                                                   _tolerance())})


@bp.get("/drafts/<int:draft_id>/export")
@allow(*EDITORS)
@long_running
def export(draft_id: int):
    """One level of the draft (inside its area) as GeoJSON, GeoPackage or a zipped
    Shapefile, for QGIS.
    ---
    get:
      parameters:
        - draft_id
        - {in: query, name: format, schema: {type: string, enum: [geojson, gpkg, shp],
           default: geojson}}
        - {in: query, name: level, schema: {type: string, enum: [prefecture, county,
           township, village, grid, group], default: grid}}
      responses:
        "200":
          description: the file
          content:
            application/geo+json: {schema: {type: string}}
            application/geopackage+sqlite3: {schema: {type: string, format: binary}}
            application/zip: {schema: {type: string, format: binary}}
        "400": BadRequest
        "404": NotFound
        "503": NoBoundaries
    """
    args = _args({"format", "level"})
    level, fmt = _level(args), args.get("format", "geojson")
    if fmt not in files.FORMATS:
        raise Invalid(f"format must be one of {', '.join(files.FORMATS)}", "format",
                      code="invalid_choice")
    vi = version_index(None)
    with _engine().connect() as conn, tempfile.TemporaryDirectory() as tmp:
        draft = drafts.access(conn, draft_id, principal(), scope(), vi)
        path, media = files.export(conn, draft, level, fmt, Path(tmp))
        data = path.read_bytes()
    return current_app.response_class(data, mimetype=media, headers={
        "Content-Disposition": f'attachment; filename="{path.name}"'})


@bp.post("/drafts/<int:draft_id>/import")
@allow(*EDITORS)
@long_running
def import_file(draft_id: int):
    """Import one level into the draft from a GeoJSON body or an uploaded file (field
    `file`: .geojson, .gpkg, or a zipped Shapefile), validated as the import CLI
    validates; written (as one edit, undoable) only if clean, else 422 with the report.
    ---
    post:
      parameters:
        - draft_id
        - {in: query, name: level, schema: {type: string, enum: [county, township, village,
           grid, group], default: grid}}
        - crs
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, description: "a GeoJSON FeatureCollection"}
          multipart/form-data:
            schema:
              type: object
              properties: {file: {type: string, format: binary}}
              required: [file]
      responses:
        "200":
          description: imported
          content:
            application/json:
              schema: EditAnswer
        "400": BadRequest
        "404": NotFound
        "409": Conflict
        "413": TooLarge
        "415": NotJson
        "422": Unprocessable
        "503": NoBoundaries
    """
    args = _args({"level", "crs"})
    level = _level(args)
    if level == "prefecture":
        raise Invalid("a draft's import is of a level below the prefecture", "level",
                      code="invalid_level")
    crs = parse_crs(args["crs"], "crs") if "crs" in args else None
    vi = version_index(None)
    with tempfile.TemporaryDirectory() as tmp:
        path = _upload(Path(tmp))
        with unit_of_work(_engine()) as uow:
            draft = drafts.access(uow.conn, draft_id, principal(), scope(), vi, write=True)
            seq, after, found = files.import_layer(uow.conn, draft, level, path, principal(),
                                                   crs=crs, tolerance_m=_tolerance())
            out = answers.edit_answer(uow.conn, draft, apply.Outcome(seq, after, found))
    return jsonify(out)


def _upload(folder: Path) -> Path:
    """The uploaded layer as a file in `folder`: a JSON body, or a multipart `file`."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise Invalid("send the layer as a file field named file", "file", code="missing")
        suffix = Path(upload.filename).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise Invalid(f"file must end in one of {', '.join(UPLOAD_SUFFIXES)}", "file",
                          code="unsupported_file")
        path = folder / f"upload{suffix}"
        upload.save(path)
        return path
    if not request.is_json:
        raise UnsupportedMediaType("send a GeoJSON body (application/json) or a multipart "
                                   "file", "body")
    body = json_body()
    if not isinstance(body, dict) or body.get("type") != "FeatureCollection":
        raise Invalid("expected a GeoJSON FeatureCollection", "body", code="invalid_body")
    path = folder / "upload.geojson"
    path.write_bytes(current_app.json.dumps(body).encode())
    return path
