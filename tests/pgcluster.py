"""A throwaway PostgreSQL + PostGIS cluster on 127.0.0.1 for the PostGIS half of the suite.

Uses Debian's `postgresql` and `postgis` packages (installed by `.ci/run`, or by hand with
`apt-get install postgresql postgis`). Runs as a non-root user because PostgreSQL refuses
root, on a free non-default port, in a temporary directory removed afterwards.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

HOW_TO = (
    "install Debian's packages (apt-get install postgresql postgis) so the suite starts a "
    "throwaway cluster, or set GEO_TEST_POSTGRES_URL=postgresql+psycopg://user:pw@host:port/db"
)


def _bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def _has_postgis() -> bool:
    return bool(glob.glob("/usr/share/postgresql/*/extension/postgis.control"))


def available() -> str | None:
    """None when a cluster can be started here, else the reason it cannot."""
    if _bindir() is None:
        return "PostgreSQL server binaries not found"
    if not _has_postgis():
        return "PostGIS extension not installed"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user(user: str | None) -> dict:
    if user is None:
        return {}
    pw = pwd.getpwnam(user)
    return {"user": pw.pw_uid, "group": pw.pw_gid}


@contextmanager
def cluster() -> Iterator[str]:
    """Start a cluster, create a database with PostGIS, yield its SQLAlchemy URL."""
    bindir = _bindir()
    assert bindir, available()
    user = "postgres" if os.geteuid() == 0 else None
    run_as = _as_user(user)
    tmp = tempfile.mkdtemp(prefix="geo-pg-")
    os.chmod(tmp, 0o755)
    data = os.path.join(tmp, "data")
    if run_as:
        os.chown(tmp, run_as["user"], run_as["group"])
    port = free_port()
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    subprocess.run(
        [f"{bindir}/initdb", "-D", data, "-U", "geo", "-A", "trust", "-E", "UTF8"],
        check=True, capture_output=True, env=env, **run_as,
    )
    proc = subprocess.Popen(
        [f"{bindir}/postgres", "-D", data, "-p", str(port), "-h", "127.0.0.1",
         "-k", tmp, "-c", "fsync=off", "-c", "full_page_writes=off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, **run_as,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            ok = subprocess.run(
                [f"{bindir}/pg_isready", "-h", "127.0.0.1", "-p", str(port)],
                capture_output=True,
            ).returncode == 0
            if ok:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the throwaway PostgreSQL cluster did not start")
            time.sleep(0.2)
        subprocess.run(
            [f"{bindir}/psql", "-h", "127.0.0.1", "-p", str(port), "-U", "geo", "-d", "postgres",
             "-c", "CREATE DATABASE geo"],
            check=True, capture_output=True,
        )
        yield f"postgresql+psycopg://geo@127.0.0.1:{port}/geo"
    finally:
        proc.send_signal(signal.SIGINT)  # "fast" shutdown: don't wait for pooled clients
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
