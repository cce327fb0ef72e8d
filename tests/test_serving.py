"""The serving model (`geo_service.serving`): a request that has fully arrived is answered
on the worker's own thread; streams, long-running views and clients still sending take a
lane thread; a worker whose lane is full answers those with a 503 and goes on answering
the rest."""

from __future__ import annotations

import http.client
import json
import socket
import time
from urllib.parse import urlsplit

import pytest

from geo_service.app import create_app
from geo_service.serving import arrived, long_views, wants_lane

from .serving import served, tiny_store
from .test_reports import IN_G1

LOOKUP = f"/api/v1/lookup?lon={IN_G1[0]}&lat={IN_G1[1]}"


def never_long(method: str, path: str) -> bool:
    return False


@pytest.mark.parametrize(("head", "lane"), [
    (None, True),  # nothing has arrived yet
    (b"", False),  # closed before sending: the parser ends it at once
    (b"GET /api/v1/lookup?lon=1&lat=2 HTTP/1.1\r\nHost: x\r\n\r\n", False),
    (b"GET /api/v1/lookup?lon=1&lat=2 HTTP/1.1\r\nHost: x\r\n", True),  # head unfinished
    (b"POST /api/v1/reports HTTP/1.1\r\nContent-Length: 5\r\n\r\n{}", True),  # body unfinished
    (b"POST /api/v1/reports HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}", False),
    (b"POST /api/v1/reports HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}", True),
    (b"POST /x HTTP/1.1\r\nContent-Length: banana\r\n\r\n", False),  # the parser's 400
    (b"NONSENSE\r\n\r\n", False),
])
def test_a_request_takes_the_lane_only_while_it_is_still_arriving(head, lane) -> None:
    assert wants_lane(head, never_long) is lane
    assert (arrived(head) is None) is lane


def test_long_running_views_take_the_lane_and_the_rest_stay_on_the_worker(tmp_path) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'g.sqlite3'}"}, migrate=True)
    long = long_views(app)
    assert long("GET", "/api/v1/events")
    assert long("POST", "/api/v1/drafts/7/publish")
    assert long("GET", "/api/v1/drafts/7/export")
    assert not long("GET", "/api/v1/lookup")
    assert not long("POST", "/api/v1/reports")
    assert not long("GET", "/api/v1/no-such-thing")
    assert not long("POST", "/api/v1/events")  # 405: answered at once
    head = b"GET /api/v1/events?area=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    assert wants_lane(head, long) and not wants_lane(head.replace(b"events", b"lookup"), long)


@pytest.fixture
def store(tmp_path) -> tuple[str, str]:
    url, engine, token = tiny_store(tmp_path)
    engine.dispose()
    return url, token


def _get(base: str, path: str, token: str) -> tuple[int, dict, float]:
    u = urlsplit(base)
    t0 = time.monotonic()
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read()), time.monotonic() - t0
    finally:
        conn.close()


def _slow_client(base: str, token: str) -> socket.socket:
    """A client that has sent half of its request's head and goes quiet."""
    u = urlsplit(base)
    sock = socket.create_connection((u.hostname, u.port), timeout=10)
    sock.sendall(f"GET {LOOKUP} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                 .encode())
    return sock


def _read_answer(sock: socket.socket) -> bytes:
    """One whole answer (its head and Content-Length body), leaving the socket open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_silent_and_lingering_clients_never_hold_the_worker(tmp_path, store) -> None:
    """One worker: connections that send nothing (a browser's preconnect), and clients
    that keep their connection open after their answer, cost the next lookup nothing."""
    url, token = store
    with served(tmp_path, url, WORKERS="1", THREADS="8") as base:
        u = urlsplit(base)
        silent = [socket.create_connection((u.hostname, u.port)) for _ in range(3)]
        lingering = []
        for _ in range(3):
            sock = socket.create_connection((u.hostname, u.port), timeout=10)
            sock.sendall(f"GET {LOOKUP} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                         f"{token}\r\n\r\n".encode())
            assert _read_answer(sock).startswith(b"HTTP/1.1 200")
            lingering.append(sock)  # answered, and never closed by us
        for _ in range(5):
            status, _, took = _get(base, LOOKUP, token)
            assert status == 200 and took < 3, took
        for sock in silent + lingering:
            sock.close()


def test_instances_on_one_machine_share_no_control_socket(tmp_path, store,
                                                         monkeypatch) -> None:
    """gunicorn's control socket is one path per user, which two instances of the service
    on one machine would fight over: `serve` opens none."""
    monkeypatch.setenv("HOME", str(tmp_path))
    url, _ = store
    with served(tmp_path, url, WORKERS="1", THREADS="2"):
        log = (tmp_path / "serve.log").read_text()
        assert "Booting worker" in log, log
        assert not (tmp_path / ".gunicorn").exists(), log


def test_slow_clients_never_hold_the_worker_and_a_full_lane_answers_503(tmp_path,
                                                                       store) -> None:
    """One worker with a lane of two: two clients that stop halfway through their head
    take the lane (under sync workers they would hold the whole worker); lookups still
    answer at once, a third slow client gets the JSON 503, and the first two get their
    answers when they finish sending."""
    url, token = store
    with served(tmp_path, url, WORKERS="1", THREADS="2") as base:
        slow = [_slow_client(base, token) for _ in range(2)]
        time.sleep(0.3)  # both are in the lane now
        for _ in range(20):
            status, body, took = _get(base, LOOKUP, token)
            assert status == 200 and body["grid"]["code"], body
            assert took < 5, took
        third = _slow_client(base, token)
        answer = third.recv(65536).decode()
        head, _, payload = answer.partition("\r\n\r\n")
        assert head.startswith("HTTP/1.1 503") and "Retry-After: 5" in head
        assert json.loads(payload)["error"]["code"] == "unavailable"
        third.close()
        late = _slow_client(base, token)  # sends the rest of its head a moment later
        time.sleep(0.01)
        late.sendall(b"\r\n")
        assert _read_answer(late).startswith(b"HTTP/1.1 200")  # answered on the worker
        late.close()
        for sock in slow:
            sock.sendall(b"\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
            assert json.loads(answer.partition(b"\r\n\r\n")[2])["grid"]["code"]
            sock.close()
