"""Finding reports: filters, the area scope, cursor paging, and what each role sees."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from boundaries.levels import LEVELS
from geo_service.cases.model import (
    ACTIVE,
    CLASSES,
    LEVEL_COLUMN,
    OPEN,
    STATES,
    SUBTYPES,
    allowed_actions,
)
from geo_service.cases.records import history, home_area, require_report, utc_times
from geo_service.errors import Invalid, NotFound
from geo_service.inputs import parse_time, whole_number
from geo_service.privacy import PII_ROLES, mask_name, mask_phone
from geo_service.scope import Scope
from geo_service.store.tables import reports
from geo_service.versions import VersionIndex

MAX_PAGE = 500


@dataclass(frozen=True)
class ReportFilter:
    """What a list of reports is limited to; every field optional."""

    area: str | None = None
    statuses: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    subtypes: tuple[str, ...] = ()
    overdue: bool | None = None
    owner_level: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None
    after: int | None = None  # cursor: the seq of the last report of the previous page
    limit: int = 100
    offset: int = 0  # page numbers (Open311's paging extension); the cursor is cheaper


def _list(raw: str, field: str, choices: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    values = tuple(v for v in raw.split(",") if v)
    if not values:
        raise Invalid(f"{field} is empty; give one or more of {', '.join(choices)}", field,
                      code="invalid_choice")
    for v in values:
        if v not in choices:
            raise Invalid(f"unknown {field} {v[:40]!r}; expected one of {', '.join(choices)}",
                          field, code="invalid_choice")
    return values


_PARAMS = frozenset({"area", "status", "class", "subtype", "overdue", "level", "since", "until",
                     "bbox", "cursor", "limit"})


def read_filter(args: dict[str, str]) -> ReportFilter:
    """A filter from query parameters (`area`, `status` (or `open`), `class`, `subtype`,
    `overdue`, `level`, `since`, `until`, `bbox`, `cursor`, `limit`); 400 naming the
    parameter that is wrong."""
    unknown = sorted(set(args) - _PARAMS)
    if unknown:
        raise Invalid(f"unknown parameter {unknown[0][:40]!r}; filters: "
                      f"{', '.join(sorted(_PARAMS))}", unknown[0][:40], code="unknown_parameter")
    kw: dict[str, Any] = {}
    if "area" in args:
        if not args["area"]:
            raise Invalid("area is empty; give an area code", "area", code="invalid_area")
        kw["area"] = args["area"]
    if "status" in args:
        statuses = _list(args["status"], "status", (*STATES, "open", "active"))
        expanded = set(statuses) - {"open", "active"}
        expanded |= OPEN if "open" in statuses else set()
        expanded |= ACTIVE if "active" in statuses else set()
        kw["statuses"] = tuple(sorted(expanded))
    if "class" in args:
        kw["classes"] = _list(args["class"], "class", CLASSES)
    if "subtype" in args:
        kw["subtypes"] = _list(args["subtype"], "subtype", list(SUBTYPES))
    if "overdue" in args:
        if args["overdue"] not in ("true", "false"):
            raise Invalid("overdue must be true or false", "overdue", code="invalid_choice")
        kw["overdue"] = args["overdue"] == "true"
    if "level" in args:
        if args["level"] not in LEVELS[:5]:
            raise Invalid(f"level must be one of {', '.join(LEVELS[:5])}", "level",
                          code="invalid_choice")
        kw["owner_level"] = args["level"]
    for key in ("since", "until"):
        if key in args:
            kw[key] = parse_time(args[key], key)
    if kw.get("since") and kw.get("until") and kw["since"] > kw["until"]:
        raise Invalid("since must not be after until", "since", code="invalid_window")
    if "bbox" in args:
        kw["bbox"] = read_bbox(args["bbox"])
    if "cursor" in args:
        kw["after"] = whole_number(args, "cursor", 1, 2**31 - 1)
    if "limit" in args:
        kw["limit"] = whole_number(args, "limit", 1, MAX_PAGE)
    return ReportFilter(**kw)


def read_bbox(raw: str) -> tuple[float, float, float, float]:
    """`minlon,minlat,maxlon,maxlat` in WGS84."""
    try:
        parts = [float(p) for p in raw.split(",") if p.isascii()]
    except ValueError:
        parts = []
    if len(parts) != 4 or not all(map(math.isfinite, parts)):
        raise Invalid("bbox must be minlon,minlat,maxlon,maxlat in WGS84 degrees", "bbox",
                      code="invalid_bbox")
    x0, y0, x1, y1 = parts
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise Invalid("bbox must be minlon,minlat,maxlon,maxlat with min ≤ max, longitudes "
                      "within ±180 and latitudes within ±90", "bbox", code="invalid_bbox")
    return x0, y0, x1, y1


def area_condition(vi: VersionIndex, code: str) -> sa.ColumnElement[bool]:
    """Reports in area `code` or below it: one indexed equality on its level's column."""
    level = vi.area(code).level
    return reports.c[LEVEL_COLUMN[level]] == code


