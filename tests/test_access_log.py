"""The access log: one line per request, never a token, a query string or a phone."""

from __future__ import annotations

import logging

import pytest

from geo_service.app import create_app, services

from .conftest import bearer


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def lines():
    handler = _Lines()
    log = logging.getLogger("geo_service.access")
    log.addHandler(handler)
    yield handler.lines
    log.removeHandler(handler)


def test_one_line_per_request_without_secrets(client, tiny, tokens, lines) -> None:
    token = tokens["dispatcher"]
    client.get("/api/v1/lookup?lon=103.005&lat=35.01&token=gs_secret_in_query",
               headers=bearer(token))
    client.get("/api/v1/areas/nowhere", headers={"Authorization": "Bearer 13912345678"})
    method, path, status, ms, prefix = lines[0].split()
    assert (method, path, status, prefix) == ("GET", "/api/v1/lookup", "200", token[:10])
    assert ms.endswith("ms") and float(ms[:-2]) >= 0
    assert lines[1].split()[2:3] == ["401"] and lines[1].endswith(" -")
    text = "\n".join(lines)
    assert token not in text and "secret" not in text and "139123" not in text


def test_a_path_cannot_forge_a_line(client, tiny, lines) -> None:
    client.get("/api/v1/areas/x%0a2026-11-29 GET /api/v1/FAKE 200 0.1ms gs_FORGED%00",
               headers={"Authorization": "Bearer gs_\x1bforged!"})
    assert len(lines) == 1 and "\n" not in lines[0] and "\x00" not in lines[0]
    assert lines[0].split()[1] == "/api/v1/areas/x%0A2026-11-29%20GET%20/api/v1/FAKE%20200" \
        "%200.1ms%20gs_FORGED%00" and lines[0].endswith(" -")


def test_access_log_can_be_turned_off(db_url, lines) -> None:
    app = create_app({"DATABASE_URL": db_url, "ACCESS_LOG": False}, migrate=True)
    app.test_client().get("/api/v1/health")
    services(app).engine.dispose()
    assert lines == []
