"""`/api/v1/lookup`: single (GET) and batch (POST) point-in-grid lookups."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from .. import lookup as domain
from .. import services
from ..auth import ANY_ROLE
from ..errors import ApiError
from ..registry import RegistryError
from . import allow, principal

bp = Blueprint("lookup", __name__, url_prefix="/api/v1")


def version_index(raw: str | None):  # noqa: ANN201
    """The live index, or the one of `version=`; 404/503 when there is none."""
    cache = services(current_app).indexes
    if raw in (None, ""):
        vi = cache.live()
        if vi is None:
            raise ApiError(503, "no_boundaries", "no boundary version is live yet")
        return vi
    try:
        version = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_version", f"version must be an integer, got {raw!r}",
                       "version") from None
    try:
        return cache.version(version)
    except RegistryError as err:
        raise ApiError(404, "unknown_version", str(err), "version") from None


@bp.get("/lookup")
@allow(*ANY_ROLE)
def lookup_one():  # noqa: ANN201
    args = request.args
    crs = domain.parse_crs(args.get("crs"))
    out_crs = domain.parse_crs(args.get("out_crs") or crs, "out_crs")
    x = domain.parse_number(args.get("lon"), "lon")
    y = domain.parse_number(args.get("lat"), "lat")
    vi = version_index(args.get("version"))
    lon, lat = domain.check_point(vi, x, y, crs)
    answer = domain.lookup_point(vi, lon, lat,
                                 near_m=current_app.config["NEAR_BOUNDARY_M"])
    codes = [a["code"] for a in (answer["grid"], answer["group"]) if a]
    if codes:
        with services(current_app).engine.connect() as conn:
            answer["people"] = domain.responsible_people(conn, codes, principal().role)
    else:
        answer["people"] = []
    return jsonify(domain.output_point(answer, out_crs))


@bp.post("/lookup")
@allow(*ANY_ROLE)
def lookup_many():  # noqa: ANN201
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "expected a JSON object with \"points\" or a "
                       "GeoJSON FeatureCollection", "body")
    crs = domain.parse_crs(body.get("crs") or request.args.get("crs"))
    ids = None
    if body.get("type") == "FeatureCollection":
        feats = body.get("features")
        if not isinstance(feats, list):
            raise ApiError(400, "invalid_body", "features must be a list", "features")
        ids = [f.get("id") if isinstance(f, dict) else None for f in feats]
        points = [((f.get("geometry") or {}).get("coordinates")
                   if isinstance(f, dict) and isinstance(f.get("geometry"), dict) else None)
                  for f in feats]
    else:
        points = body.get("points")
        if not isinstance(points, list):
            raise ApiError(400, "invalid_body", "points must be a list of [lon, lat]",
                           "points")
    if len(points) > domain.MAX_BATCH:
        raise ApiError(413, "too_many_points", f"{len(points)} points; the limit is "
                       f"{domain.MAX_BATCH} per request", "points")
    vi = version_index(request.args.get("version") or body.get("version"))
    out = domain.lookup_batch(vi, points, crs, chain=bool(body.get("chain")))
    if ids is not None:
        out["ids"] = ids
    return jsonify(out)
