"""Large JSON answers go out gzipped to clients that accept it; small ones, streams and
clients that do not ask stay as they are."""

from __future__ import annotations

import gzip
import json

import pytest

from geo_service.web.compress import accepts_gzip

from .conftest import bearer


@pytest.mark.parametrize(("header", "ok"), [
    ("gzip, deflate, br", True), ("br;q=1.0, gzip;q=0.5", True), ("*", True),
    ("gzip;q=0", False), ("gzip;q=0.000", False), ("", False), ("identity", False),
])
def test_accept_encoding(header, ok):
    assert accepts_gzip(header) is ok


def test_a_large_answer_is_gzipped_and_the_same_json(client, tokens):
    h = bearer(tokens["viewer"])
    plain = client.get("/api/v1/openapi.json", headers=h)
    packed = client.get("/api/v1/openapi.json", headers={**h, "Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in plain.headers and len(plain.data) > 1400
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert int(packed.headers["Content-Length"]) == len(packed.data) < len(plain.data)
    assert json.loads(gzip.decompress(packed.data)) == plain.get_json()


def test_small_answers_and_streams_are_not_compressed(client, tokens):
    h = {**bearer(tokens["viewer"]), "Accept-Encoding": "gzip"}
    small = client.get("/api/v1/lookup?lon=103.005&lat=35.01", headers=h)
    assert small.status_code == 200 and "Content-Encoding" not in small.headers
    stream = client.get("/api/v1/events?max_s=0.2", headers=h)
    assert stream.status_code == 200 and "Content-Encoding" not in stream.headers
