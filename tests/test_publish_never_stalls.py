"""A publish never stalls lookups, and `version=` cannot be used to take the service down.

Builds are slowed down on purpose (two seconds each): if any request waited for one, it
would take longer than the one second these tests allow a lookup.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from geo_service.app import services
from geo_service.auth import create_token
from geo_service.index import cache as index_cache
from geo_service.versions import build_indexes

from .conftest import bearer, import_now, load_tiny
from .serving import served
from .test_index_cache import _moved_grids
from .tiny import G1, G2

SLOW_BUILD_S = 2.0
MAX_WAIT_S = 1.0  # the bound on any lookup's time during a publish
POINT = {"lon": 103.012, "lat": 35.01}  # G2 in the tiny prefecture; G1 once the edge moves


@pytest.fixture
def slow_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*args, **kwargs):
        time.sleep(SLOW_BUILD_S)
        return build_indexes(*args, **kwargs)

    monkeypatch.setattr(index_cache, "build_indexes", slow)


class Stream:
    """Threads asking for one point's grid over and over, each answer timed."""

    def __init__(self, ask, threads: int = 3) -> None:
        self.ask = ask
        self.answers: list[tuple[float, int, object]] = []  # (seconds, status, body)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.perf_counter()
            status, body = self.ask()
            self.answers.append((time.perf_counter() - t0, status, body))

    def __enter__(self) -> Stream:
        # This process's own collector must not be timed as the server's wait: a full
        # collection stalled every asking thread 0.15 s with this file alone (the server
        # idle meanwhile), longer with the whole suite's objects (CI at de3dd5c: 1.2 s).
        gc.freeze()
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()
        gc.unfreeze()

    def versions(self) -> set:
        return {body["version"] for _, status, body in self.answers if status == 200}


def _check(stream: Stream, expected: dict[int, str]) -> None:
    slowest = max(s for s, _, _ in stream.answers)
    assert slowest < MAX_WAIT_S, f"a lookup waited {slowest:.2f} s"
    for _, status, body in stream.answers:
        assert status == 200, body
        assert body["grid"]["code"] == expected[body["version"]], body


def test_publish_under_lookups_never_stalls(app, client, tiny, tokens, slow_builds) -> None:
    """In process (tests, `flask run`): the new index is built in the background; lookups
    answer from the old one meanwhile, then from the new one, each consistent."""
    headers = bearer(tokens["viewer"])

    def ask() -> tuple[int, object]:
        resp = app.test_client().get("/api/v1/lookup", query_string=POINT, headers=headers)
        return resp.status_code, resp.get_json()

    assert ask()[1]["version"] == tiny
    with Stream(ask) as stream:
        time.sleep(0.2)
        result = import_now(services(app).engine, _moved_grids(103.015), "grid")
        deadline = time.monotonic() + 30
        while result.version not in stream.versions():
            assert time.monotonic() < deadline, "the new version never went live"
            time.sleep(0.05)
        time.sleep(0.2)
    _check(stream, {tiny: G2, result.version: G1})
    assert stream.versions() == {tiny, result.version}
    assert services(app).indexes.builds["live", result.version] == 1


def test_cycling_versions_builds_each_once(app, client, tiny, tokens, slow_builds) -> None:
    """Earlier versions are built off the request path (503 version_warming meanwhile),
    once per process each, however often they are cycled; live lookups never wait."""
    cache = services(app).indexes
    expected = {tiny: G2}
    for i, edge in enumerate([103.015, 103.011, 103.015, 103.011]):
        result = import_now(services(app).engine, _moved_grids(edge), "grid",
                            author=f"t{i}")
        expected[result.version] = G1 if edge > 103.012 else G2
    live = max(expected)
    cache.settle()
    assert cache.live().version == live
    headers = bearer(tokens["viewer"])

    def ask_live() -> tuple[int, object]:
        resp = app.test_client().get("/api/v1/lookup", query_string=POINT, headers=headers)
        return resp.status_code, resp.get_json()

    earlier = sorted(set(expected) - {live})  # more versions than the old LRU kept (2)
    statuses: list[int] = []
    with Stream(ask_live, threads=2) as stream:
        deadline = time.monotonic() + 60
        served: set[int] = set()
        while served != set(earlier):
            assert time.monotonic() < deadline, f"only {served} were ever served"
            for v in earlier:
                t0 = time.perf_counter()
                resp = client.get("/api/v1/lookup", query_string={**POINT, "version": v},
                                  headers=headers)
                assert time.perf_counter() - t0 < MAX_WAIT_S
                statuses.append(resp.status_code)
                if resp.status_code == 503:
                    assert resp.get_json()["error"]["code"] == "version_warming"
                    assert resp.headers["Retry-After"] == "1"
                else:
                    body = resp.get_json()
                    assert resp.status_code == 200 and body["version"] == v
                    assert body["grid"]["code"] == expected[v]
                    served.add(v)
            time.sleep(0.05)
    _check(stream, expected)
    assert 503 in statuses
    assert {v: cache.builds["earlier", v] for v in earlier} == {v: 1 for v in earlier}


def _get(url: str, token: str) -> tuple[int, object]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def test_gunicorn_publish_under_lookups_never_stalls(tmp_path) -> None:
    """`geo-service serve` with two workers, hit over HTTP while `geo-service publish`
    makes a new version live: no lookup waits, every answer matches its version."""
    from geo_service.app import create_app

    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    app = create_app({"DATABASE_URL": url}, migrate=True)
    engine = services(app).engine
    tiny = load_tiny(engine)
    draft = import_now(engine, _moved_grids(103.015), "grid", publish_now=False).version
    with engine.begin() as conn:
        token = create_token(conn, name="serve", role="viewer")
    engine.dispose()
    env = {**os.environ, "GEO_DATABASE_URL": url}
    with served(tmp_path, url, INDEX_REFRESH_S="0.2", WORKERS="2") as base:
        lookup = f"{base}/lookup?lon={POINT['lon']}&lat={POINT['lat']}"
        with Stream(lambda: _get(lookup, token)) as stream:
            time.sleep(0.5)
            subprocess.run([sys.executable, "-m", "geo_service.cli", "publish", str(draft)],
                           env=env, cwd=tmp_path, check=True, capture_output=True)
            deadline = time.monotonic() + 30
            while draft not in stream.versions():
                assert time.monotonic() < deadline, "the new version never went live"
                time.sleep(0.1)
            time.sleep(1.0)
        _check(stream, {tiny: G2, draft: G1})
        assert {_get(lookup, token)[1]["version"] for _ in range(10)} == {draft}