def scoped(vi: VersionIndex, scope: Scope, area: str | None) -> list[sa.ColumnElement[bool]]:
    """The conditions the scope policy and an `area` filter put on any query of reports
    (403 `out_of_scope` for an area outside the scope)."""
    conds = []
    if area is not None:
        scope.require(vi, vi.area(area).code, "area")
        conds.append(area_condition(vi, area))
    if scope.area is not None:
        conds.append(area_condition(vi, scope.area))
    return conds


def find_reports(conn: sa.Connection, vi: VersionIndex, f: ReportFilter, *, scope: Scope,
                 now: datetime) -> tuple[list[dict[str, Any]], int | None]:
    """A page of reports, newest first, and the cursor of the next page (None: last)."""
    c = reports.c
    conds = scoped(vi, scope, f.area)
    if f.statuses:
        conds.append(c.status.in_(f.statuses))
    if f.classes:
        conds.append(c["class"].in_(f.classes))
    if f.subtypes:
        conds.append(c.subtype.in_(f.subtypes))
    if f.overdue is not None:
        late = sa.and_(c.status.in_(sorted(ACTIVE)), c.due_at < now)
        conds.append(late if f.overdue else sa.not_(late))
    if f.owner_level:
        conds.append(c.owner_level == f.owner_level)
    if f.since:
        conds.append(c.received_at >= f.since)
    if f.until:
        conds.append(c.received_at < f.until)
    if f.bbox:
        x0, y0, x1, y1 = f.bbox
        conds += [c.lon.between(x0, x1), c.lat.between(y0, y1)]
    if f.after:
        conds.append(c.seq < f.after)
    rows = [utc_times(dict(r._mapping)) for r in conn.execute(
        sa.select(reports).where(*conds).order_by(c.seq.desc()).limit(f.limit + 1)
        .offset(f.offset or None))]
    more = len(rows) > f.limit
    rows = rows[:f.limit]
    return rows, rows[-1]["seq"] if more and rows else None


def get_report(conn: sa.Connection, vi: VersionIndex, report_id: str, *, scope: Scope
               ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One report and its whole history; outside the scope it does not exist (404), so a
    scoped token cannot even learn that an id is taken."""
    row = require_report(conn, report_id)
    if not scope.covers(vi, home_area(row)):
        raise NotFound(f"no report {report_id[:40]!r}", "id", code="unknown_report")
    return row, history(conn, row["seq"])


def _brief(vi: VersionIndex, code: str | None) -> dict[str, Any] | None:
    if code is None:
        return None
    info = vi.areas.get(code)
    return {"code": code, "name": info.name if info else None}


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def report_view(vi: VersionIndex, row: dict[str, Any], role: str, now: datetime
                ) -> dict[str, Any]:
    """A report as `role` may see it: a citizen reporter's name and phone in full only
    for admin and dispatcher (`privacy.PII_ROLES`)."""
    name, phone = row["reporter_name"], row["reporter_phone"]
    if role not in PII_ROLES:
        name, phone = mask_name(name), mask_phone(phone)
    chain = [{"level": lv, "code": row[col], "name": (vi.areas.get(row[col]) or
                                                      _NO_NAME).name}
             for lv, col in LEVEL_COLUMN.items() if row[col] and lv != "group"]
    return {
        "id": row["id"], "class": row["class"], "subtype": row["subtype"],
        "severity": row["severity"], "description": row["description"],
        "channel": row["channel"], "lon": row["lon"], "lat": row["lat"],
        "status": row["status"], "version": row["version"],
        "occurred_at": _iso(row["occurred_at"]), "received_at": _iso(row["received_at"]),
        "updated_at": _iso(row["updated_at"]), "due_at": _iso(row["due_at"]),
        "overdue": row["status"] in ACTIVE and row["due_at"] < now,
        "owner": {"level": row["owner_level"], **_brief(vi, row["owner_code"])},
        "grid": _brief(vi, row["grid_code"]), "group": _brief(vi, row["group_code"]),
        "chain": chain[::-1], "outside": row["outside"], "nearest_m": row["nearest_m"],
        "boundary_version": row["boundary_version"], "escalations": row["escalations"],
        "assigned_worker": row["assigned_worker"],
        "reporter": {"worker": row["reporter_worker"], "name": name, "phone": phone},
        "media_urls": row["media_urls"],
        "suggested_duplicate_of": row["suggested_duplicate_of"],
        "merged_into": row["merged_into"],
        "accepted_at": _iso(row["accepted_at"]), "closed_at": _iso(row["closed_at"]),
        "allowed_actions": allowed_actions(row["status"], role),
    }


class _NoName:
    name = None


_NO_NAME = _NoName()


def step_view(step: dict[str, Any]) -> dict[str, Any]:
    return {**step, "at": step["at"].isoformat()}


def as_feature(view: dict[str, Any]) -> dict[str, Any]:
    """A report as a GeoJSON Feature (for maps)."""
    props = {k: v for k, v in view.items() if k not in ("lon", "lat")}
    return {"type": "Feature", "id": view["id"], "properties": props,
            "geometry": {"type": "Point", "coordinates": [view["lon"], view["lat"]]}}
