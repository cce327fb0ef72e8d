"""The one table of settings: name, default, help. Each is read from `GEO_<NAME>`.

The README's settings table is checked against this one by a test, so a setting cannot
exist without being documented.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str

    @property
    def env(self) -> str:
        return f"GEO_{self.name}"


SETTINGS: tuple[Setting, ...] = (
    Setting("DATABASE_URL", "",
            "SQLAlchemy URL of the store. Empty: the embedded SQLite file "
            "`instance/geo_service.sqlite3`. Production: "
            "`postgresql+psycopg://user:pw@host/db` (PostGIS)."),
    Setting("NEAR_BOUNDARY_M", 30.0,
            "A point closer than this many metres to another grid is flagged "
            "`near_boundary`."),
    Setting("IMPORT_TOLERANCE_M", 5.0,
            "How far (metres) a child area may stick out of its parent before an import "
            "reports it."),
    Setting("INDEX_REFRESH_S", 2.0,
            "How often (seconds) the service checks whether a new boundary version went "
            "live; its index is built in the background (once, by the `serve` master) "
            "while lookups answer from the old one."),
    Setting("ROSTER_REFRESH_S", 30.0,
            "How often (seconds) each process reloads who answers for each area (the "
            "people in a lookup answer), in the background."),
    Setting("MAX_BODY_BYTES", 32 * 1024 * 1024,
            "Largest request body accepted; larger ones get 413."),
    Setting("ACCESS_LOG", True, "Write one access-log line per request to stderr (method, "
            "path, status, milliseconds, token prefix; never a token, a query secret or a "
            "phone)."),
    Setting("WORKERS", 0, "gunicorn worker processes for `geo-service serve` (0: one per "
            "core: lookups are CPU-bound, and each extra process costs an index's memory "
            "and cache misses)."),
    Setting("THREADS", 1, "Threads per gunicorn worker (1: sync workers, steadiest for "
            "this CPU-bound service; more: gthread)."),
)


def _coerce(setting: Setting, raw: str) -> Any:
    kind = type(setting.default)
    if kind is bool:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return kind(raw)


def load(overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
         ) -> dict[str, Any]:
    """Defaults, then `GEO_*` environment variables, then explicit overrides."""
    environ = os.environ if environ is None else environ
    values = {}
    for s in SETTINGS:
        raw = environ.get(s.env)
        values[s.name] = s.default if raw is None else _coerce(s, raw)
    values.update(overrides or {})
    return values
