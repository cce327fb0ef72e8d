"""Service-level endpoints: health and boundary versions."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from .. import registry, services
from ..auth import ANY_ROLE, PUBLIC
from . import allow

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/health")
@allow(PUBLIC)
def health():  # noqa: ANN201
    vi = services(current_app).indexes.live()
    return jsonify({"status": "ok", "live_version": vi.version if vi else None,
                    "grids": len(vi.grids) if vi else 0})


@bp.get("/ping")
@allow(*ANY_ROLE)
def ping():  # noqa: ANN201
    """The trivial authenticated endpoint: the framework's ceiling in benchmarks."""
    return jsonify({"ok": True})


@bp.get("/versions")
@allow(*ANY_ROLE)
def versions():  # noqa: ANN201
    with services(current_app).engine.connect() as conn:
        rows = registry.versions(conn)
    for r in rows:
        for k in ("created_at", "published_at"):
            r[k] = r[k].isoformat() if r[k] else None
    return jsonify({"versions": rows})
