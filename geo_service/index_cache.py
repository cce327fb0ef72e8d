"""The grid index each process holds, swapped whole when a new boundary version goes live.

Each process (gunicorn worker) keeps its own index and asks the store at most every
`INDEX_REFRESH_S` seconds which version is live; a rebuild happens on the side and is
published by one reference assignment, so a lookup never sees half an index.
Earlier versions asked for by `version=` are kept in a small LRU.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

import sqlalchemy as sa

from .lookup import encode_answers
from .registry import VersionIndex, build_indexes, live_version, resolve_version


class IndexCache:
    def __init__(self, engine: sa.Engine, refresh_s: float, near_m: float,
                 keep_versions: int = 2) -> None:
        self.engine = engine
        self.near_m = near_m
        self.refresh_s = refresh_s
        self.keep_versions = keep_versions
        self._live: VersionIndex | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self._old_lock = threading.Lock()
        self._old: OrderedDict[int, VersionIndex] = OrderedDict()

    def live(self) -> VersionIndex | None:
        """The live version's indexes, or None before any publish."""
        stale = time.monotonic() - self._checked >= self.refresh_s
        # One thread checks and rebuilds; the others keep answering from the current index
        # (they wait only when there is none yet).
        if stale and self._lock.acquire(blocking=self._live is None):
            try:
                if time.monotonic() - self._checked >= self.refresh_s:
                    self._refresh()
            finally:
                self._lock.release()
        return self._live

    def _refresh(self) -> None:
        with self.engine.connect() as conn:
            version = live_version(conn)
            current = self._live.version if self._live else None
            if version is not None and version != current:
                self._live = self._build(conn, version)
        self._checked = time.monotonic()

    def version(self, version: int) -> VersionIndex:
        """VersionIndex of a given (possibly earlier) version; RegistryError if unknown."""
        live = self.live()
        if live and live.version == version:
            return live
        with self._old_lock:
            hit = self._old.get(version)
            if hit is None:
                with self.engine.connect() as conn:
                    hit = build_indexes(conn, resolve_version(conn, version))
                    encode_answers(hit)  # cores, if a single lookup needs them, on first use
                self._old[version] = hit
                while len(self._old) > self.keep_versions:
                    self._old.popitem(last=False)
            self._old.move_to_end(version)
            return hit

    def _build(self, conn: sa.Connection, version: int) -> VersionIndex:
        """The live indexes, with everything a single lookup would otherwise build on first
        use: the encoded answers and the grid cores for the near-boundary test."""
        vi = build_indexes(conn, version)
        encode_answers(vi)
        vi.grids.prepare_near(self.near_m)
        return vi
