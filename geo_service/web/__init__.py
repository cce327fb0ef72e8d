"""The web layer: thin blueprints, one auth gate, one error shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, g, jsonify, redirect, request, url_for
from werkzeug.exceptions import HTTPException

from ..auth import PUBLIC, Principal, authorize
from ..errors import ApiError
from ..scope import EVERYTHING, Scope

F = TypeVar("F", bound=Callable[..., Any])


def allow(*roles: str, unscoped: str = "") -> Callable[[F], F]:
    """Declare which roles may call a view. Views without a declaration are refused.

    A view answers an area-scoped token only if it consults `scope()`; one that shows no
    area data says why in `unscoped` instead (and is listed in the README's scope policy).
    """

    def mark(view: F) -> F:
        view.allowed_roles = roles  # type: ignore[attr-defined]
        view.unscoped = unscoped  # type: ignore[attr-defined]
        return view

    return mark


def principal() -> Principal:
    return g.principal


def scope() -> Scope:
    """The caller's area scope (the one policy of `geo_service.scope`); a view that asks
    for it is trusted to apply it."""
    g.scope_applied = True
    p = g.principal
    return Scope(p.area_code) if p is not None and p.area_code else EVERYTHING


def _scope_applied(app: Flask, response: Response) -> Response:
    """Deny by default: a scoped token gets nothing from a view that never applied the
    scope policy (a new view that forgot it fails closed, not open)."""
    p = g.get("principal")
    if p is None or not p.area_code or g.get("scope_applied") or response.status_code >= 400:
        return response
    view = app.view_functions.get(request.endpoint or "")
    if (view is None or getattr(view, "unscoped", "") or request.endpoint == "static"
            or PUBLIC in getattr(view, "allowed_roles", ())):
        return response
    err = ApiError(403, "out_of_scope", "this endpoint does not apply area scope; a token "
                   f"limited to area {p.area_code} may not use it")
    return app.response_class(app.json.dumps(err.to_dict()), status=403,
                              mimetype="application/json")


def _authenticate(app: Flask) -> None:
    g.principal = None
    view = app.view_functions.get(request.endpoint or "")
    allowed = (PUBLIC,) if request.endpoint == "static" else getattr(view, "allowed_roles", ())
    if view is None:
        return  # routing will answer 404/405 in the one error shape
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        from .. import services  # noqa: PLC0415

        svc = services(app)
        g.principal = svc.tokens.verify(svc.engine.connect, header[7:].strip())
    authorize(g.principal, allowed)


def init_app(app: Flask) -> None:
    from . import access_log, api, areas, lookup, openapi  # noqa: PLC0415

    access_log.init_app(app)
    app.before_request(lambda: _authenticate(app))
    app.after_request(lambda response: _scope_applied(app, response))

    @app.errorhandler(ApiError)
    def _api_error(err: ApiError):  # noqa: ANN202
        return jsonify(err.to_dict()), err.status, err.headers

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):  # noqa: ANN202
        code = {413: "too_large"}.get(err.code or 500, (err.name or "error").lower()
                                      .replace(" ", "_"))
        message = err.description or err.name
        if err.code == 413:
            message = (f"request body larger than the limit of "
                       f"{app.config['MAX_CONTENT_LENGTH']} bytes")
        return jsonify(ApiError(err.code or 500, code, message).to_dict()), err.code

    @app.get("/")
    @allow(PUBLIC)
    def index():  # noqa: ANN202 - the URL `serve` prints leads to the API docs
        return redirect(url_for("openapi.docs"))

    app.register_blueprint(api.bp)
    app.register_blueprint(lookup.bp)
    app.register_blueprint(areas.bp)
    app.register_blueprint(openapi.bp)
