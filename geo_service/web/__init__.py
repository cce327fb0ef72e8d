"""The web layer: thin blueprints, one auth gate, one error shape."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import unquote_plus, urlsplit

from flask import Flask, Response, current_app, g, redirect, request, url_for
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
from geo_service.web.jsonio import repeated_key

F = TypeVar("F", bound=Callable[..., Any])

# Below gunicorn's own limits (serving.py sets those to twice these), so clients get these
# answers in the one JSON shape rather than gunicorn's plain-text 414/431.
MAX_URL_BYTES = 4096  # path and query string
MAX_HEADER_BYTES = 8190  # one header's value
MAX_HEADERS = 100


def allow(*roles: str, unscoped: str = "", public_when: str = "",
          api_key: bool = False) -> Callable[[F], F]:
    """Declare which roles may call a view. Views without a declaration are refused.

    A view answers an area-scoped token only if it consults `scope()`; one that shows no
    area data says why in `unscoped` instead (and is listed in the README's scope policy).
    `public_when` names a boolean setting: while it is on, a caller who sends no
    credentials at all is `PUBLIC_READER` (the viewer role, unscoped) instead of refused.
    `api_key`: the view also takes the token as an `api_key` query parameter or body field,
    the way Open311 clients send it.
    """

    def mark(view: F) -> F:
        view.allowed_roles = roles  # type: ignore[attr-defined]
        view.unscoped = unscoped  # type: ignore[attr-defined]
        view.public_when = public_when  # type: ignore[attr-defined]
        view.api_key = api_key  # type: ignore[attr-defined]
        return view

    return mark


def long_running(view: F) -> F:
    """Mark a view that stays open or may take seconds (a stream, a publish, an export):
    `geo-service serve` answers it on a lane thread of its own, so it never holds the
    worker that answers the short requests (`geo_service.serving`)."""
    view.long_running = True  # type: ignore[attr-defined]
    return view


# Who calls a `public_when` view without credentials while its setting is on.
PUBLIC_READER = Principal(name="public", role="viewer")


def principal() -> Principal:
    return g.principal


def utc_now() -> datetime:
    """The request's clock, aware and in UTC: domain functions take `now` as an argument
    (so tests can pin it) and views read it here."""
    return datetime.now(UTC)


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
    (with or without Content-Length), 400 naming what is wrong with the text, or the key
    an object repeats."""
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
        value = current_app.json.loads(data)
    except ValueError as err:
        raise Invalid(f"the body is not valid JSON: {err}", "body", code="invalid_json") from None
    key = repeated_key(data, value)
    if key is not None:  # a parser keeps the last one: the client meant one of them
        raise Invalid(f"{key[:40]!r} is given more than once in one JSON object; give each "
                      "key once", key[:40], code="repeated_parameter")
    return value


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def fields_body() -> dict[str, Any]:
    """A body of named fields, form-encoded (as Open311 clients send it) or a JSON object;
    read once per request (the auth gate may look for an `api_key` in it first). A form
    field given twice is a 400 naming it, like a repeated query parameter."""
    if "fields_body" in g:
        return g.fields_body
    if request.mimetype in FORM_TYPES:
        form = request.form
        for key in form:
            if len(form.getlist(key)) > 1 and not key.endswith("[]"):
                raise Invalid(f"{key[:40]} is given more than once; give each field once",
                              key[:40], code="repeated_parameter")
        body: Any = form.to_dict()
    elif request.is_json:
        body = json_body()
        if not isinstance(body, dict):
            raise Invalid("expected a JSON object of fields", "body", code="invalid_body")
    else:
        raise UnsupportedMediaType("send the fields form-encoded (application/x-www-form-"
                                   "urlencoded) or as a JSON object, not "
                                   f"{request.mimetype or 'none'!r}", "body")
    g.fields_body = body
    return body


def _credentials(view: Any) -> str | None:
    """The token the caller sent: a bearer header, or (for `api_key` views) an `api_key`
    in the query string or the body's fields. Given in two places, they must agree; an
    Authorization header that is not a bearer token counts as a wrong one (never as none).
    With none of those, a read may carry it as `?token=` (a kiosk's first visit to a
    `url_token` view) or in the session cookie of the service's own pages."""
    header = request.headers.get("Authorization")
    sent: list[str] = []
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        # auth schemes are case-insensitive (RFC 9110 11.1)
        sent.append(token.strip() if scheme.lower() == "bearer" else "")
    if getattr(view, "api_key", False):  # an empty api_key is none (Open311's rule)
        if query().get("api_key"):
            sent.append(query()["api_key"])
        if request.method == "POST" and (request.mimetype in FORM_TYPES or request.is_json):
            key = fields_body().get("api_key")
            if key not in (None, ""):
                sent.append(key if isinstance(key, str) else "")
    if len(set(sent)) > 1:
        raise Invalid("the token is given twice, differently (Authorization and api_key); "
                      "give it once", "api_key", code="repeated_parameter")
    if sent:
        return sent[0]
    if request.method not in COOKIE_METHODS:
        return _page_write(view)
    # A read with no token sent: a kiosk handing over its token once (`url_token` views),
    # or the service's own pages reading with their session cookie.
    if getattr(view, "url_token", False) and request.args.get("token"):
        return request.args["token"]
    if (SESSION_COOKIE in request.cookies
            and request.headers.get("Sec-Fetch-Site", "") in COOKIE_SITES):
        g.via_cookie = True
        return request.cookies[SESSION_COOKIE]
    return None


def _page_write(view: Any) -> str | None:
    """The session cookie's token for a write from the service's own page, or None (a
    write without a bearer header is then refused as unauthenticated).

    Only views marked `page_write`, only POST, and only with all three locks: the
    `X-CSRF-Token` the page was handed (`csrf_token` of this very session, which a page
    of another site can neither read nor compute), an `Origin` naming this service, and
    `Sec-Fetch-Site: same-origin` when the browser sends it (SameSite=Strict already keeps
    the cookie home). A cookie write that claims to be the page and fails one is a 403."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if (not cookie or request.method != "POST" or not getattr(view, "page_write", False)
            or CSRF_HEADER not in request.headers):
        return None
    origin = urlsplit(request.headers.get("Origin", ""))
    site = request.headers.get("Sec-Fetch-Site", "same-origin")
    if (origin.netloc != request.host or origin.scheme != request.scheme
            or site != "same-origin"):
        raise Forbidden("a write with the session cookie must come from this service's "
                        "own page (Origin, Sec-Fetch-Site)", "Origin", code="csrf_refused")
    if not hmac.compare_digest(request.headers[CSRF_HEADER], csrf_token(cookie)):
        raise Forbidden(f"{CSRF_HEADER} does not belong to this session; reload the page",
                        CSRF_HEADER, code="csrf_refused")
    g.via_cookie = True
    return cookie


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: derived from the session's own (secret) token, so it
    needs no server state, holds across workers and ends with the session."""
    return hmac.new(session_token.encode(), b"geo-service page write",
                    hashlib.sha256).hexdigest()


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
    if p is None or not (p.area_code or p.worker_code):
        return EVERYTHING
    return Scope(p.area_code, p.worker_code)


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
    return error_response(app, Forbidden("this endpoint does not apply area scope; a token "
                                         f"limited to area {p.area_code} may not use it",
                                         code="out_of_scope"))


def error_response(app: Flask, err: ServiceError, status: int | None = None) -> Response:
    """The one place an error becomes an answer: our JSON shape, or the format of the
    standard a path prefix implements (`app.extensions["error_formats"]`: Open311's)."""
    status = status or err.status
    for prefix, render in app.extensions.get("error_formats", {}).items():
        if request.path.startswith(prefix):
            return render(err, status)
    headers = dict(err.headers)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="geo-service"'
    response = app.response_class(app.json.dumps(err.to_dict()), status=status,
                                  mimetype="application/json")
    response.headers.update(headers)
    return response


def _not_stored(response: Response) -> Response:
    """Answers may carry personal data and are per token: no cache or proxy keeps them."""
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


SESSION_COOKIE = "geo_session"
# Reads a session cookie may authenticate: a page of this service reading its own API and
# stream. Writes stay bearer-only (so a page elsewhere cannot make a wall's browser change
# anything, whatever the browser does with SameSite), except the few `page_write` views a
# dispatcher's wall calls, behind a CSRF token, Origin and Sec-Fetch-Site (`_page_write`).
COOKIE_METHODS = frozenset({"GET", "HEAD"})
COOKIE_SITES = frozenset({"", "same-origin", "none"})  # Sec-Fetch-Site; "none": typed URL


CSRF_HEADER = "X-CSRF-Token"


def page_write(view: F) -> F:
    """Let the service's own page (the wall of a dispatcher) make this write with its
    session cookie, under the CSRF locks of `_page_write`; other writes stay bearer-only."""
    view.page_write = True  # type: ignore[attr-defined]
    return view


def url_token(view: F) -> F:
    """Let a view take a bearer token once in its URL (`?token=`), for kiosk browsers that
    cannot send headers; the view swaps it for a session cookie (see `web.wall`)."""
    view.url_token = True  # type: ignore[attr-defined]
    return view


def credential() -> str:
    """The token this request authenticated with (header, cookie or URL), for views that
    check it again later (an open event stream)."""
    return g.get("credential") or ""


def _authenticate(app: Flask) -> None:
    g.principal = None
    _check_size()
    view = app.view_functions.get(request.endpoint or "")
    allowed = (PUBLIC,) if request.endpoint == "static" else getattr(view, "allowed_roles", ())
    if view is None:
        return  # routing will answer 404/405 in the one error shape
    from geo_service.app import services

    token = _credentials(view)
    g.token_prefix = token[:10] if token else None  # for the access log, however sent
    if token:
        svc = services(app)
        g.credential = token
        g.principal = svc.tokens.verify(svc.engine.connect, token)
    elif token is None and getattr(view, "public_when", "") and app.config[view.public_when]:
        g.principal = PUBLIC_READER  # decided per request: the setting may change in tests
    authorize(g.principal, allowed)
    services(app).sweeper.tick()  # a clock read; the sweep itself runs in the background


def init_app(app: Flask) -> None:
    from geo_service.web import (
        access_log,
        api,
        areas,
        callouts,
        compress,
        dispatch,
        drafts,
        editor,
        events,
        lookup,
        open311,
        openapi,
        reports,
        versions,
        visits,
        wall,
        workers,
    )

    access_log.init_app(app)
    compress.init_app(app)
    app.before_request(lambda: _authenticate(app))
    app.after_request(lambda response: _scope_applied(app, response))
    app.after_request(_not_stored)

    app.extensions["error_formats"] = {open311.PREFIX + "/": open311.error_response}

    @app.errorhandler(ServiceError)
    def _service_error(err: ServiceError):
        return error_response(app, err)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        code = {413: "too_large"}.get(err.code or 500, (err.name or "error").lower()
                                      .replace(" ", "_"))
        message = err.description or err.name
        if err.code == 413:
            message = (f"request body larger than the limit of "
                       f"{app.config['MAX_CONTENT_LENGTH']} bytes")
        headers = {k: v for k, v in err.get_headers() if k.lower() != "content-type"}
        return error_response(app, ServiceError(message, code=code, headers=headers),
                              err.code or 500)

    @app.get("/")
    @allow(PUBLIC)
    def index():
        return redirect(url_for("openapi.docs"))

    app.register_blueprint(api.bp)
    app.register_blueprint(lookup.bp)
    app.register_blueprint(areas.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(workers.bp)
    app.register_blueprint(callouts.bp)
    app.register_blueprint(visits.bp)
    app.register_blueprint(versions.bp)
    app.register_blueprint(events.bp)
    wall.init_app(app)
    app.register_blueprint(dispatch.bp)
    app.register_blueprint(drafts.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(open311.bp)
    editor.init_app(app)
