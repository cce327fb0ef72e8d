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

Workers are `LaneWorker`s, one process per core: a request that has fully arrived is
answered on the worker's own thread, as gunicorn's sync worker answers it (no hand-off
between threads, so the single lookup keeps the sync worker's tail), and what would hold
that thread gets a thread of its own, at most `THREADS` at a time: an event stream,
another view marked `long_running` (a publish, an export), a request still arriving (a
slow client). Each worker holds at most `stream_slots(THREADS)` streams and refuses more
with a 503, so lane threads for the rest always remain. On SIGTERM (a restart, or the
roll onto a new boundary version) a worker ends its streams at once, their clients
reconnect to the fresh workers with Last-Event-ID, and lets its other lane requests
finish. README "Serving model" has the measurements behind this.
"""

from __future__ import annotations

import errno
import gc
import json
import logging
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from urllib.parse import unquote

from flask import Flask
from gunicorn import http, util
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.workers.sync import SyncWorker

from geo_service.app import services
from geo_service.errors import Unavailable
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

    def spawn_worker(self):
        """Fork with SIGTERM blocked: a fresh worker takes a stop signal only once its
        handlers are in place (`post_worker_init` unblocks it), where one sent between the
        fork and those handlers would be lost and the worker run on to the graceful
        timeout's SIGKILL (a stop arriving while a new version rolls out)."""
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            return super().spawn_worker()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})

    def _roll(self, message: str) -> None:
        """Start `num_workers` fresh workers on what the master holds now; the oldest,
        beyond `num_workers`, then get SIGTERM (each finishes its request in flight)."""
        _freeze()
        self.log.info(message, services(self.app.application).indexes.live().version)
        for _ in range(self.num_workers):
            self.spawn_worker()
        super().manage_workers()

    _geo_checked = time.monotonic()


# How much of a request the worker looks at before choosing its lane: more than any head
# the limits below let through, and the small bodies (a report, a batch of fixes).
PEEK_BYTES = 64 * 1024
# How long a just-accepted connection may take to show its first bytes before it is
# treated as a slow client (loopback and LAN clients send with the handshake).
FIRST_BYTES_S = 0.002
# How long a request may take to arrive whole when every lane thread is taken (it is then
# answered on the worker's own thread instead of refused).
FULL_LANE_WAIT_S = 0.05
# A client that sends or takes nothing for this long loses its connection, so no thread
# waits on it for ever.
IO_TIMEOUT_S = 10.0


def arrived(head: bytes | None) -> tuple[str, str] | None:
    """The method and path of a request whose head and `Content-Length` body have fully
    arrived in `head` (None: no bytes yet); None while it is still arriving or comes
    chunked; ("", "") when it is empty or malformed (the parser answers that at once)."""
    if head is None:
        return None
    end = head.find(b"\r\n\r\n")
    if not head or end < 0:
        return ("", "") if not head else None
    line, *fields = head[:end].split(b"\r\n")
    parts = line.split(b" ")
    if len(parts) != 3:
        return "", ""
    length = 0
    for field in fields:
        name, _, value = field.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding":
            return None
        if name == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return "", ""
    if len(head) - end - 4 < length:
        return None
    return parts[0].decode("latin-1"), parts[1].decode("latin-1").split("?", 1)[0]


def wants_lane(head: bytes | None, long_running: Callable[[str, str], bool]) -> bool:
    """Whether the request whose first bytes are `head` gets a lane thread: it has not
    fully arrived, or its view is long-running."""
    whole = arrived(head)
    return whole is None or long_running(*whole)


def long_views(app: Flask) -> Callable[[str, str], bool]:
    """`(method, path) -> bool`: whether the app's view for it is marked long-running
    (`geo_service.web.long_running`); unknown paths are not (they answer 404 at once)."""
    adapter = app.url_map.bind("localhost")

    @lru_cache(maxsize=4096)
    def long_running(method: str, path: str) -> bool:
        try:
            endpoint, _ = adapter.match(unquote(path, encoding="latin-1"), method)
        except Exception:  # 404, 405, a redirect: answered at once
            return False
        return bool(getattr(app.view_functions.get(endpoint), "long_running", False))

    return long_running


