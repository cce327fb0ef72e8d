"""Run the app under gunicorn: sized for the machine, migrations once, one index build per
machine and boundary version.

The master migrates, builds the live index, loads the roster and prepares the wall's
geometry (`web.wall.warm`) before it forks, so workers start at once and share those
pages (one copy in memory and in the CPU caches); `gc.freeze` keeps the collector from
writing to them. The master then follows the live
version itself: every `INDEX_REFRESH_S` it looks in the store, and when a new version
went live it builds that index (once for the machine, while the workers go on answering
from the old one), forks a fresh set of workers that share it, and retires the old
workers gracefully (each finishes its request in flight). Workers never build the live
index; earlier versions (`version=`) each worker builds in its background thread.

Workers are gthread workers (`THREADS` threads each, one process per core) so that open
event streams do not take the lookups' capacity: an idle stream is a thread blocked on its
queue (no CPU; the process's one hub thread does the reading), and a lookup takes any free
thread. Each worker holds at most `stream_slots(THREADS)` streams and refuses more with a
503, so threads for lookups always remain. `THREADS=1` gives sync workers, which answer
`/events` with 503 (a stream would pin a whole worker). On SIGTERM (a restart, or the roll
onto a new boundary version) a worker ends its streams at once, their clients reconnect
to the fresh workers with Last-Event-ID, instead of holding the old worker for the
graceful timeout. README "Serving model" has the measurements behind this.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import time

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from geo_service.app import services
from geo_service.web import MAX_HEADER_BYTES, MAX_HEADERS, MAX_URL_BYTES
from geo_service.web.wall import warm

log = logging.getLogger(__name__)


def _freeze() -> None:
    """Collect, then move every object so far out of the collector's sight: workers forked
    after this never write to these pages (no copy-on-write of the shared index)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class _Arbiter(Arbiter):
    """gunicorn's master, which also rolls the workers onto each new live version."""

    def manage_workers(self) -> None:
        super().manage_workers()
        app: Flask = self.app.application
        svc = services(app)
        if time.monotonic() - self._geo_checked < svc.settings["INDEX_REFRESH_S"]:
            return
        self._geo_checked = time.monotonic()
        try:
            swapped = svc.indexes.refresh()  # builds here, in the master: once per machine
        except Exception:  # the workers keep the old version; try again next time
            log.exception("building the new live index failed")
            return
        if swapped:
            svc.people.reload()
            warm(app)
            self._roll("boundary version %s is live: starting fresh workers")
            # Its near-boundary cores only speed the single lookup up: the workers answer
            # meanwhile, then fresh ones start with the cores shared.
            svc.indexes.finish()
            self._roll("boundary version %s: near-boundary cores built, fresh workers")

    def _roll(self, message: str) -> None:
        """Start `num_workers` fresh workers on what the master holds now; the oldest,
        beyond `num_workers`, then get SIGTERM (each finishes its request in flight)."""
        _freeze()
        self.log.info(message, services(self.app.application).indexes.live().version)
        for _ in range(self.num_workers):
            self.spawn_worker()
        super().manage_workers()

    _geo_checked = time.monotonic()


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict, application: Flask) -> None:
        self.options = options
        self.application = application
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.application

    def run(self) -> None:
        _Arbiter(self).run()


def preload(app: Flask) -> Flask:
    """Build the live index, load the roster and prepare the wall's geometry now, then
    freeze the collector: call it in a process that will fork workers (gunicorn's master),
    so they share one copy."""
    svc = services(app)
    svc.indexes.refresh()
    svc.indexes.finish()
    svc.people.reload()
    warm(app)
    _freeze()
    return app


def stream_slots(threads: int) -> int:
    """How many event streams one worker with `threads` threads holds: all but a reserve
    of an eighth (at least 4) that stays free for lookups; none for sync workers."""
    return 0 if threads <= 1 else max(threads - max(4, threads // 8), 0)


def serve(app: Flask, host: str, port: int) -> None:
    """gunicorn, one worker process per core (lookups are CPU-bound and hold the GIL, so
    processes, not threads, use the cores), each with `THREADS` threads for the open
    event streams. `app` is made in the master, migrated there once, before the fork."""
    preload(app)
    workers = app.config["WORKERS"] or os.cpu_count() or 1
    threads = app.config["THREADS"]
    app.config["STREAM_SLOTS"] = stream_slots(threads)

    def post_fork(_server, _worker) -> None:
        svc = services(app)
        svc.engine.dispose(close=False)  # never share DB sockets across a fork
        svc.indexes.follow_live = False  # the master builds new versions, once

    def post_worker_init(worker) -> None:
        """SIGTERM also ends this worker's event streams, so it stops at once."""
        stop = signal.getsignal(signal.SIGTERM)

        def on_term(sig, frame) -> None:
            services(app).hub.close()
            if callable(stop):
                stop(sig, frame)

        signal.signal(signal.SIGTERM, on_term)

    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "post_fork": post_fork,
        "post_worker_init": post_worker_init,
        "accesslog": None,
        "keepalive": app.config["KEEPALIVE_S"],
        # Above the app's own limits, so clients get its JSON 414/431; only requests past
        # these (gunicorn caps the request line at 8190 bytes) get gunicorn's plain text.
        "limit_request_line": min(2 * MAX_URL_BYTES, 8190),
        "limit_request_field_size": 2 * MAX_HEADER_BYTES,
        "limit_request_fields": 2 * MAX_HEADERS,
    }
    runner = _Gunicorn(options, app)
    print(f"geo-service listening on http://{host}:{port}/", flush=True)
    runner.run()
