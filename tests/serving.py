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

from .pgcluster import free_port


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
