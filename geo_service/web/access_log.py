"""The access log: one line per request, for operators and incident review.

`GET /api/v1/lookup 200 0.4ms gs_AbCdEfG` — method, path, status, duration and the first
characters of the token, however it was sent (a bearer header, Open311's `api_key`, a wall's
session cookie: enough to find it with `revoke-token --prefix`). The query string is left
out (it may carry a kiosk's `?token=`, an `api_key`, and a report's position), and so is
everything else the caller sent.
"""

from __future__ import annotations

import logging
import re
import time
from urllib.parse import quote

from flask import Flask, Response, g, request

log = logging.getLogger("geo_service.access")
# The path is logged percent-encoded (a newline or NUL in it cannot forge a line), and only
# a prefix shaped like one of our tokens ("gs_" and URL-safe base64) is logged at all.
_SAFE = "/:@!$&'()*+,;=-._~"
_TOKEN_PREFIX = re.compile(r"gs_[A-Za-z0-9_-]{7}")


def _start() -> None:
    g.started = time.perf_counter()


def _line(response: Response) -> Response:
    header = request.headers.get("Authorization", "")
    prefix = g.get("token_prefix") or (header.split(None, 1)[1][:10] if " " in header
                                       else "-")
    ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
    log.info("%s %s %d %.1fms %s", quote(request.method[:16], safe=""),
             quote(request.path, safe=_SAFE), response.status_code, ms,
             prefix if _TOKEN_PREFIX.fullmatch(prefix) else "-")
    return response


def init_app(app: Flask) -> None:
    if not app.config["ACCESS_LOG"]:
        return
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    app.before_request(_start)
    app.after_request(_line)
