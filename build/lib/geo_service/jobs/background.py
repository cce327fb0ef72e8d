"""One background thread per process that runs named jobs one at a time, off the request
path: building a new live index, an earlier version's index, reloading the roster.

A job is queued once however often it is asked for while it waits (`submit` is cheap:
a request may call it on every hit). The thread exists only while there is work, so idle
processes and the test suite's many apps hold none. After a fork the child starts empty:
threads do not survive a fork, and a lock held by one of the parent's threads would
otherwise stay held forever.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Hashable

log = logging.getLogger(__name__)


class Background:
    def __init__(self, name: str) -> None:
        self.name = name
        self._reset()
        me = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: (b := me()) is not None and b._reset())

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._jobs: dict[Hashable, Callable[[], object]] = {}
        self._running: Hashable | None = None
        self._thread: threading.Thread | None = None

    def submit(self, key: Hashable, job: Callable[[], object]) -> None:
        """Run `job` soon in the background, unless a job with this key is waiting."""
        with self._lock:
            if key in self._jobs:
                return
            self._jobs[key] = job
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name,
                                                daemon=True)
                self._thread.start()

    def pending(self, key: Hashable) -> bool:
        """Whether a job with this key waits or runs."""
        with self._lock:
            return key in self._jobs or key == self._running

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no job waits or runs (tests, CLI); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._thread is None, timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._jobs:
                    self._thread = self._running = None
                    self._idle.notify_all()
                    return
                key = next(iter(self._jobs))
                job = self._jobs.pop(key)
                self._running = key
            try:
                job()
            except Exception:  # a failed build leaves the old index serving; try again later
                log.exception("background job %r failed", key)
            with self._lock:
                self._running = None
