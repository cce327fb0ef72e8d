"""A timed task queue served by a few threads: thousands of phones and cases share them,
each task saying when it wants to run next (a thread per phone would not scale to the
demo's 12,668 workers)."""

from __future__ import annotations

import heapq
import itertools
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable

Task = Callable[[], float | None]  # runs once; returns seconds until its next run, or None


class Scheduler:
    def __init__(self, threads: int) -> None:
        self._heap: list[tuple[float, int, Task]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self.stopping = threading.Event()
        self.lag_s = 0.0  # how late the last task started: the load generator keeping up?
        self.failures = 0
        self._threads = [threading.Thread(target=self._serve, name=f"sim-{i}", daemon=True)
                         for i in range(threads)]

    def at(self, delay: float, task: Task) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), task))
            self._cond.notify()

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 15.0) -> None:
        """No task starts any more; the running ones finish their request."""
        self.stopping.set()
        with self._cond:
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def pending(self) -> int:
        with self._cond:
            return len(self._heap)

    def _serve(self) -> None:
        while not self.stopping.is_set():
            with self._cond:
                while not self.stopping.is_set():
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        due, _, task = heapq.heappop(self._heap)
                        self.lag_s = now - due
                        break
                    wait = self._heap[0][0] - now if self._heap else 1.0
                    self._cond.wait(min(wait, 1.0))
                else:
                    return
            try:
                again = task()
            except Exception:  # a bug in one task must not stop the others: say it
                self.failures += 1
                if self.failures <= 3:
                    traceback.print_exc(file=sys.stderr)
                again = None
            if again is not None and not self.stopping.is_set():
                self.at(again, task)


class Starter:
    """Work done a few at a time on threads of its own, in the order submitted: phones
    going on shift (a duty POST each). However many are due at once (12,668 phones
    staggered over one fix interval want 422 a second), they hold at most `k` requests
    at the server, and the scheduler's threads, sending fixes, never wait for them."""

    def __init__(self, k: int) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.failures = 0
        self._threads = [threading.Thread(target=self._serve, name=f"sim-start-{i}",
                                          daemon=True) for i in range(k)]
        for t in self._threads:
            t.start()

    def submit(self, job: Callable[[], None]) -> None:
        self._queue.put(job)

    def waiting(self) -> int:
        return self._queue.qsize()

    def stop(self, timeout: float = 15.0) -> None:
        """No job starts any more (the waiting ones are dropped); running ones finish."""
        self.stopping.set()
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def _serve(self) -> None:
        while (job := self._queue.get()) is not None and not self.stopping.is_set():
            try:
                job()
            except Exception:  # as the scheduler: say it, go on
                self.failures += 1
                if self.failures <= 3:
                    traceback.print_exc(file=sys.stderr)
