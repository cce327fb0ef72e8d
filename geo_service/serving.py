"""Run the app under gunicorn: sized for the machine, migrations once, index per worker."""

from __future__ import annotations

import gc
import os

from gunicorn.app.base import BaseApplication

from . import create_app, services
from .web import MAX_HEADER_BYTES, MAX_HEADERS, MAX_URL_BYTES


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):  # noqa: ANN201
        return self.application


def serve(host: str, port: int) -> None:
    """gunicorn, by default one sync worker process per core: lookups are CPU-bound and
    hold the GIL, so processes, not threads, use the cores.

    The master builds the live index and loads the roster before it forks, so workers
    start at once and share those pages (one copy in memory and in the CPU caches, not
    one per worker); `gc.freeze` keeps the collector from writing to them.
    """
    app = create_app()  # in the master: migrations run once, before the fork
    svc = services(app)
    svc.indexes.live()
    svc.people.snapshot()
    workers = app.config["WORKERS"] or os.cpu_count() or 1
    threads = app.config["THREADS"]

    def post_fork(_server, _worker) -> None:  # noqa: ANN001
        services(app).engine.dispose(close=False)  # never share DB sockets across a fork

    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "post_fork": post_fork,
        "accesslog": None,
        "keepalive": 5,
        # Above the app's own limits, so clients get its JSON 414/431; only requests past
        # these (gunicorn caps the request line at 8190 bytes) get gunicorn's plain text.
        "limit_request_line": min(2 * MAX_URL_BYTES, 8190),
        "limit_request_field_size": 2 * MAX_HEADER_BYTES,
        "limit_request_fields": 2 * MAX_HEADERS,
    }
    runner = _Gunicorn(options)
    runner.application = app
    print(f"geo-service listening on http://{host}:{port}/", flush=True)
    gc.freeze()
    runner.run()
