"""Each process holds its own index and notices a new live version; lookups never see
half an index."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import shapely

from geo_service.app import create_app, services

from .conftest import import_now
from .serving import served, tiny_store
from .tiny import G1, G2, tiny_areas


def _moved_grids(edge: float):
    grids = tiny_areas()
    grids = grids[(grids.level == "grid") & grids.parent_code.eq("900001001001")].copy()
    grids.loc[grids.code == G1, "geometry"] = shapely.MultiPolygon(
        [shapely.box(103.0, 35.0, edge, 35.02)])
    grids.loc[grids.code == G2, "geometry"] = shapely.MultiPolygon(
        [shapely.box(edge, 35.0, 103.02, 35.02)])
    return grids


def test_second_process_notices_new_version(app, db_url, tiny) -> None:
    other = create_app({"DATABASE_URL": db_url, "INDEX_REFRESH_S": 0.0}, migrate=True)
    try:
        assert services(other).indexes.live().version == tiny
        result = import_now(services(app).engine, _moved_grids(103.015), "grid", author="t")
        vi = services(other).indexes.settle()
        assert vi.version == result.version
        assert vi.grids.codes[vi.grids.assign_one(103.012, 35.01)] == G1
    finally:
        services(other).close()


def test_a_new_version_answers_before_its_cores_are_built(app, tiny) -> None:
    """The swap waits for the index only; the near-boundary cores follow (`finish`),
    and a single lookup meanwhile measures instead of building them itself."""
    cache = services(app).indexes
    cache.settle()
    result = import_now(services(app).engine, _moved_grids(103.015), "grid", author="t")
    assert cache.refresh()
    vi = cache.live()
    assert vi.version == result.version
    near = cache.near_m
    pos = vi.grids.assign_one(103.0149, 35.01)  # 9 m from the moved edge
    assert vi.grids.codes[pos] == G1
    assert vi.grids.near_boundary_one(103.0149, 35.01, pos, near)
    assert near not in vi.grids._near._core_cache
    cache.finish()
    assert near in vi.grids._near._core_cache
    assert vi.grids.near_boundary_one(103.0149, 35.01, pos, near)
    assert not vi.grids.near_boundary_one(103.008, 35.01, pos, near)


def test_lookups_during_publishes_see_whole_versions(app, tiny) -> None:
    """While versions flip, every answer matches the version it reports."""
    cache = services(app).indexes
    expected = {tiny: G2}
    errors: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            vi = cache.live()
            code = vi.grids.codes[vi.grids.assign_one(103.012, 35.01)]
            want = expected.get(vi.version)
            if want is not None and code != want:
                errors.append(f"version {vi.version} answered {code}")

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i, edge in enumerate([103.015, 103.011, 103.015, 103.011]):
            result = import_now(services(app).engine, _moved_grids(edge), "grid",
                                  author=f"t{i}")
            expected[result.version] = G1 if edge > 103.012 else G2
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert cache.settle().version == max(expected)


def test_gunicorn_workers_follow_the_live_version(tmp_path) -> None:
    """`geo-service serve`: every worker answers from the new version, no restart."""
    url, engine, token = tiny_store(tmp_path)
    with served(tmp_path, url, INDEX_REFRESH_S="0.2", WORKERS="2", THREADS="2") as base:

        def grid_at(lon: float) -> tuple[str, int]:
            req = urllib.request.Request(f"{base}/lookup?lon={lon}&lat=35.01",
                                         headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(req, timeout=5) as resp:
                body = json.load(resp)
            return body["grid"]["code"], body["version"]

        assert {grid_at(103.012)[0] for _ in range(10)} == {G2}
        result = import_now(engine, _moved_grids(103.015), "grid", author="t")
        deadline = time.monotonic() + 20  # the master looks every ~1 s, then rolls workers
        while grid_at(103.012)[1] != result.version:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.5)  # the retired workers finish their last requests
        answers = {grid_at(103.012) for _ in range(20)}  # spread over both workers
        assert answers == {(G1, result.version)}
        engine.dispose()


def test_earlier_versions_kept_are_bounded(app, tiny) -> None:
    """VERSIONS_KEPT bounds the memory `version=` can make a process hold: the least
    recently used earlier version is forgotten (and built again if asked for)."""
    from geo_service.index.cache import VersionWarming

    engine = services(app).engine
    second = import_now(engine, _moved_grids(103.015), "grid").version
    import_now(engine, _moved_grids(103.011), "grid")
    cache = services(app).indexes
    cache.settle()
    cache.versions_kept = 1

    def served(version: int):
        for _ in range(2):
            try:
                return cache.version(version)
            except VersionWarming:
                cache.wait()
        raise AssertionError(f"version {version} was never built")

    assert served(tiny).version == tiny and served(second).version == second
    assert list(cache._earlier) == [second]
    assert served(tiny).version == tiny
    assert cache.builds["earlier", tiny] == 2
