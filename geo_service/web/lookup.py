"""`/api/v1/lookup`: single (GET) and batch (POST) point-in-grid lookups."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from geo_service import lookup as domain
from geo_service.app import services
from geo_service.auth import ANY_ROLE
from geo_service.errors import Invalid, TooLarge, Unavailable
from geo_service.versions import UnknownVersion
from geo_service.web import allow, json_body, principal, query, scope

bp = Blueprint("lookup", __name__, url_prefix="/api/v1")


def version_index(raw: object, *, from_json: bool = False):
    """The live index, or the one of `version=` (query string or JSON); 404/503 when there
    is none. Absent (None) means the live one; an empty `version=` is a 400."""
    cache = services(current_app).indexes
    if raw is None:
        vi = cache.live()
        if vi is None:
            raise Unavailable("no boundary version is live yet", code="no_boundaries")
        return vi
    # A query string's digits (ASCII, no sign, no leading zero) or a JSON integer: int()
    # alone would also read "１", "+1", " 1" and "1_0" (as 10).
    if type(raw) is int:
        version = raw
    elif (not from_json and isinstance(raw, str) and raw.isascii() and raw.isdigit()
          and raw[0] != "0"):
        version = int(raw)
    else:
        shown = repr(raw) if len(repr(raw)) <= 40 else repr(raw)[:37] + "..."
        raise Invalid(f"version must be a whole number such as 3, got {shown}", "version",
                      code="invalid_version")
    if not 0 < version < 2**31:  # ids are 32-bit in the store; larger ones overflow there
        raise UnknownVersion(f"boundary version {version} does not exist")
    return cache.version(version)  # VersionWarming (503) while built in the background


@bp.get("/lookup")
@allow(*ANY_ROLE)
def lookup_one():
    """Which grid and group hold one point, its area chain, and who answers for it.

    A point on a shared edge or vertex belongs to the grid with the lowest code among those
    it touches; a point no grid covers gets the nearest grid and its distance instead.
    ---
    get:
      parameters:
        - {in: query, name: lon, required: true, schema: {type: number},
           description: "x in crs: longitude for geographic CRSs"}
        - {in: query, name: lat, required: true, schema: {type: number},
           description: "y in crs: latitude for geographic CRSs"}
        - crs
        - {in: query, name: out_crs, schema: {type: string},
           description: "CRS to echo the point in as well (default: crs)"}
        - version
      responses:
        "200":
          description: the point's grid, group, chain and responsible people
          content:
            application/json:
              schema: LookupAnswer
        "400": BadRequest
        "404": NotFound
        "422": Unprocessable
        "503": NoBoundaries
    """
    args = query()
    crs = domain.parse_crs(args.get("crs"))
    out_crs = domain.parse_crs(args.get("out_crs") or crs, "out_crs")
    x = domain.parse_number(args.get("lon"), "lon")
    y = domain.parse_number(args.get("lat"), "lat")
    vi = version_index(args.get("version"))
    lon, lat = domain.check_point(vi, x, y, crs)
    answer = domain.lookup_point(vi, lon, lat, near_m=current_app.config["NEAR_BOUNDARY_M"],
                                 people=services(current_app).people, role=principal().role,
                                 scope=scope())
    return jsonify(domain.output_point(answer, out_crs))


@bp.post("/lookup")
@allow(*ANY_ROLE)
def lookup_many():
    """Grid and group codes for many points at once, in input order.

    The body's crs wins over the query's; the query's version wins over the body's.
    ---
    post:
      parameters: [crs, version]
      requestBody:
        required: true
        content:
          application/json:
            schema: BatchRequest
      responses:
        "200":
          description: codes per point; unreadable points listed in errors
          content:
            application/json:
              schema: BatchAnswer
        "400": BadRequest
        "404": NotFound
        "413": TooLarge
        "415": NotJson
        "503": NoBoundaries
    """
    args = query()
    body = json_body()
    if not isinstance(body, dict):
        raise Invalid("expected a JSON object with \"points\" or a "
                      "GeoJSON FeatureCollection", "body", code="invalid_body")
    crs = domain.parse_crs(body.get("crs") or args.get("crs"))
    ids, problems = None, None
    if body.get("type") == "FeatureCollection":
        feats = body.get("features")
        if not isinstance(feats, list):
            raise Invalid("features must be a list", "features", code="invalid_body")
        ids, points, problems = domain.feature_points(feats)
    else:
        points = body.get("points")
        if not isinstance(points, list):
            raise Invalid("points must be a list of [lon, lat]", "points", code="invalid_body")
    limit = current_app.config["MAX_BATCH_POINTS"]
    if len(points) > limit:
        raise TooLarge(f"{len(points)} points; the limit is "
                       f"{limit} per request", "points", code="too_many_points")
    vi = (version_index(args["version"]) if "version" in args
          else version_index(body.get("version"), from_json=True))
    out = domain.lookup_batch(vi, points, crs, chain=bool(body.get("chain")), problems=problems,
                              scope=scope())
    if ids is not None:
        out["ids"] = ids
    return jsonify(out)
