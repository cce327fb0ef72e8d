"""The one app factory, and the services each process holds (store, indexes, tokens, roster)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from geo_service import settings
from geo_service.auth import TokenCache
from geo_service.dispatch.live import LivePositions
from geo_service.index.cache import IndexCache
from geo_service.jobs.sweeper import Sweeper
from geo_service.live import Hub
from geo_service.lookup.roster import PeopleDirectory
from geo_service.settings import SettingsError
from geo_service.store.engine import check_current, make_engine, upgrade
from geo_service.web.jsonio import OrjsonProvider

_HERE = Path(__file__).resolve().parent
# The front end: package data in a wheel, `static/` beside the package in a checkout.
STATIC = _HERE / "static" if (_HERE / "static").is_dir() else _HERE.parent / "static"


@dataclass
class Services:
    """What every request needs, created once per process."""

    engine: sa.Engine
    settings: dict[str, Any]
    indexes: IndexCache
    tokens: TokenCache
    people: PeopleDirectory
    sweeper: Sweeper
    hub: Hub
    positions: LivePositions  # where workers are, for dispatch

    def close(self, timeout: float = 60.0) -> None:
        """End open event streams; let background builds, reloads and sweeps finish; then
        close the store's connections."""
        self.hub.close()
        self.hub.join(timeout)
        self.indexes.wait(timeout)
        self.people.settle(timeout)
        self.sweeper.settle(timeout)
        self.positions.settle(timeout)
        self.engine.dispose()


def create_app(config: dict[str, Any] | None = None, *, migrate: bool = False) -> Flask:
    """Build the app: settings (defaults < GEO_* env < `config`), store, index, blueprints.

    The schema is migrated only when asked (`migrate=True`: the CLI commands that write,
    `serve` before it forks, tests); otherwise it must already be at head, or this fails
    with `store.engine.SchemaNotCurrent` saying to run `geo-service migrate`, so workers started by
    `gunicorn app:app` never race each other migrating.
    """
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static",
                instance_path=str(Path.cwd() / "instance"))
    app.json = OrjsonProvider(app)
    values = settings.load(config)
    if not values["DATABASE_URL"]:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        values["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'geo_service.sqlite3'}"
    app.config.update(values, MAX_CONTENT_LENGTH=values["MAX_BODY_BYTES"])
    try:
        engine = make_engine(values["DATABASE_URL"])
        if migrate:
            upgrade(engine)
        else:
            check_current(engine)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, sa.exc.OperationalError) as err:
        raise SettingsError(f"GEO_DATABASE_URL: cannot open the store: "
                            f"{str(getattr(err, 'orig', None) or err).splitlines()[0]}"
                            ) from None
    app.extensions["geo"] = Services(
        engine=engine, settings=values,
        indexes=IndexCache(engine, values["INDEX_REFRESH_S"], values["NEAR_BOUNDARY_M"],
                           versions_kept=values["VERSIONS_KEPT"]),
        tokens=TokenCache(ttl=values["TOKEN_CACHE_S"]),
        people=PeopleDirectory(engine, ttl=values["ROSTER_REFRESH_S"]),
        sweeper=Sweeper(engine, values),
        hub=Hub(engine, values["STREAM_POLL_S"]),
        positions=LivePositions(engine, roster_s=values["ROSTER_REFRESH_S"]),
    )
    from geo_service.web import init_app

    init_app(app)
    return app


def services(app: Flask) -> Services:
    return app.extensions["geo"]
