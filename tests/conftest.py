"""Fixtures: the app on a real SQLite file and on a real PostGIS, the tiny prefecture,
tokens per role.

PostGIS tests run when Debian's postgresql + postgis are installed (a throwaway cluster is
started) or GEO_TEST_POSTGRES_URL points at a server; otherwise they are skipped with a
message saying how to run them — except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from geo_service.app import create_app, services
from geo_service.auth import ROLES, create_token
from geo_service.store.uow import unit_of_work
from geo_service.versions import (
    ImportRefused,
    ImportResult,
    create_draft,
    import_areas,
    publish,
    stage_level,
)

from . import pgcluster
from .tiny import tiny_areas

_counter = itertools.count()


@pytest.fixture(scope="session")
def full_demo():
    """The full Gannan demo, built once per session (the expensive part)."""
    from boundaries.synthetic import build_demo

    return build_demo()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    url = os.environ.get("GEO_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    reason = pgcluster.available()
    if reason:
        msg = f"PostGIS tests not run: {reason}; {pgcluster.HOW_TO}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    with pgcluster.cluster() as url:
        yield url


def _fresh_postgres(server_url: str) -> str:
    name = f"geo_test_{os.getpid()}_{next(_counter)}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'geo.sqlite3'}"
    return _fresh_postgres(request.getfixturevalue("postgres_server"))


@pytest.fixture
def app(db_url: str):
    app = create_app({"DATABASE_URL": db_url, "INDEX_REFRESH_S": 0.0, "ROSTER_REFRESH_S": 0.0,
                      "TOKEN_CACHE_S": 0.0},
                     migrate=True)
    app.config["TESTING"] = True
    yield app
    services(app).close()


@pytest.fixture
def engine(app) -> sa.Engine:
    return services(app).engine


def load_tiny(engine: sa.Engine) -> int:
    """Publish the tiny prefecture as one version; returns its id."""
    areas = tiny_areas()
    with engine.begin() as conn:
        draft = create_draft(conn, "test", "tiny prefecture")
        for level in ("prefecture", "county", "township", "village", "grid", "group"):
            result = stage_level(conn, draft, areas[areas.level == level], level,
                                 tolerance_m=5.0)
            assert result.report.ok, result.report.summary()
        publish(conn, draft, "test")
    return draft


def import_now(engine: sa.Engine, source, level: str, *, dry_run: bool = False,
               author: str = "t", **kw) -> ImportResult:
    """One import in its own unit of work (rolled back for a dry run); a refused import's
    result instead of the exception."""
    try:
        with unit_of_work(engine, commit=not dry_run) as uow:
            result = import_areas(uow.conn, source, level, author=author, **kw)
    except ImportRefused as refused:
        return refused.result
    if dry_run:
        result.written, result.version = False, None
    return result


@pytest.fixture
def tiny(engine: sa.Engine) -> int:
    return load_tiny(engine)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(engine: sa.Engine, tiny: int) -> dict[str, str]:
    """A token per role on the tiny prefecture; the worker's (always scoped) covers it all."""
    with engine.begin() as conn:
        return {role: create_token(conn, name=f"test-{role}", role=role,
                                   area_code="900000" if role == "worker" else None)
                for role in ROLES}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
