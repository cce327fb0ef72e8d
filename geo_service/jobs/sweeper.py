"""The server's own sweep, every `SWEEP_INTERVAL_S` seconds, in the background, by
whichever process notices the time has come: overdue cases are escalated, workers' status
changes that time made are announced, fixes older than `TRAIL_DAYS` and events older than
`EVENT_DAYS` are pruned.

Requests (and open event streams) call `tick()`, which costs a clock read; when the
interval has passed it queues one sweep on a background thread. Several processes and
servers may sweep at once: the sweep's optimistic updates escalate each case once.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from geo_service.cases import escalate_overdue
from geo_service.jobs.background import Background
from geo_service.store.outbox import prune_events
from geo_service.store.uow import unit_of_work
from geo_service.workers.positions import prune_trails
from geo_service.workers.status import sweep_statuses

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(self, engine: sa.Engine, settings: dict[str, Any]) -> None:
        self.engine, self.settings = engine, settings
        self.interval = settings["SWEEP_INTERVAL_S"]
        self._last = time.monotonic()
        self._background = Background("geo-sweep")

    def tick(self) -> None:
        if self.interval and time.monotonic() - self._last >= self.interval:
            self._last = time.monotonic()
            self._background.submit("sweep", self.run)

    def run(self) -> dict[str, int]:
        """One sweep, each part in its own unit of work; what each part changed."""
        now = datetime.now(UTC)
        done = {}
        for name, part in (("escalated", escalate_overdue), ("statuses", sweep_statuses),
                           ("fixes_pruned", prune_trails), ("events_pruned", prune_events)):
            with unit_of_work(self.engine) as uow:
                done[name] = part(uow.conn, self.settings, now)
        if any(done.values()):
            log.info("sweep: %s", done)
        return done

    def settle(self, timeout: float | None = 60.0) -> None:
        self._background.wait(timeout)
