"""Visit coverage: the share of households visited per grid and ten-household group, and
the care households overdue for their visit.

Everything is aggregated in the database (one GROUP BY over households left-joined to
their last visit and last verified visit, `household_visits`, kept as visits arrive): the
demo has 206,400 households, and Python only adds up the groups' rows into grids.

Two counts per area: `visited` (any visit in the window) and `verified` (a visit the trail
confirms); the `share` is of verified visits, because an unverified one is a claim, and
the gap between the two is itself worth seeing.

A care household (non-empty `care_tags`) is overdue when its last verified visit is older
than its interval (`CARE_<TAG>_DAYS`, the shortest of its tags; `CARE_OTHER_DAYS` when
none of its tags has a setting), or when it never had one. Who may see the list of overdue
households is `privacy`'s decision (`CARE_ROLES`); everyone else gets the counts.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa

from geo_service.privacy import CARE_ROLES, person_view
from geo_service.scope import Scope
from geo_service.store.tables import household_visits, households
from geo_service.versions import VersionIndex
from geo_service.workers.queries import codes_below

h, hv = households.c, household_visits.c
_TZ = hv.last_visit_at.type


def care_intervals(settings: dict[str, Any]) -> list[tuple[str, int]]:
    """(tag, days) from the `CARE_<TAG>_DAYS` settings, shortest first."""
    found = [(k[5:-5].lower(), int(val)) for k, val in settings.items()
             if k.startswith("CARE_") and k.endswith("_DAYS") and k != "CARE_OTHER_DAYS"]
    return sorted(found, key=lambda t: (t[1], t[0]))


def interval_of(tags: list[str], settings: dict[str, Any]) -> int:
    """The visit interval (days) of a household with these care tags."""
    known = dict(care_intervals(settings))
    days = [known[t] for t in tags if t in known]
    return min(days) if days else int(settings["CARE_OTHER_DAYS"])


def _has(tag: str) -> sa.ColumnElement[bool]:
    escaped = tag.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return (sa.literal(";") + h.care_tags + sa.literal(";")).like(f"%;{escaped};%",
                                                                   escape="\\")


def _count(cond: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


def grids_in(vi: VersionIndex, scope: Scope, area: str | None) -> list[str] | None:
    """The grids inside `area` and the scope (None: every grid; a group's: its grid); 403
    for an area outside the scope, 404 for an unknown one."""
    if area is not None:
        info = vi.area(area)
        scope.require(vi, info.code, "area")
        if info.level == "group":
            return [info.parent_code] if info.parent_code else []
    top = area or scope.area
    if top is None:
        return None
    below = codes_below(vi, top)
    return sorted(c for c in below if vi.areas[c].level == "grid")


def _group(vi: VersionIndex, area: str | None) -> str | None:
    """`area` when it is a ten-household group (coverage then counts its households)."""
    return area if area is not None and vi.area(area).level == "group" else None


class _Figures(NamedTuple):
    """The conditions coverage and the stats share, over households joined to their last
    visits (`source`)."""

    source: Any
    where: Any
    seen: Any  # any visit since the window's start
    confirmed: Any  # a verified visit since then
    care: Any
    overdue: Any


def _figures(grids: list[str] | None, *, since: datetime, now: datetime,
             settings: dict[str, Any], group: str | None = None) -> _Figures:
    cutoff = sa.case(*[(_has(tag), sa.literal(now - timedelta(days=d), _TZ))
                       for tag, d in care_intervals(settings)],
                     else_=sa.literal(now - timedelta(days=settings["CARE_OTHER_DAYS"]), _TZ))
    care = h.care_tags != ""
    where = h.grid_code.in_(grids) if grids is not None else h.grid_code.is_not(None)
    return _Figures(
        source=households.outerjoin(household_visits, hv.household_code == h.code),
        where=where if group is None else sa.and_(where, h.group_code == group),
        seen=hv.last_visit_at >= since, confirmed=hv.last_verified_at >= since, care=care,
        overdue=sa.and_(care, sa.or_(hv.last_verified_at.is_(None),
                                     hv.last_verified_at < cutoff)))


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _entry(code: str, name: str, counts: list[int]) -> dict[str, Any]:
    n, seen, confirmed, care, late = counts
    return {"code": code, "name": name, "households": n, "visited": seen,
            "verified": confirmed, "share": _share(confirmed, n), "care_households": care,
            "care_overdue": late}


def coverage(conn: sa.Connection, vi: VersionIndex, *, scope: Scope, area: str | None,
             days: int, role: str, now: datetime, settings: dict[str, Any],
             limit: int = 100) -> dict[str, Any]:
    """Visit coverage of the last `days` days in `area` (default: the scope's, or the whole
    tree), per grid and group; the most overdue care households (at most `limit`) for the
    roles that may see them."""
    grids = grids_in(vi, scope, area)
    since = now - timedelta(days=days)
    group = _group(vi, area)
    f = _figures(grids, since=since, now=now, settings=settings, group=group)
    rows = conn.execute(
        sa.select(h.grid_code, h.group_code, sa.func.count(), _count(f.seen),
                  _count(f.confirmed), _count(f.care), _count(f.overdue))
        .select_from(f.source).where(f.where).group_by(h.grid_code, h.group_code)).all()
    codes = grids if grids is not None else sorted(
        c for c, a in vi.areas.items() if a.level == "grid")
    inside = set(codes)
    per_grid = {g: [0] * 5 for g in codes}
    per_group = {c: [0] * 5 for c, a in vi.areas.items()
                 if a.level == "group" and a.parent_code in inside and group in (None, c)}
    for grid_code, group_code, *counts in rows:
        for target in (per_grid.get(grid_code), per_group.get(group_code)):
            if target is not None:
                for i, n in enumerate(counts):
                    target[i] += int(n)
    total = [sum(c[i] for c in per_grid.values()) for i in range(5)]
    out: dict[str, Any] = {
        "area": area or scope.area, "days": days, "since": since.isoformat(),
        **{k: val for k, val in _entry("", "", total).items() if k not in ("code", "name")},
        "grids": [_entry(g, vi.areas[g].name, c) for g, c in per_grid.items()],
        "groups": [{**_entry(g, vi.areas[g].name, c), "grid": vi.areas[g].parent_code}
                   for g, c in sorted(per_group.items())],
        "overdue": None,
    }
    if role in CARE_ROLES:
        out["overdue"] = _overdue(conn, f, role=role, now=now, settings=settings,
                                  limit=limit)
    return out


def _overdue(conn: sa.Connection, f: _Figures, *, role: str, now: datetime,
             settings: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """The care households overdue, never visited first, then the longest since."""
    rows = conn.execute(
        sa.select(h.code, h.grid_code, h.group_code, h.care_tags, h.address, h.head_name,
                  h.phone, hv.last_verified_at)
        .select_from(f.source).where(f.where, f.overdue)
        .order_by(hv.last_verified_at.asc().nulls_first(), h.code).limit(limit)).all()
    out = []
    for r in rows:
        tags = [t for t in r.care_tags.split(";") if t]
        t = r.last_verified_at
        if t is not None and t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        out.append({
            "household": r.code, "grid": r.grid_code, "group": r.group_code,
            "care_tags": tags, "address": r.address, "head": person_view(r.head_name, r.phone,
                                                                         role),
            "last_verified_visit": t.isoformat() if t else None,
            "days_since_visit": None if t is None else math.floor(
                (now - t).total_seconds() / 86_400),
            "interval_days": interval_of(tags, settings)})
    return out


def visited_figures(conn: sa.Connection, vi: VersionIndex, *, scope: Scope,
                    area: str | None, now: datetime, settings: dict[str, Any]
                    ) -> dict[str, Any]:
    """The wall's visit figures: households, those with a verified visit in the last 30
    days and their share, care households overdue now. Counts only (no one is named)."""
    grids = grids_in(vi, scope, area)
    f = _figures(grids, since=now - timedelta(days=30), now=now, settings=settings,
                 group=_group(vi, area))
    # Three counts, each reading an index rather than every household's row: the
    # households (the grid index), those visited (from the visits: a household looked
    # up per visit), the care households overdue (ix_households_care; `> ''` is `!= ''`
    # in a form an index can range over).
    n = conn.execute(sa.select(sa.func.count()).select_from(households).where(f.where)
                     ).scalar_one()
    confirmed = conn.execute(
        sa.select(sa.func.count()).select_from(household_visits).where(
            f.confirmed, sa.exists().where(h.code == hv.household_code, f.where))
    ).scalar_one()
    late = conn.execute(
        sa.select(sa.func.count()).select_from(f.source)
        .where(f.where, h.care_tags > "", f.overdue)).scalar_one()
    return {"households_total": n, "households_visited_30d": int(confirmed),
            "households_visited_30d_share": _share(int(confirmed), n),
            "care_households_overdue": int(late)}
