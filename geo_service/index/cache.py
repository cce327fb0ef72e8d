"""The grid indexes a process answers from, built off the request path.

- `live()` returns the live version's indexes at once. Every `refresh_s` it asks the
  background builder (one thread per process, `jobs.background.Background`) to look in the
  store; a new live version is built there (raster and encoded answers: all a lookup
  needs) while lookups keep answering from the old one, then swapped in by one reference
  assignment. Its near-boundary cores, which only make the single lookup's
  `near_boundary` faster, follow on the same thread (`finish`); until then that test
  measures the distance exactly, with the same answer. Only the very first build, before
  any index exists, runs in the caller: there is nothing to answer from yet.
- `version(n)` serves an earlier version from a plain index (STRtree and the exact
  shapely rule: no raster, no cores; a fraction of the full build), built by the same
  builder once per process and kept (the `VERSIONS_KEPT` most recently used). Until it
  is ready the caller gets `VersionWarming` (HTTP 503 with Retry-After), so no request
  ever waits for a build and asking for many versions costs one build each, one at a
  time.
- Under `geo-service serve` the workers do not follow the live version themselves
  (`follow_live = False`): the gunicorn master builds each new version once for the
  machine and starts fresh workers on it (see `serving.py`).

`builds` counts the indexes built in this process, by (kind, version): tests pin the
costs with it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter, OrderedDict

import sqlalchemy as sa

from geo_service.errors import Unavailable
from geo_service.jobs.background import Background
from geo_service.lookup import encode_answers
from geo_service.versions import VersionIndex, build_indexes, live_version, resolve_version

RETRY_AFTER_S = 1


class VersionWarming(Unavailable):
    """An earlier version's index is being built; ask again in `Retry-After` seconds."""

    default_code = "version_warming"

    def __init__(self, version: int) -> None:
        super().__init__(f"boundary version {version} is being loaded; retry shortly",
                         "version", headers={"Retry-After": str(RETRY_AFTER_S)})
        self.version = version


class IndexCache:
    def __init__(self, engine: sa.Engine, refresh_s: float, near_m: float, *,
                 versions_kept: int = 4) -> None:
        self.engine = engine
        self.near_m = near_m
        self.refresh_s = refresh_s
        self.follow_live = True
        self.builds: Counter[tuple[str, int]] = Counter()
        self._live: VersionIndex | None = None
        self._checked = float("-inf")
        self._first = threading.Lock()
        self.versions_kept = versions_kept
        self._earlier: OrderedDict[int, VersionIndex] = OrderedDict()  # least recent first
        self._builder = Background("geo-index-builder")

    def live(self) -> VersionIndex | None:
        """The live version's indexes, or None before any publish. Never builds on the
        caller's thread once an index exists."""
        live = self._live
        if live is None:
            return self._first_build() if self.follow_live else None
        if self.follow_live and time.monotonic() - self._checked >= self.refresh_s:
            self._checked = time.monotonic()
            self._builder.submit("live", self._refresh_and_finish)
        return live

    def _refresh_and_finish(self) -> None:
        if self.refresh():
            self.finish()

    def _first_build(self) -> VersionIndex | None:
        with self._first:
            if self._live is None and time.monotonic() - self._checked >= self.refresh_s \
                    and self.refresh():
                self._builder.submit("cores", self.finish)
            return self._live

    def refresh(self) -> bool:
        """Look in the store now and build a new live version if there is one (on the
        calling thread: the builder's, the master's, or a test's). True if it swapped; the
        new version's cores are then still to build (`finish`)."""
        self._checked = time.monotonic()
        with self.engine.connect() as conn:
            version = live_version(conn)
            current = self._live.version if self._live else None
            if version is None or version == current:
                return False
            vi = self._build_live(conn, version)
        self._live = vi  # the swap: one reference assignment
        self._earlier.pop(version, None)
        return True

    def _build_live(self, conn: sa.Connection, version: int) -> VersionIndex:
        """The live indexes, with the encoded answers a single lookup would otherwise
        build on first use."""
        vi = build_indexes(conn, version)
        encode_answers(vi)
        self.builds["live", version] += 1
        return vi

    def finish(self) -> None:
        """Build the live version's grid cores for the near-boundary test (about as long
        as the index itself at 100k grids): lookups answer meanwhile, measuring exactly."""
        live = self._live
        if live is not None:
            live.grids.prepare_near(self.near_m)

    def version(self, version: int) -> VersionIndex:
        """VersionIndex of a given (possibly earlier) version; UnknownVersion if unknown,
        VersionWarming while its index is being built."""
        live = self.live()
        if live and live.version == version:
            return live
        hit = self._earlier.get(version)
        if hit is not None:
            with contextlib.suppress(KeyError):  # evicted meanwhile by the builder
                self._earlier.move_to_end(version)
            return hit
        if not self._builder.pending(("version", version)):
            with self.engine.connect() as conn:
                resolve_version(conn, version)  # unknown: UnknownVersion, nothing queued
            self._builder.submit(("version", version), lambda: self._build_earlier(version))
        raise VersionWarming(version)

    def _build_earlier(self, version: int) -> None:
        if version in self._earlier:
            return
        with self.engine.connect() as conn:
            vi = build_indexes(conn, version, raster=False)
        encode_answers(vi)
        self.builds["earlier", version] += 1
        self._earlier[version] = vi
        while len(self._earlier) > self.versions_kept:
            self._earlier.popitem(last=False)

    def wait(self, timeout: float | None = 60.0) -> bool:
        """Wait until no build is queued or running; False on timeout."""
        return self._builder.wait(timeout)

    def settle(self, timeout: float | None = 60.0) -> VersionIndex | None:
        """Check the store now and wait until every queued build is done (tests, CLI)."""
        if self._live is None:
            return self.live()
        self._builder.submit("live", self._refresh_and_finish)
        self._builder.wait(timeout)
        return self._live
