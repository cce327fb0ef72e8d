"""Report intake: read a report as sent, place it in the tree, and store it once.

A report carries the client's own UUID. Storing it is idempotent: the same id with the
same content answers the stored report again (however late the retry), the same id with
other content is a 409. The lookup index places the report (grid, group and the whole
chain) before the write (`prepare_report`), and the insert, its first step and its event
are one transaction (`store_report`); a report in no grid is kept and routed to the
nearest grid's township, flagged `outside`.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from geo_service.auth import Principal
from geo_service.cases.duplicates import suggest_duplicate
from geo_service.cases.model import CHANNELS, SEVERITIES, SUBTYPES, rank
from geo_service.cases.records import home_area, insert_new_report, record_step, report_row
from geo_service.cases.sla import due_at, local_day
from geo_service.errors import Conflict, Invalid, Unprocessable
from geo_service.events import ReportCreated
from geo_service.inputs import finite, parse_time
from geo_service.lookup import check_point, parse_crs
from geo_service.scope import Scope
from geo_service.versions import VersionIndex

MAX_DESCRIPTION = 4000
MAX_MEDIA = 10
# A report in no grid is routed to the nearest grid's township, if one lies this close; a
# point farther away is a broken position (null island), not a case of ours.
OUTSIDE_MAX_M = 50_000.0
_FIELDS = frozenset({"id", "class", "subtype", "severity", "description", "lon", "lat", "crs",
                     "occurred_at", "channel", "reporter", "media_urls"})


@dataclass(frozen=True)
class NewReport:
    """A report as read from the client, checked, before it is placed."""

    id: str
    report_class: str
    subtype: str
    severity: str
    description: str
    x: float
    y: float
    crs: str
    occurred_at: datetime
    channel: str
    reporter_name: str
    reporter_phone: str
    media_urls: tuple[str, ...]

    def content_hash(self, reporter_worker: str | None) -> str:
        """What a retry must repeat exactly (everything but the id)."""
        content = [self.report_class, self.subtype, self.severity, self.description,
                   self.x, self.y, self.crs, self.occurred_at.astimezone(UTC).isoformat(),
                   self.channel, self.reporter_name, self.reporter_phone,
                   list(self.media_urls), reporter_worker]
        return hashlib.sha256(orjson.dumps(content)).hexdigest()


def _text(body: dict[str, Any], key: str, *, limit: int, required: bool = True,
          default: str = "", field: str | None = None) -> str:
    value = body.get(key)
    key = field or key
    if value is None:
        if required:
            raise Invalid(f"{key} is required", key, code="missing")
        return default
    if not isinstance(value, str):
        raise Invalid(f"{key} must be a string", key, code="invalid_type")
    if len(value) > limit:
        raise Invalid(f"{key} is {len(value)} characters long; the limit is {limit}", key,
                      code="too_long")
    if "\x00" in value:  # PostgreSQL cannot store it, and no person typed it
        raise Invalid(f"{key} contains a NUL character", key, code="invalid_text")
    return value


def _choice(body: dict[str, Any], key: str, choices: tuple[str, ...] | list[str],
            default: str | None = None) -> str:
    value = body.get(key, default)
    if value is None:
        raise Invalid(f"{key} is required; one of {', '.join(choices)}", key, code="missing")
    if value not in choices:
        shown = repr(value)[:40]
        raise Invalid(f"unknown {key} {shown}; expected one of {', '.join(choices)}", key,
                      code="invalid_choice")
    return value


def _number(body: dict[str, Any], key: str) -> float:
    value = body.get(key)
    if value is None:
        raise Invalid(f"{key} is required", key, code="missing")
    return finite(value, key)


def read_report(body: Any, *, now: datetime, skew_s: float) -> NewReport:
    """Check a report as sent; 400 naming the field for anything wrong. Geometry is
    checked later, against the index (`place`)."""
    if not isinstance(body, dict):
        raise Invalid("expected a JSON object describing one report", "body",
                      code="invalid_body")
    extra = sorted(set(body) - _FIELDS)
    if extra:
        raise Invalid(f"unknown field {extra[0]!r}; a report has {', '.join(sorted(_FIELDS))}",
                      extra[0], code="unknown_field")
    rid = body.get("id")
    try:
        if not isinstance(rid, str) or len(rid) != 36:
            raise ValueError
        rid = str(uuid.UUID(rid))
    except ValueError:
        raise Invalid("id must be a UUID the client generated (e.g. uuid4), written "
                      "8-4-4-4-12", "id", code="invalid_id") from None
    subtype = _choice(body, "subtype", list(SUBTYPES))
    report_class = body.get("class", SUBTYPES[subtype])
    if report_class != SUBTYPES[subtype]:
        raise Invalid(f"subtype {subtype} belongs to class {SUBTYPES[subtype]}, not "
                      f"{repr(report_class)[:40]}", "class", code="invalid_class")
    description = _text(body, "description", limit=MAX_DESCRIPTION)
    if not description.strip():
        raise Invalid("description is empty; say what happened", "description",
                      code="missing")
    occurred = parse_time(body.get("occurred_at"), "occurred_at")
    if occurred - now > timedelta(seconds=skew_s):
        raise Invalid(f"occurred_at {body['occurred_at']} is in the future (more than "
                      f"{skew_s:g} s ahead of the server's clock)", "occurred_at",
                      code="future_time")
    reporter = body.get("reporter", {})
    if not isinstance(reporter, dict) or set(reporter) - {"name", "phone"}:
        raise Invalid("reporter must be an object with name and phone", "reporter",
                      code="invalid_type")
    media = body.get("media_urls") or []
    if not isinstance(media, list) or len(media) > MAX_MEDIA or not all(
            isinstance(u, str) and u.startswith(("https://", "http://")) and len(u) <= 2000
            and u.isprintable() for u in media):
        raise Invalid(f"media_urls must be a list of at most {MAX_MEDIA} http(s) URLs",
                      "media_urls", code="invalid_media")
    return NewReport(
        id=rid, report_class=report_class, subtype=subtype,
        severity=_choice(body, "severity", SEVERITIES, "normal"), description=description,
        x=_number(body, "lon"), y=_number(body, "lat"), crs=parse_crs(body.get("crs")),
        occurred_at=occurred, channel=_choice(body, "channel", CHANNELS, "app"),
        reporter_name=_text(reporter, "name", limit=100, required=False,
                            field="reporter.name"),
        reporter_phone=_text(reporter, "phone", limit=32, required=False,
                             field="reporter.phone"),
        media_urls=tuple(media))


@dataclass(frozen=True)
class Placement:
    lon: float
    lat: float
    codes: dict[str, str]  # level -> code, from the prefecture down to the grid (or township)
    owner_level: str
    outside: bool
    nearest_m: float | None


def place(vi: VersionIndex, x: float, y: float, crs: str, scope: Scope) -> Placement:
    """Where a report lies: its grid, group and chain; or, in no grid, the township of the
    nearest grid. 422 for coordinates out of range or swapped; 403 outside the scope."""
    lon, lat = check_point(vi, x, y, crs)
    pos = vi.grids.assign_one(lon, lat)
    nearest_m = None
    if pos >= 0:
        grid = str(vi.grids.codes[pos])
        codes = {a.level: a.code for a in vi.chain(grid)}
        gpos = vi.groups.assign_one(lon, lat)
        if gpos >= 0:
            group = str(vi.groups.codes[gpos])
            if vi.areas[group].parent_code == grid:
                codes["group"] = group
        owner, outside = "grid", False
    else:
        near, nearest_m = vi.grids.nearest(lon, lat)
        if near < 0 or nearest_m > OUTSIDE_MAX_M:
            raise Unprocessable(f"no grid within {OUTSIDE_MAX_M / 1000:g} km of this point "
                                "(a broken position such as 0, 0?): it is not ours to route",
                                "lon", code="no_grid")
        codes = {a.level: a.code for a in vi.chain(str(vi.grids.codes[near]))
                 if rank(a.level) <= rank("township")}
        owner, outside = max(codes, key=rank), True  # the township, as deep as it goes
    if not scope.covers(vi, codes[owner]):
        raise scope.refusal("lon")
    return Placement(lon, lat, codes, owner, outside, nearest_m)


def stored_report(conn: sa.Connection, vi: VersionIndex, new: NewReport, *,
                  actor: Principal, scope: Scope) -> dict[str, Any] | None:
    """The report already stored under the id of `new` (a retry: answered again), or None.
    409 `id_reused` when the id holds other content."""
    existing = report_row(conn, new.id)
    if existing is None:
        return None
    if existing["content_hash"] != new.content_hash(actor.worker_code):
        raise Conflict(f"report {new.id} was already received with other content; "
                       "a new report needs a new id", "id", code="id_reused")
    if not scope.covers(vi, home_area(existing)):
        raise scope.refusal("id")
    return existing


def prepare_report(conn: sa.Connection, vi: VersionIndex, new: NewReport, *,
                   actor: Principal, scope: Scope, settings: dict[str, Any],
                   now: datetime) -> dict[str, Any]:
    """The row a new report is stored as: placed in its grid and chain, with its suggested
    duplicate. Only reads, so it needs no write lock (on SQLite the one writer's)."""
    at = place(vi, new.x, new.y, new.crs, scope)
    return {
        "id": new.id, "content_hash": new.content_hash(actor.worker_code),
        "class": new.report_class,
        "subtype": new.subtype, "severity": new.severity, "description": new.description,
        "channel": new.channel, "lon": at.lon, "lat": at.lat,
        "occurred_at": new.occurred_at.astimezone(UTC), "received_at": now,
        "received_day": local_day(now, settings["TIMEZONE"]), "updated_at": now,
        "status": "reported", "version": 1, "owner_level": at.owner_level,
        "owner_code": at.codes[at.owner_level],
        **{f"{level}_code": code for level, code in at.codes.items()},
        "outside": at.outside, "nearest_m": at.nearest_m, "boundary_version": vi.version,
        "due_at": due_at(settings, new.report_class, new.severity, now),
        "escalations": 0, "peak_rank": rank(at.owner_level),
        "reporter_worker": actor.worker_code, "reporter_name": new.reporter_name,
        "reporter_phone": new.reporter_phone, "media_urls": list(new.media_urls),
        "suggested_duplicate_of": suggest_duplicate(
            conn, new.subtype, at.lon, at.lat, new.occurred_at.astimezone(UTC), settings),
    }


class IdTaken(Exception):
    """The id was free when checked, and a concurrent first delivery of it committed
    before this one could insert (PostgreSQL): run the submission again, which reads it."""


def store_report(conn: sa.Connection, row: dict[str, Any], *, actor: Principal,
                 now: datetime) -> dict[str, Any] | None:
    """Insert a prepared report with its first step and event: the stored row; or None,
    writing nothing, when a report already holds its id (a retry, or a concurrent first
    delivery): `stored_report` reads that one."""
    stored = insert_new_report(conn, row)
    if stored is None:
        return None
    note = ("outside every grid: routed to the nearest grid's township" if stored["outside"]
            else "")
    record_step(conn, stored, ReportCreated, actor=actor.name, action="report",
                previous=None, now=now, note=note)
    return stored


def submit_report(conn: sa.Connection, vi: VersionIndex, new: NewReport, *,
                  actor: Principal, scope: Scope, settings: dict[str, Any],
                  now: datetime) -> tuple[dict[str, Any], bool]:
    """Store a checked report, or find the one stored under its id: (row, created), in
    the caller's one transaction. 409 `id_reused` when the id holds other content;
    `IdTaken` when a concurrent delivery stored it meanwhile.

    (The API's intake runs the same steps with the reads outside the write transaction:
    `web.reports.submit`.)"""
    existing = stored_report(conn, vi, new, actor=actor, scope=scope)
    if existing is not None:
        return existing, False
    row = prepare_report(conn, vi, new, actor=actor, scope=scope, settings=settings, now=now)
    stored = store_report(conn, row, actor=actor, now=now)
    if stored is None:
        raise IdTaken(new.id)
    return stored, True
