"""`/api/v1/areas`: the area tree as GeoJSON, and households per area."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify

from geo_service.app import services
from geo_service.auth import ANY_ROLE
from geo_service.errors import Invalid, Unprocessable
from geo_service.households import household_page
from geo_service.inputs import whole_number
from geo_service.lookup import parse_crs, parse_number
from geo_service.versions import areas as domain
from geo_service.versions.snapshot import VersionIndex
from geo_service.web import allow, compress, long_running, principal, query, scope
from geo_service.web.lookup import version_index

bp = Blueprint("areas", __name__, url_prefix="/api/v1")
MAX_SIMPLIFY_M = 100_000  # coarser than any map needs; huge tolerances overflow GEOS
_LEVELS_KEPT = 12  # per version: whole simplified levels, gzipped (a few tiers of 3 levels)


def whole_level(conn: sa.Connection, vi: VersionIndex, level: str, simplify_m: float,
                crs: str = "EPSG:4326") -> bytes:
    """A whole level simplified (as a wall draws it), as gzipped GeoJSON: encoded and
    compressed once per version, since its geometry never changes (~0.3 s of a worker's CPU
    for the demo's 959 grids each time otherwise)."""
    key = ("areas.gz", level, simplify_m, crs)
    body = vi.memo.get(key)
    if body is None:
        out = domain.area_collection(conn, vi, level=level, simplify_m=simplify_m, crs=crs)
        body = compress.pack(current_app.json.dumps(out).encode())
        kept = [k for k in vi.memo if k[0] == key[0]]
        for old in kept[:max(len(kept) + 1 - _LEVELS_KEPT, 0)]:
            vi.memo.pop(old, None)
        vi.memo[key] = body
    return body


def _out_crs(args: dict[str, str]) -> str:
    """`out_crs`: the CRS of the returned geometry. `crs` always means the CRS of input
    coordinates, and /areas takes none (bbox is WGS84), so it is refused, not reread."""
    if "crs" in args:
        raise Invalid("crs names the CRS of input coordinates; for the CRS of the returned "
                      "geometry use out_crs", "crs", code="invalid")
    return parse_crs(args.get("out_crs"), "out_crs")


@bp.get("/areas/<code>")
@allow(*ANY_ROLE)
def area(code: str):
    """One area as a GeoJSON Feature, with its chain and its children.
    ---
    get:
      parameters: [code, version, out_crs]
      responses:
        "200":
          description: the area
          content:
            application/json:
              schema: AreaFeature
        "400": BadRequest
        "404": NotFound
        "503": NoBoundaries
    """
    args = query()
    vi = version_index(args.get("version"))
    crs = _out_crs(args)
    scope().require(vi, code, "code")
    with services(current_app).engine.connect() as conn:
        return jsonify(domain.area_feature(conn, vi, code, crs=crs))


@bp.get("/areas")
@allow(*ANY_ROLE)
@long_running
def area_list():
    """One level of the area tree as a GeoJSON FeatureCollection.
    ---
    get:
      parameters:
        - in: query
          name: level
          schema: {type: string, enum: [prefecture, county, township, village, grid, group],
                   default: grid}
        - {in: query, name: parent, schema: {type: string},
           description: only the children of this area code}
        - {in: query, name: within, schema: {type: string},
           description: only this area and the areas below it (a county's wall)}
        - in: query
          name: bbox
          schema: {type: string,
                   pattern: "^-?[0-9]+([.][0-9]+)?(,-?[0-9]+([.][0-9]+)?){3}$"}
          description: "minlon,minlat,maxlon,maxlat (WGS84): only areas meeting this box"
        - in: query
          name: simplify
          schema: {type: number, minimum: 0, maximum: 100000, default: 0}
          description: >-
            simplification tolerance in metres; neighbours keep meeting exactly
        - version
        - out_crs
      responses:
        "200":
          description: the areas
          content:
            application/json:
              schema: AreaCollection
        "400": BadRequest
        "404": NotFound
        "422": Unprocessable
        "503": NoBoundaries
    """
    args = query()
    vi = version_index(args.get("version"))
    crs = _out_crs(args)
    level = args.get("level", "grid")
    bbox = None
    if "bbox" in args:
        parts = args["bbox"].split(",")
        if len(parts) != 4:
            raise Invalid("bbox is minlon,minlat,maxlon,maxlat", "bbox", code="invalid_bbox")
        bbox = tuple(parse_number(p, "bbox") for p in parts)
        x0, y0, x1, y1 = bbox
        if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
            raise Unprocessable("bbox is minlon,minlat,maxlon,maxlat in WGS84 with min < max "
                                "(longitudes within ±180, latitudes within ±90)", "bbox",
                                code="out_of_range")
    simplify = parse_number(args.get("simplify", "0"), "simplify")
    if not 0 <= simplify <= MAX_SIMPLIFY_M:
        raise Invalid("simplify is a tolerance in metres from 0 to "
                      f"{MAX_SIMPLIFY_M}", "simplify")
    allowed = scope()
    if args.get("parent"):
        allowed.require(vi, args["parent"], "parent")
    if "within" in args:
        allowed = allowed.narrow(vi, args["within"], "within")
    if simplify > 0 and not args.get("parent") and bbox is None and allowed.area is None:
        with services(current_app).engine.connect() as conn:
            body = whole_level(conn, vi, level, simplify, crs)
        return compress.packed(body, current_app.json.mimetype)
    with services(current_app).engine.connect() as conn:
        out = domain.area_collection(conn, vi, level=level, parent=args.get("parent"),
                                     bbox=bbox, simplify_m=simplify, crs=crs)
    if allowed.area:
        out["features"] = [f for f in out["features"] if allowed.covers(vi, f["id"])]
    return jsonify(out)


@bp.get("/areas/<code>/households")
@allow("admin", "dispatcher", "planner", "worker")
@long_running
def area_households(code: str):
    """Households in an area of any level, paged; heads' names and phones per role.
    ---
    get:
      parameters:
        - code
        - {in: query, name: page, schema: {type: integer, minimum: 1, maximum: 1000000,
           default: 1}}
        - {in: query, name: per_page, schema: {type: integer, minimum: 1, maximum: 1000,
           default: 100}}
        - version
      responses:
        "200":
          description: one page of households, ordered by code
          content:
            application/json:
              schema: HouseholdPage
        "400": BadRequest
        "404": NotFound
        "503": NoBoundaries
    """
    args = query()
    vi = version_index(args.get("version"))
    allowed = scope()
    allowed.require(vi, code, "code")
    page = whole_number(args, "page", 1, 1_000_000, 1)
    per_page = whole_number(args, "per_page", 1, 1000, 100)
    with services(current_app).engine.connect() as conn:
        return jsonify(household_page(conn, vi, code, principal().role, scope=allowed,
                                      page=page, per_page=per_page))
