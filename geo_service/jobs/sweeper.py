"""The server's own sweep: overdue cases are escalated every `SWEEP_INTERVAL_S` seconds,
in the background, by whichever process notices the time has come.

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
from geo_service.store.uow import unit_of_work

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

    def run(self) -> int:
        with unit_of_work(self.engine) as uow:
            n = escalate_overdue(uow.conn, self.settings, datetime.now(UTC))
        if n:
            log.info("sweep: %d overdue case(s) escalated", n)
        return n

    def settle(self, timeout: float | None = 60.0) -> None:
        self._background.wait(timeout)
