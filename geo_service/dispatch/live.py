"""Each process's own live copy of where workers are, kept current from `worker_state`.

gunicorn runs several processes and a fix may be taken in any of them (or by another
server), so every process holds its own `NearbyWorkers` and catches up by reading the
`worker_state` rows changed since it last looked: one indexed range query whose cost
follows the number of changes, never the number of workers. Fixes taken in this process
go in at once (`note`). A dispatch query catches up first when the copy is older than
`DISPATCH_REFRESH_S`; the areas each worker answers for (the roster, which changes only
on an import) are reloaded in the background every `ROSTER_REFRESH_S`.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from geo_service.dispatch.nearby import NearbyWorkers
from geo_service.jobs.background import Background
from geo_service.store.tables import worker_areas, worker_state, workers

# A transaction takes its `updated_at` before it commits, so a row may become visible
# after rows with later times were read: each catch-up reads this far behind the newest
# time it saw (re-reading a row is harmless).
OVERLAP = timedelta(seconds=5)

_STATE = (sa.select(worker_state.c.worker_code, worker_state.c.lon, worker_state.c.lat,
                    worker_state.c.recorded_at, worker_state.c.updated_at, workers.c.on_duty)
          .join(workers, workers.c.code == worker_state.c.worker_code))
_AREAS = (sa.select(workers.c.code, worker_areas.c.area_code)
          .join(worker_areas, worker_areas.c.worker_id == workers.c.id))


def as_utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


class LivePositions:
    """The nearest-worker index of this process and who answers for which areas."""

    def __init__(self, engine: sa.Engine, *, roster_s: float, cell_m: float = 3000.0
                 ) -> None:
        self.engine = engine
        self.roster_s = roster_s
        self.index = NearbyWorkers(cell_m=cell_m)
        self.lock = threading.RLock()  # queries and changes take turns (GEO_THREADS > 1)
        self.catch_ups = 0
        self._seen: datetime | None = None  # newest updated_at read so far
        self._checked = float("-inf")
        self._areas: dict[str, tuple[str, ...]] = {}
        self._members: dict[str, frozenset[str]] = {}
        self._roster_at = float("-inf")
        self._background = Background("geo-dispatch")

    def current(self, max_age_s: float) -> NearbyWorkers:
        """The index, caught up first when it was last checked more than `max_age_s` ago
        (0: always)."""
        if time.monotonic() - self._checked >= max_age_s:
            self.catch_up()
        if self._roster_at == float("-inf"):
            self.reload_roster()
        elif time.monotonic() - self._roster_at >= self.roster_s:
            self._roster_at = time.monotonic()  # asked: one reload per interval
            self._background.submit("roster", self.reload_roster)
        return self.index

    def catch_up(self) -> int:
        """Read the positions changed since the last look; returns how many rows."""
        started = time.monotonic()
        q = _STATE if self._seen is None else _STATE.where(
            worker_state.c.updated_at > self._seen - OVERLAP)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
            new = [r[0] for r in rows if r[0] not in self._areas]
            if new and self._roster_at != float("-inf"):  # a worker added since the roster
                self._learn(conn.execute(_AREAS.where(workers.c.code.in_(new))).all())
        with self.lock:
            for code, lon, lat, recorded_at, updated_at, on_duty in rows:
                if lon is None or recorded_at is None:
                    self.index.drop(code)
                else:
                    self.index.put(code, lon, lat, as_utc(recorded_at).timestamp(),
                                   bool(on_duty))
                updated_at = as_utc(updated_at)
                if self._seen is None or updated_at > self._seen:
                    self._seen = updated_at
            self._checked = started
            self.catch_ups += 1
        return len(rows)

    def note(self, code: str, lon: float, lat: float, recorded_at: datetime, on_duty: bool
             ) -> None:
        """A position this process just committed: in the index at once."""
        with self.lock:
            self.index.put(code, lon, lat, recorded_at.timestamp(), on_duty)

    def note_duty(self, code: str, on_duty: bool) -> None:
        with self.lock:
            self.index.set_duty(code, on_duty)

    def reload_roster(self) -> None:
        """Who answers for which areas, read whole and swapped in."""
        with self.engine.connect() as conn:
            rows = conn.execute(_AREAS).all()
        areas: dict[str, list[str]] = defaultdict(list)
        members: dict[str, set[str]] = defaultdict(set)
        for code, area in rows:
            areas[code].append(area)
            members[area].add(code)
        self._areas = {c: tuple(a) for c, a in areas.items()}
        self._members = {a: frozenset(c) for a, c in members.items()}
        self._roster_at = time.monotonic()

    def _learn(self, rows: list[tuple[str, str]]) -> None:
        """Add the areas of workers the roster did not know yet (copies: readers keep
        the maps they hold)."""
        areas, members = dict(self._areas), dict(self._members)
        for code, area in rows:
            areas[code] = (*areas.get(code, ()), area)
            members[area] = members.get(area, frozenset()) | {code}
        self._areas, self._members = areas, members

    def areas_of(self, code: str) -> tuple[str, ...]:
        return self._areas.get(code, ())

    def members(self, areas: list[str]) -> set[str]:
        """The workers who answer for any of `areas`."""
        out: set[str] = set()
        for a in areas:
            out |= self._members.get(a, frozenset())
        return out

    def settle(self, timeout: float | None = 60.0) -> None:
        self._background.wait(timeout)
