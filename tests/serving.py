"""`geo-service serve` in a subprocess for the tests that need real gunicorn workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from geo_service.app import create_app, services
from geo_service.auth import create_token

from .conftest import load_tiny
from .pgcluster import free_port


def tiny_store(tmp_path: Path) -> tuple[str, sa.Engine, str]:
    """A SQLite file under `tmp_path` with the tiny prefecture live, for a server to serve:
    its URL, an engine on it (dispose it before serving) and a viewer's token."""
    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    engine = services(create_app({"DATABASE_URL": url}, migrate=True)).engine
    load_tiny(engine)
    with engine.begin() as conn:
        token = create_token(conn, name="serve", role="viewer")
    return url, engine, token


@contextmanager
def served(tmp_path: Path, url: str, **settings: str) -> Iterator[str]:
    """Serve the store at `url` with these GEO_* settings until the block ends; yields the
    API base URL once /health answers. Its output goes to a file, not a pipe: an
    undrained pipe fills with access-log lines and stalls the workers."""
    with server_process(tmp_path, url, **settings) as (base, _proc):
        yield base


@contextmanager
def server_process(tmp_path: Path, url: str, *, port: int | None = None, **settings: str
                   ) -> Iterator[tuple[str, subprocess.Popen]]:
    """`served`, also yielding the process, which leads its own process group: a test can
    kill the master and its workers at once (`os.killpg(proc.pid, SIGKILL)`). `port`: a
    restart on the port of an earlier server (a browser page's origin stays the same)."""
    port = port or free_port()
    env = {**os.environ, "GEO_DATABASE_URL": url,
           **{f"GEO_{k}": v for k, v in settings.items()}}
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "geo_service.cli", "serve", "--port",
                                 str(port)], env=env, cwd=tmp_path, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}/api/v1"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{base}/health", timeout=1).close()
                    break
                except OSError:
                    assert proc.poll() is None and time.monotonic() < deadline, \
                        log_path.read_text()
                    time.sleep(0.2)
            yield base, proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
