"""Service-level endpoints: health and boundary versions."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, current_app, jsonify

from geo_service.app import services
from geo_service.auth import ANY_ROLE, DRAFT_ROLES, PUBLIC
from geo_service.versions.history import version_history
from geo_service.web import allow, principal

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/health")
@allow(PUBLIC)
def health():
    """Whether the service is up, and which boundary version it answers from.
    ---
    get:
      responses:
        "200":
          description: up
          content:
            application/json:
              schema: Health
    """
    vi = services(current_app).indexes.live()
    return jsonify({"status": "ok", "live_version": vi.version if vi else None,
                    "grids": len(vi.grids) if vi else 0})


@bp.get("/ping")
@allow(*ANY_ROLE, unscoped="answers only whether the token is valid")
def ping():
    """The trivial authenticated endpoint: the framework's ceiling in benchmarks.
    ---
    get:
      responses:
        "200":
          description: the token is valid for this role
          content:
            application/json:
              schema:
                type: object
                properties: {ok: {const: true}}
                required: [ok]
    """
    return jsonify({"ok": True})


@bp.get("/versions")
@allow(*ANY_ROLE, unscoped="a version is the whole tree's, not one area's data")
def versions():
    """Every boundary version: the live one, the retired ones, and (for planners and
    admins only) the drafts; with who made and who published each, its note, how many
    areas it holds per level, and how many households and open cases its publish moved.
    ---
    get:
      responses:
        "200":
          description: the versions, oldest first
          content:
            application/json:
              schema: Versions
    """
    with services(current_app).engine.connect() as conn:
        rows = version_history(conn, drafts=principal().role in DRAFT_ROLES)
    for r in rows:
        for k in ("created_at", "published_at"):
            r[k] = _rfc3339(r[k])
    return jsonify({"versions": rows})


def _rfc3339(t: datetime | None) -> str | None:
    """ISO 8601 with its offset; SQLite hands back the stored UTC times without one."""
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).isoformat() if t else None
