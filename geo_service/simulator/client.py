"""The simulator's HTTP client: the public API only, one keep-alive connection per thread,
retries on network errors with the same body (so a report's client id makes the retry
safe), and every request's latency and outcome counted for the summary line."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
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
    """Calls `base` (…/api/v1) with a bearer token; thread-safe (a connection per thread)."""

    def __init__(self, url: str, tally: Tally, *, timeout: float = 30.0, retries: int = 3
                 ) -> None:
        parts = urlsplit(url.rstrip("/"))
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"expected an http:// URL of the service, not {url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        path = parts.path.rstrip("/")
        self.prefix = path if path.endswith("/api/v1") else path + "/api/v1"
        self.tally, self.timeout, self.retries = tally, timeout, retries
        self._local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(self.host, self.port,
                                                                 timeout=self.timeout)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def call(self, method: str, path: str, token: str, body: Any = None) -> Answer:
        """One request; on a network error the same request again (up to `retries`
        times, backing off). A 5xx answer is returned, not retried: the service decided."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {token}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(self.retries + 1):
            t0 = time.perf_counter()
            try:
                conn = self._conn()
                conn.request(method, self.prefix + path, data, headers)
                resp = conn.getresponse()
                raw = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self._drop()
            except NETWORK_ERRORS:
                self._drop()
                self.tally.add(retries=1)
                time.sleep(min(0.2 * 2 ** attempt, 2.0))
                continue
            ms = (time.perf_counter() - t0) * 1000
            self.tally.latency(ms)
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw[:200].decode(errors="replace")
            return Answer(resp.status, parsed, ms)
        self.tally.error(f"{method} {path.split('?')[0]}: no answer")
        return Answer(0, None, 0.0)
