"""The simulator's HTTP client: the public API only, retries on network errors with the same
body (so a report's client id makes the retry safe), and every request's latency and
outcome counted for the summary line.

One request per connection, as the service answers since it closes every connection
("Connection: close"): the request is written whole in one `sendall` on a fresh socket
and the answer read until its Content-Length (or the close). No `http.client`: its
header parsing (the `email` package) and its objects were half of the CPU a request cost
here (295 -> 161 µs per GET /health, kernel included), and the simulator's one process
sends hundreds a second."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

NETWORK_ERRORS = (ConnectionError, http.client.HTTPException, socket.timeout, OSError)


@dataclass
class Answer:
    status: int  # 0: no answer (network error after the retries)
    body: Any
    ms: float

    @property
    def error_code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body["error"].get("code")
        return None

    @property
    def route_missing(self) -> bool:
        """A 404 from the router (the route does not exist in this server), not from a
        domain function (`unknown_worker` and the like)."""
        return self.status == 404 and self.error_code == "not_found"


@dataclass
class Tally:
    """Counts and latencies, shared by the threads (under its lock)."""

    counts: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)  # "POST /reports 409 id_reused": n
    window: list[float] = field(default_factory=list)  # latencies (ms) since the last line
    every: list[float] = field(default_factory=list)  # all latencies (ms) of the run
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **counts: int) -> None:
        with self.lock:
            self.counts.update(counts)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors[what] += 1

    def latency(self, ms: float) -> None:
        with self.lock:
            self.window.append(ms)
            self.every.append(ms)

    def take_window(self) -> list[float]:
        with self.lock:
            out, self.window = self.window, []
        return out


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


class Api:
    """Calls `base` (…/api/v1) with a bearer token; thread-safe (no state per call)."""

    def __init__(self, url: str, tally: Tally, *, timeout: float = 30.0, retries: int = 3
                 ) -> None:
        parts = urlsplit(url.rstrip("/"))
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"expected an http:// URL of the service, not {url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        path = parts.path.rstrip("/")
        self.prefix = path if path.endswith("/api/v1") else path + "/api/v1"
        self.tally, self.timeout, self.retries = tally, timeout, retries
        self._addr: tuple[int, tuple] | None = None  # resolved once
        self._host_header = (self.host if parts.port is None else f"{self.host}:{self.port}"
                             ).encode()

    def _address(self) -> tuple[int, tuple]:
        if self._addr is None:
            family, _, _, _, addr = socket.getaddrinfo(self.host, self.port,
                                                       type=socket.SOCK_STREAM)[0]
            self._addr = (family, addr)
        return self._addr

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Write one whole request on a new connection; (status, body) of the answer.
        Raises a NETWORK_ERRORS exception when the answer does not arrive whole."""
        family, addr = self._address()
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect(addr)
            sock.sendall(request)
            return _read_answer(sock)
        finally:
            sock.close()

    def call(self, method: str, path: str, token: str, body: Any = None) -> Answer:
        """One request; on a network error the same request again (up to `retries`
        times, backing off). A 5xx answer is returned, not retried: the service decided."""
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        head = (f"{method} {self.prefix}{path} HTTP/1.1\r\nAuthorization: Bearer {token}"
                "\r\nConnection: close\r\nHost: ").encode() + self._host_header
        if body is not None:
            head += b"\r\nContent-Type: application/json\r\nContent-Length: " + \
                str(len(data)).encode()
        request = head + b"\r\n\r\n" + data
        for attempt in range(self.retries + 1):
            t0 = time.perf_counter()
            try:
                status, raw = self.exchange(request)
            except NETWORK_ERRORS:
                self.tally.add(retries=1)
                time.sleep(min(0.2 * 2 ** attempt, 2.0))
                continue
            ms = (time.perf_counter() - t0) * 1000
            self.tally.latency(ms)
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw[:200].decode(errors="replace")
            return Answer(status, parsed, ms)
        self.tally.error(f"{method} {path.split('?')[0]}: no answer")
        return Answer(0, None, 0.0)


def _read_answer(sock: socket.socket) -> tuple[int, bytes]:
    """(status, body) of one HTTP/1.1 answer on `sock`: headers, then Content-Length bytes,
    or chunks, or everything until the server closes."""
    buf = b""
    while (end := buf.find(b"\r\n\r\n")) < 0:
        more = sock.recv(65536)
        if not more:
            raise http.client.IncompleteRead(buf)
        buf += more
    head, body = buf[:end].decode("latin-1").split("\r\n"), buf[end + 4:]
    try:
        status = int(head[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        raise http.client.BadStatusLine(head[0]) from None
    fields = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    length = fields.get("content-length")
    parts = [body]
    if length is not None:
        want, have = int(length), len(body)
        while have < want:
            more = sock.recv(max(65536, want - have))
            if not more:
                raise http.client.IncompleteRead(b"".join(parts), want - have)
            parts.append(more)
            have += len(more)
        body = b"".join(parts)[:want]
    else:  # chunked or closed-delimited: the server closes after it (Connection: close)
        while more := sock.recv(65536):
            parts.append(more)
        body = b"".join(parts)
        if "chunked" in fields.get("transfer-encoding", "").lower():
            body = _unchunk(body)
    if fields.get("content-encoding", "").lower() == "gzip":
        body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
    return status, body


def _unchunk(data: bytes) -> bytes:
    out, i = [], 0
    while True:
        eol = data.find(b"\r\n", i)
        if eol < 0:
            raise http.client.IncompleteRead(b"".join(out))
        size = int(data[i:eol].split(b";", 1)[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(data[eol + 2:eol + 2 + size])
        if len(out[-1]) < size:
            raise http.client.IncompleteRead(b"".join(out))
        i = eol + 2 + size + 2
