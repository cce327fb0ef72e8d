"""The one table of settings: name, default, help. Each is read from `GEO_<NAME>`.

The README's settings table is checked against this one by a test, so a setting cannot
exist without being documented.
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    # Numbers must be finite and within these (inclusive): a start with a value outside
    # them is refused, e.g. a worker count that would fork the machine out of memory.
    lo: float = 0
    hi: float = math.inf

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
            "`near_boundary`.", lo=0, hi=10_000),
    Setting("IMPORT_TOLERANCE_M", 5.0,
            "How far (metres) a child area may stick out of its parent before an import "
            "reports it.", lo=0, hi=10_000),
    Setting("INDEX_REFRESH_S", 2.0,
            "How often (seconds) the service checks whether a new boundary version went "
            "live; its index is built in the background (once, by the `serve` master) "
            "while lookups answer from the old one.", lo=0, hi=86_400),
    Setting("ROSTER_REFRESH_S", 30.0,
            "How often (seconds) each process reloads who answers for each area (the "
            "people in a lookup answer), in the background.", lo=0, hi=86_400),
    Setting("TOKEN_CACHE_S", 2.0,
            "How long (seconds) a process trusts a token it checked: a revoked token stops "
            "working within this time.", lo=0, hi=3_600),
    Setting("VERSIONS_KEPT", 4,
            "How many earlier boundary versions (`version=`) each process keeps built; "
            "asking for another builds it in the background (503 `version_warming` "
            "meanwhile) and forgets the least recently used.", lo=1, hi=100),
    Setting("MAX_BATCH_POINTS", 100_000,
            "Most points one POST /lookup may carry; more get 413 `too_many_points`.",
            lo=1, hi=100_000),
    Setting("MAX_BODY_BYTES", 32 * 1024 * 1024,
            "Largest request body accepted; larger ones get 413.", lo=1024, hi=1_073_741_824),
    Setting("ACCESS_LOG", True, "Write one access-log line per request to stderr (method, "
            "path, status, milliseconds, token prefix; never a token, a query secret or a "
            "phone)."),
    Setting("WORKERS", 0, "gunicorn worker processes for `geo-service serve` (0: one per "
            "core: lookups are CPU-bound, and each extra process costs an index's memory "
            "and cache misses).", lo=0, hi=64),
    Setting("THREADS", 256, "Lane threads per gunicorn worker: requests that would hold the "
            "worker (an event stream, a long-running view such as a publish or an export, "
            "a client still sending) each take one; an eighth (at least 4) are kept from "
            "streams; when all are taken such requests get 503. 1: no event streams.",
            lo=1, hi=1024),
    *(Setting(f"SLA_{cls.upper()}_{sev.upper()}_H", hours,
              f"Hours the owning level has for {'an' if sev == 'urgent' else 'a'} {sev} {cls} "
              "case before it is overdue and the "
              "sweep escalates it one level (each level gets this again).", lo=0.01,
              hi=8_760)
      for cls, sev, hours in (("attention", "normal", 24.0), ("attention", "urgent", 2.0),
                              ("management", "normal", 72.0), ("management", "urgent", 6.0),
                              ("service", "normal", 120.0), ("service", "urgent", 12.0))),
    Setting("DUPLICATE_RADIUS_M", 150.0,
            "A new report of the same subtype within this many metres of an open one (and "
            "within `DUPLICATE_WINDOW_H`) is linked to it as a suggested duplicate (0: off).",
            lo=0, hi=100_000),
    Setting("DUPLICATE_WINDOW_H", 24.0,
            "The time window (hours, either side of `occurred_at`) for suggested duplicates.",
            lo=0, hi=8_760),
    Setting("CLOCK_SKEW_S", 300.0,
            "How far (seconds) a report's `occurred_at` may lie ahead of the server's clock "
            "(phones' clocks drift); later ones are refused.", lo=0, hi=86_400),
    Setting("TIMEZONE", "Asia/Shanghai",
            "The command center's time zone (IANA name): daily figures follow its days."),
    Setting("SWEEP_INTERVAL_S", 60.0,
            "How often (seconds) the server sweeps for overdue cases in the background "
            "(0: never; run `geo-service sweep` from cron instead).", lo=0, hi=86_400),
    Setting("STREAM_HEARTBEAT_S", 15.0,
            "Seconds between heartbeat comments on an idle event stream (keeps proxies from "
            "closing it).", lo=1, hi=3_600),
    Setting("STREAM_POLL_S", 0.25,
            "How often (seconds) each process's event hub reads new events from the outbox "
            "for its open streams (on PostgreSQL it also wakes at once on NOTIFY; polling "
            "stays as the safety net).", lo=0.01, hi=60),
    Setting("STREAM_MAX_S", 3_600.0,
            "Longest life (seconds) of one event stream; then it ends and the client "
            "reconnects with Last-Event-ID, losing nothing (spreads streams over fresh "
            "workers after restarts).", lo=0.1, hi=86_400),
    Setting("OPEN311_PUBLIC_READ", False,
            "Open311's read methods (services, requests) answer without an `api_key`, and "
            "then show no personal data."),
    Setting("MAX_FIXES", 1_000, "Most GPS fixes one POST /workers/{code}/positions may "
            "carry; more get 413.", lo=1, hi=100_000),
    Setting("STALE_MIN", 10.0, "An on-duty worker without a fix for this many minutes is "
            "`stale` (greyed on the wall, not dispatched).", lo=0.1, hi=1_440),
    Setting("OFFLINE_H", 2.0, "An on-duty worker without a fix for this many hours is "
            "`offline`.", lo=0.01, hi=720),
    Setting("MAX_ACCURACY_M", 200.0, "A fix whose reported accuracy is worse than this many "
            "metres is kept in the trail, flagged `inaccurate`, and not used as the current "
            "position.", lo=1, hi=100_000),
    Setting("MAX_SPEED_KMH", 150.0, "A fix that would mean moving faster than this from the "
            "current position is kept in the trail, flagged `too_fast`, and not used.",
            lo=1, hi=2_000),
    Setting("DWELL_S", 60.0, "A worker is \"in\" a grid after staying this many seconds "
            "(GPS jitter along a boundary does not flap).", lo=0, hi=86_400),
    Setting("PATROL_MAX_GAP_S", 900.0, "Time between two fixes counts as patrol only up to "
            "this many seconds (a phone that went silent is not patrolling).", lo=1,
            hi=86_400),
    Setting("TRAIL_DAYS", 30, "Days of GPS fixes kept; the sweep prunes older ones.",
            lo=1, hi=3_650),
    Setting("EVENT_DAYS", 30, "Days of events kept for streams to replay; the sweep prunes "
            "older ones (a stream resuming from before them gets a `reset` event).",
            lo=1, hi=3_650),
    Setting("BASEMAP_URL", "",
            "The wall's basemap: an XYZ tile URL (`http://tiles.local/{z}/{x}/{y}.png`) of a "
            "local tile server or Tianditu. Empty: no basemap, the grids on a plain dark "
            "background (nothing is fetched from outside the building)."),
    Setting("BASEMAP_ATTRIBUTION", "",
            "The attribution the basemap's licence asks for, shown on the wall."),
    Setting("BASEMAP_GCJ02", False,
            "The basemap's tiles are drawn in GCJ-02 (AMap/Tencent style): the wall shifts its "
            "overlays (stored in WGS84) onto them, and clicks back to WGS84."),
    Setting("WALL_MAX_CASES", 5_000,
            "Most open cases one wall keeps as markers (the newest); older ones are dropped "
            "so the page's memory stays flat.", lo=100, hi=100_000),
    Setting("IMPACT_MAX_FEATURES", 5_000,
            "Most moved points (households, open cases) one draft's impact preview draws on "
            "its map; the counts always cover everything.", lo=0, hi=100_000),
    Setting("DISPATCH_REFRESH_S", 1.0, "How old (seconds) a process's index of where workers "
            "are may be when a dispatcher asks for candidates; older, it first reads the "
            "positions that changed in any process since.", lo=0, hi=3_600),
    Setting("VISIT_RADIUS_M", 100.0, "A household visit is verified when the worker's fix "
            "at that time lies within this many metres of the household.", lo=1,
            hi=100_000),
    Setting("VISIT_FIX_WINDOW_S", 600.0, "Which fix places a visit: the worker's fix nearest "
            "in time to `visited_at`, within this many seconds either side (none: the visit "
            "is kept, unverified, `no_fix`).", lo=1, hi=86_400),
    *(Setting(f"CARE_{tag.upper()}_DAYS", days,
              f"A household tagged `{tag}` is overdue for a visit after this many days "
              "without a verified one (a household with several tags: the shortest).",
              lo=1, hi=365)
      for tag, days in (("elderly", 7), ("orphan", 7), ("disabled", 14),
                        ("low_income", 30))),
    Setting("CARE_OTHER_DAYS", 30, "The same for a care household none of whose tags has "
            "a setting of its own.", lo=1, hi=365),
    Setting("EDIT_SNAP_M", 2.0, "The boundary editor snaps a drawn vertex to a neighbour's "
            "vertex or edge within this many metres, so shared edges stay shared.", lo=0,
            hi=100),
    Setting("EDIT_MAX_VERTICES", 100_000, "Most vertices one geometry sent to the boundary "
            "editor may have; more get 413.", lo=4, hi=10_000_000),
)


class SettingsError(ValueError):
    """A setting that does not exist or cannot be read: the service refuses to start."""


_BY_NAME = {s.name: s for s in SETTINGS}
_ENV_IGNORED = ("GEO_TEST_",)  # the test suite's own variables


def _coerce(setting: Setting, raw: str) -> Any:
    kind = type(setting.default)
    if not raw.isascii():  # int("１０") is 10 to Python, not to an operator reading a file
        raise SettingsError(f"{setting.env}={raw!r} must be written in ASCII")
    if kind is bool:
        value = raw.strip().lower()
        if value not in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
            raise SettingsError(f"{setting.env}={raw!r} is not true or false")
        return value in ("1", "true", "yes", "on")
    try:
        return kind(raw)
    except ValueError:
        raise SettingsError(f"{setting.env}={raw!r} is not {_KINDS[kind]}") from None


_KINDS = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}


def _unknown(name: str, shown: str) -> SettingsError:
    near = difflib.get_close_matches(name, _BY_NAME, n=1)
    hint = f"; did you mean {shown.replace(name, near[0])!r}?" if near else ""
    return SettingsError(f"unknown setting {shown!r}{hint} (known: {', '.join(_BY_NAME)})")


def _fits(kind: type, value: Any) -> bool:
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


def _check(name: str, value: Any) -> Any:
    setting = _BY_NAME.get(name)
    if setting is None:
        raise _unknown(name, name)
    kind = type(setting.default)
    if not _fits(kind, value):
        raise SettingsError(f"setting {name} must be {_KINDS[kind]}, got {value!r}")
    if kind in (int, float) and not (math.isfinite(value)
                                     and setting.lo <= value <= setting.hi):
        lo, hi = (int(v) if math.isfinite(v) and v == int(v) else v
                  for v in (setting.lo, setting.hi))
        raise SettingsError(f"setting {name} must be a finite number from {lo} to {hi}, "
                            f"got {value!r}")
    if name == "TIMEZONE":
        try:
            ZoneInfo(value)
        except (ValueError, ZoneInfoNotFoundError):
            raise SettingsError(f"setting TIMEZONE must be an IANA time zone such as "
                                f"Asia/Shanghai, got {value!r}") from None
    return value


def load(overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
         ) -> dict[str, Any]:
    """Defaults, then `GEO_*` environment variables, then explicit overrides; anything
    unknown, unreadable or negative stops the start with a message naming it."""
    environ = os.environ if environ is None else environ
    stray = [k for k in environ if k.startswith("GEO_") and not k.startswith(_ENV_IGNORED)
             and k[4:] not in _BY_NAME]
    if stray:
        raise _unknown(stray[0][4:], stray[0])
    values = {}
    for s in SETTINGS:
        raw = environ.get(s.env)
        values[s.name] = s.default if raw is None else _check(s.name, _coerce(s, raw))
    for name, value in (overrides or {}).items():
        values[name] = _check(name, value)
    return values
