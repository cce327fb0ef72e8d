"""Compressed answers: JSON, GeoJSON and XML go out gzipped to clients that accept it.

A wall's first load reads every grid outline, every open case and every worker: ~15 MB of
JSON that gzip makes ~1.5 MB, which is the difference between a wall that appears at once
and one that crawls over a county's slow link. Small answers (a single lookup) and
streams (the event stream) are left alone: compressing them costs more than it saves, and
a stream must be flushed event by event.
"""

from __future__ import annotations

import gzip

from flask import Flask, Response, request

MIN_BYTES = 1400  # below one packet, compression saves nothing
LEVEL = 5  # gzip's level for every answer
TYPES = frozenset({"application/json", "application/geo+json", "text/xml",
                   "application/xml", "text/html"})


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (`gzip;q=0` does not)."""
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = params.strip().lower().removeprefix("q=")
            return not (params and q.replace(".", "").strip("0") == "")
    return False


def _compress(response: Response) -> Response:
    if (response.status_code < 200 or response.direct_passthrough or response.is_streamed
            or "Content-Encoding" in response.headers or response.mimetype not in TYPES):
        return response
    response.vary.add("Accept-Encoding")
    if not accepts_gzip(request.headers.get("Accept-Encoding", "")):
        return response
    data = response.get_data()
    if len(data) < MIN_BYTES:
        return response
    response.set_data(gzip.compress(data, compresslevel=LEVEL))
    response.headers["Content-Encoding"] = "gzip"
    return response


def pack(data: bytes) -> bytes:
    """A body gzipped once, to be kept and sent as it is (`packed`) many times."""
    return gzip.compress(data, compresslevel=LEVEL, mtime=0)


def packed(body: bytes, mimetype: str) -> Response:
    """An answer from a body `pack` made: sent gzipped to clients that accept it (this
    module leaves it alone then), unpacked for the others."""
    if accepts_gzip(request.headers.get("Accept-Encoding", "")):
        response = Response(body, mimetype=mimetype)
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = Response(gzip.decompress(body), mimetype=mimetype)
    response.vary.add("Accept-Encoding")
    return response


def init_app(app: Flask) -> None:
    app.after_request(_compress)
