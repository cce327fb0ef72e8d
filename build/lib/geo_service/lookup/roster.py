"""Who answers for each area: the roster of responsible people, held in memory per process
and reloaded in the background."""

from __future__ import annotations

import threading
import time

import orjson
import sqlalchemy as sa
from orjson import Fragment

from geo_service.jobs.background import Background
from geo_service.privacy import PII_ROLES, mask_name, mask_phone
from geo_service.store.tables import worker_areas, workers

_PEOPLE = (
    sa.select(workers.c.code, workers.c.name, workers.c.role, workers.c.phone,
              workers.c.on_duty, worker_areas.c.area_code)
    .join(worker_areas, worker_areas.c.worker_id == workers.c.id)
    .order_by(workers.c.role, workers.c.code)
)


# area code -> its people as JSON objects, comma-separated: (as PII roles see them, masked).
_Roster = dict[str, tuple[bytes, bytes]]


class PeopleDirectory:
    """Who answers for each area: the whole roster in memory, reloaded every `ttl` s.

    Lookups touch random grids all day, so one query per lookup would cost more than the
    lookup itself; the roster (a worker per group, a few per grid) is small. A request only
    reads the current snapshot (one reference); when it is older than `ttl` the reload runs
    on a background thread and is swapped in whole, so a change shows within about `ttl`
    seconds and no request waits for a load — except the very first, before any exists.
    """

    def __init__(self, engine: sa.Engine, ttl: float) -> None:
        self.engine = engine
        self.ttl = ttl
        self.loads = 0
        self._roster: _Roster | None = None
        self._loaded = float("-inf")
        self._first = threading.Lock()
        self._background = Background("geo-roster")

    def snapshot(self) -> _Roster:
        """The roster as loaded last; asks for a reload in the background when older than
        `ttl`."""
        roster = self._roster
        if roster is None:
            with self._first:
                if self._roster is None:
                    self.reload()
            return self._roster or {}
        if time.monotonic() - self._loaded >= self.ttl:
            self._loaded = time.monotonic()  # asked: one reload per `ttl`, not per request
            self._background.submit("roster", self.reload)
        return roster

    def reload(self) -> None:
        """Load the roster now, on the calling thread, and swap it in."""
        roster = self._load()
        self._roster, self._loaded = roster, time.monotonic()
        self.loads += 1

    def settle(self, timeout: float | None = 60.0) -> None:
        """Wait for a reload in progress (tests)."""
        self._background.wait(timeout)

    def _load(self) -> _Roster:
        people: dict[str, tuple[list[bytes], list[bytes]]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(_PEOPLE):
                base = {"code": r.code, "role": r.role, "area_code": r.area_code,
                        "on_duty": bool(r.on_duty)}
                full, masked = people.setdefault(r.area_code, ([], []))
                full.append(orjson.dumps({**base, "name": r.name, "phone": r.phone}))
                masked.append(orjson.dumps(
                    {**base, "name": mask_name(r.name), "phone": mask_phone(r.phone)}))
        return {code: (b",".join(full), b",".join(masked))
                for code, (full, masked) in people.items()}

    def for_role(self, codes: tuple[str, ...], role: str) -> Fragment:
        """Workers answering for these areas (grid leader, workers, liaison head), with
        names and phones as `role` may see them: one JSON array of objects encoded at
        load time."""
        roster = self.snapshot()
        which = 0 if role in PII_ROLES else 1
        parts = [found[which] for code in codes if (found := roster.get(code))]
        return Fragment(b"[" + b",".join(parts) + b"]")
