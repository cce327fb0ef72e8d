"""The web layer: thin blueprints, one auth gate, one error shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote_plus

from flask import Flask, Response, current_app, g, jsonify, redirect, request, url_for
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from geo_service.auth import PUBLIC, Principal, authorize
from geo_service.errors import (
    Forbidden,
    HeaderTooLarge,
    Invalid,
    ServiceError,
    UnsupportedMediaType,
    UriTooLong,
)
from geo_service.scope import EVERYTHING, Scope

F = TypeVar("F", bound=Callable[..., Any])

# Below gunicorn's own limits (serving.py sets those to twice these), so clients get these
# answers in the one JSON shape rather than gunicorn's plain-text 414/431.
MAX_URL_BYTES = 4096  # path and query string
MAX_HEADER_BYTES = 8190  # one header's value
MAX_HEADERS = 100


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


def query() -> dict[str, str]:
    """The query string as a plain dict; a key given twice is a 400 naming it, on every
    endpoint, rather than one value silently winning.

    What parse_qsl(keep_blank_values=True) reads, in ~0.8 µs instead of ~3 (and request.args
    takes ~6): only parts with an escape are unquoted.
    """
    args: dict[str, str] = {}
    for part in request.query_string.decode(errors="replace").split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        if "%" in part or "+" in part:
            key, value = unquote_plus(key), unquote_plus(value)
        if key in args:
            raise Invalid(f"{key} is given more than once; "
                          "give each query parameter once", key, code="repeated_parameter")
        args[key] = value
    return args


def json_body() -> Any:
    """The request body as JSON: 415 unless it is sent as JSON, 413 over the size limit
    (with or without Content-Length), 400 naming what is wrong with the text."""
    if not request.is_json:
        raise UnsupportedMediaType("send the body as JSON with Content-Type: "
                                   f"application/json, not {request.mimetype or 'none'!r}",
                                   "body")
    env = request.environ
    if "chunked" in env.get("HTTP_TRANSFER_ENCODING", "").lower():
        # No Content-Length: werkzeug reads a chunked body only from servers that say they
        # end the stream (gunicorn and werkzeug's own do); others would hand it over as
        # empty. The test client's stream ends too, so read it, within MAX_CONTENT_LENGTH.
        env.setdefault("wsgi.input_terminated", True)
    data = request.get_data(cache=False)
    limit = request.max_content_length
    if (limit is not None and len(data) >= limit and request.content_length is None
            and "wsgi.input_terminated" in env and env["wsgi.input"].read(1)):
        raise RequestEntityTooLarge  # werkzeug cuts such a body at the limit without a word
    try:
        return current_app.json.loads(data)
    except ValueError as err:
        raise Invalid(f"the body is not valid JSON: {err}", "body", code="invalid_json") from None


def _check_size() -> None:
    """414/431 in the one error shape before gunicorn's plain-text ones would apply."""
    env = request.environ
    raw = env.get("RAW_URI")  # as sent, percent-escapes and all (gunicorn, werkzeug)
    url = len(raw) if raw else len(env.get("PATH_INFO", "")) + len(env.get("QUERY_STRING", ""))
    if url > MAX_URL_BYTES:
        raise UriTooLong(f"the URL is {url} bytes long; the limit is "
                         f"{MAX_URL_BYTES}: send many points with POST", "url")
    n = 0
    for key, value in env.items():
        if key.startswith("HTTP_"):
            n += 1
            if len(value) > MAX_HEADER_BYTES:
                name = key[5:].replace("_", "-").title()
                raise HeaderTooLarge(f"header {name} is {len(value)} "
                                     f"bytes long; the limit is {MAX_HEADER_BYTES}", name)
    if n > MAX_HEADERS:
        raise HeaderTooLarge(f"{n} headers; the limit is {MAX_HEADERS}", "headers")


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
    err = Forbidden("this endpoint does not apply area scope; a token "
                    f"limited to area {p.area_code} may not use it", code="out_of_scope")
    return app.response_class(app.json.dumps(err.to_dict()), status=403,
                              mimetype="application/json")


def _not_stored(response: Response) -> Response:
    """Answers may carry personal data and are per token: no cache or proxy keeps them."""
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _authenticate(app: Flask) -> None:
    g.principal = None
    _check_size()
    view = app.view_functions.get(request.endpoint or "")
    allowed = (PUBLIC,) if request.endpoint == "static" else getattr(view, "allowed_roles", ())
    if view is None:
        return  # routing will answer 404/405 in the one error shape
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    from geo_service.app import services

    if scheme.lower() == "bearer":  # auth schemes are case-insensitive (RFC 9110 11.1)
        svc = services(app)
        g.principal = svc.tokens.verify(svc.engine.connect, token.strip())
    authorize(g.principal, allowed)
    services(app).sweeper.tick()  # a clock read; the sweep itself runs in the background


def init_app(app: Flask) -> None:
    from geo_service.web import (
        access_log,
        api,
        areas,
        dispatch,
        lookup,
        openapi,
        reports,
        workers,
    )

    access_log.init_app(app)
    app.before_request(lambda: _authenticate(app))
    app.after_request(lambda response: _scope_applied(app, response))
    app.after_request(_not_stored)

    @app.errorhandler(ServiceError)
    def _service_error(err: ServiceError):
        headers = dict(err.headers)
        if err.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="geo-service"'
        return jsonify(err.to_dict()), err.status, headers

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        code = {413: "too_large"}.get(err.code or 500, (err.name or "error").lower()
                                      .replace(" ", "_"))
        message = err.description or err.name
        if err.code == 413:
            message = (f"request body larger than the limit of "
                       f"{app.config['MAX_CONTENT_LENGTH']} bytes")
        headers = [(k, v) for k, v in err.get_headers() if k.lower() != "content-type"]
        return jsonify(ServiceError(message, code=code).to_dict()), err.code, headers

    @app.get("/")
    @allow(PUBLIC)
    def index():
        return redirect(url_for("openapi.docs"))

    app.register_blueprint(api.bp)
    app.register_blueprint(lookup.bp)
    app.register_blueprint(areas.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(workers.bp)
    app.register_blueprint(dispatch.bp)
    app.register_blueprint(openapi.bp)