def _peek(client: socket.socket) -> bytes | None:
    """The request's bytes received so far, left in the socket for the parser; None if
    none have come yet. (Non-blocking: on a socket with a timeout, Python would wait out
    the timeout even for MSG_DONTWAIT.)"""
    client.setblocking(False)
    for wait in (0.0, FIRST_BYTES_S):
        if wait and not select.select([client], [], [], wait)[0]:
            break
        try:
            return client.recv(PEEK_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            return b""
    return None


def _await_whole(client: socket.socket) -> bytes | None:
    """The request's bytes once it has fully arrived, waiting at most `FULL_LANE_WAIT_S`;
    what has come by then otherwise."""
    head = _peek(client)
    for _ in range(int(FULL_LANE_WAIT_S / FIRST_BYTES_S)):
        if arrived(head) is not None:
            break
        time.sleep(FIRST_BYTES_S)
        head = _peek(client)
    return head


def _close(client: socket.socket) -> None:
    """Close now; gracefully (draining, as gunicorn does) only if the client sent more
    than its request, whose unread bytes would turn the close into a reset."""
    try:
        client.setblocking(False)
        unread = client.recv(1, socket.MSG_PEEK)
    except OSError:  # nothing to read (or gone already)
        unread = b""
    if unread:
        util.close_graceful(client)
    else:
        util.close(client)


def _busy(client: socket.socket) -> None:
    """Answer 503 in the one error shape, without reading the request: every lane thread
    of this worker is taken."""
    err = Unavailable("this server process is answering its most long-running requests "
                      "and event streams; try again shortly")
    body = json.dumps(err.to_dict()).encode()
    head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: 5\r\nConnection: close\r\n\r\n")
    try:
        client.settimeout(1.0)
        client.sendall(head.encode() + body)
    except OSError:
        pass
    finally:
        client.close()


class LaneWorker(SyncWorker):
    """gunicorn's sync worker with a lane of threads beside it.

    A request that has fully arrived is answered on the worker's own thread exactly as the
    sync worker answers it: no hand-off between threads, so a lookup's tail is the sync
    worker's (BENCHMARKS.md: p99 6.4 ms there, 20-25 ms under gthread workers, whose every
    request crosses two threads). A request that would hold that thread (`wants_lane`)
    runs on a thread of its own, at most `threads` at once; past that it gets a 503.
    """

    def init_process(self) -> None:
        self.lane = threading.BoundedSemaphore(max(self.cfg.threads, 1))
        self.lane_threads: set[threading.Thread] = set()
        self._long: Callable[[str, str], bool] | None = None
        super().init_process()

    def handle(self, listener, client, addr) -> None:
        if self._long is None:
            self._long = long_views(self.wsgi)
        head = _peek(client)
        lane = wants_lane(head, self._long) or self.cfg.is_ssl
        if lane and not self.lane.acquire(blocking=False):
            # Every lane thread is taken. A request only slow to arrive (on a loaded
            # machine clients' sends come late) may still come whole within moments and
            # be answered here; streams, long views and clients that stay slow get a 503.
            if self.cfg.is_ssl or wants_lane(_await_whole(client), self._long):
                _busy(client)
                return
            lane = False
        client.settimeout(IO_TIMEOUT_S)
        if not lane:
            self._answer(listener, client, addr)
            return
        thread = threading.Thread(target=self._in_lane, args=(listener, client, addr),
                                  name="lane", daemon=True)
        self.lane_threads.add(thread)
        thread.start()

    def _answer(self, listener, client, addr) -> None:
        """The sync worker's `handle`, closing without lingering: the whole request has
        been read, so the close cannot become a reset that cuts the answer short, and the
        worker need not sit idle until the client's FIN comes back (gunicorn's graceful
        close waits for it: a round trip per request, milliseconds on a busy machine)."""
        req = None
        try:
            req = next(http.get_parser(self.cfg, client, addr))
            self.handle_request(listener, req, client, addr)
        except (http.errors.NoMoreData, StopIteration):
            pass
        except OSError as e:
            if e.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                self.log.exception("Socket error processing request.")
        except BaseException as e:
            self.handle_error(req, client, addr, e)
        finally:
            _close(client)

    def _in_lane(self, listener, client, addr) -> None:
        try:
            super().handle(listener, client, addr)
        finally:
            self.lane_threads.discard(threading.current_thread())
            self.lane.release()

    def run(self) -> None:
        """Serve; once stopping, let the lane's requests finish within the graceful
        timeout (a publish in flight completes; streams were ended on SIGTERM)."""
        super().run()
        deadline = time.monotonic() + self.cfg.graceful_timeout
        for thread in list(self.lane_threads):
            while thread.is_alive() and time.monotonic() < deadline:
                self.notify()
                thread.join(0.5)


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
    """How many event streams one worker with `threads` lane threads holds: all but a
    reserve of an eighth (at least 4) that stays free for long requests and slow clients;
    none with a lane of one."""
    return 0 if threads <= 1 else max(threads - max(4, threads // 8), 0)


def serve(app: Flask, host: str, port: int) -> None:
    """gunicorn, one worker process per core (lookups are CPU-bound and hold the GIL, so
    processes, not threads, use the cores), each with a lane of `THREADS` threads for the
    open event streams and the long requests. `app` is made in the master, migrated there
    once, before the fork."""
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
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # see spawn_worker

    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "geo_service.serving.LaneWorker",
        "post_fork": post_fork,
        "post_worker_init": post_worker_init,
        "accesslog": None,
        # gunicorn's control socket is one path per user (~/.gunicorn/gunicorn.ctl): a
        # second instance on the machine would take over the first one's. Unused here.
        "control_socket_disable": True,
        # Above the app's own limits, so clients get its JSON 414/431; only requests past
        # these (gunicorn caps the request line at 8190 bytes) get gunicorn's plain text.
        "limit_request_line": min(2 * MAX_URL_BYTES, 8190),
        "limit_request_field_size": 2 * MAX_HEADER_BYTES,
        "limit_request_fields": 2 * MAX_HEADERS,
    }
    runner = _Gunicorn(options, app)
    print(f"geo-service listening on http://{host}:{port}/", flush=True)
    runner.run()
