"""The command center's figures (DOMAIN.md's KPIs) for any area, computed in the database.

Every figure is an aggregate in SQL (the area is one equality on its level's column), so
the whole prefecture with 100,000 cases costs five queries, never a load of cases into
Python.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from geo_service.cases.model import ACTIVE, CLASSES, LEVEL_COLUMN, OPEN, rank
from geo_service.cases.queries import scoped
from geo_service.scope import Scope
from geo_service.store.tables import reports
from geo_service.versions import VersionIndex

c = reports.c


def _median(conn: sa.Connection, column: sa.Column, conds: list[Any], n: int
            ) -> float | None:
    """The median of `column` over the `n` rows where `conds` hold and it is set: the one
    or two middle values by ORDER BY, LIMIT and OFFSET (both stores), in one query."""
    if not n:
        return None
    mid = conn.execute(sa.select(column).where(*conds, column.is_not(None))
                       .order_by(column).offset((n - 1) // 2).limit(2)).scalars().all()
    return float(mid[0]) if n % 2 else (mid[0] + mid[1]) / 2


def _count(cond: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


def area_stats(conn: sa.Connection, vi: VersionIndex, *, area: str | None, scope: Scope,
               since: datetime, until: datetime, now: datetime) -> dict[str, Any]:
    """The KPIs of `area` (default: the scope's, or everything) for reports received (and
    cases closed) in [since, until); `open` and `overdue` are as of `now`.

    `hourly`: reports received in each of the 24 hours before `now` (oldest first), for
    a trend that slides with the clock whatever the window.

    Six queries: one pass over the area's cases for every count per class (the windows
    and states are conditions inside the sums, not separate scans), one per daily series,
    one for the hours (a sum per hour over the last day's rows), one per median (its
    count comes from the first pass)."""
    where = scoped(vi, scope, area)
    in_window = sa.and_(c.received_at >= since, c.received_at < until)
    closed_in = sa.and_(c.closed_at >= since, c.closed_at < until, c.merged_into.is_(None))
    late = sa.and_(c.status.in_(sorted(ACTIVE)), c.due_at < now)
    is_open = c.status != "closed"
    in_grid = sa.and_(closed_in, c.peak_rank >= rank("grid"), ~c.outside)
    low = sa.and_(closed_in, c.peak_rank >= rank("township"))
    per_class = {k: {"reports": 0, "open": 0, "overdue": 0, "closed": 0} for k in CLASSES}
    n_closed = n_in_grid = n_low = n_accept = n_close = 0
    for cls, n_rec, n_open, n_late, n, g, t, n_a, n_c in conn.execute(
            sa.select(c["class"], _count(in_window), _count(is_open),
                      _count(sa.and_(is_open, late)), _count(closed_in), _count(in_grid),
                      _count(low), _count(sa.and_(in_window, c.accept_s.is_not(None))),
                      _count(sa.and_(closed_in, c.close_s.is_not(None))))
            .where(*where).group_by(c["class"])):
        n, g = int(n), int(g)
        per_class[cls].update(reports=int(n_rec), open=int(n_open), overdue=int(n_late),
                              closed=n)
        if n:
            per_class[cls]["resolved_in_grid"] = _share(g, n)
        n_closed, n_in_grid, n_low = n_closed + n, n_in_grid + g, n_low + int(t)
        n_accept, n_close = n_accept + int(n_a), n_close + int(n_c)
    daily: dict[str, dict[str, int]] = {}
    for day, n in conn.execute(sa.select(c.received_day, sa.func.count())
                               .where(*where, in_window).group_by(c.received_day)):
        daily.setdefault(day, {"reports": 0, "closed": 0})["reports"] = n
    for day, n in conn.execute(sa.select(c.closed_day, sa.func.count())
                               .where(*where, closed_in).group_by(c.closed_day)):
        daily.setdefault(day, {"reports": 0, "closed": 0})["closed"] = n
    edges = [now - timedelta(hours=24 - h) for h in range(25)]
    hours = conn.execute(sa.select(*(
        _count(sa.and_(c.received_at >= edges[h], c.received_at < edges[h + 1]))
        for h in range(24))).where(*where, c.received_at >= edges[0], c.received_at < now)
    ).one()
    return {
        "area": area or scope.area, "since": since.isoformat(), "until": until.isoformat(),
        "hourly": {"until": now.isoformat(), "reports": [int(n) for n in hours]},
        "reports": sum(v["reports"] for v in per_class.values()),
        "open": sum(v["open"] for v in per_class.values()),
        "overdue": sum(v["overdue"] for v in per_class.values()),
        "closed": n_closed,
        "resolved_in_grid": _share(n_in_grid, n_closed),
        "resolved_township_or_below": _share(n_low, n_closed),
        "median_accept_s": _median(conn, c.accept_s, [*where, in_window], n_accept),
        "median_close_s": _median(conn, c.close_s, [*where, closed_in], n_close),
        "per_class": per_class,
        "daily": [{"day": d, **v} for d, v in sorted(daily.items())],
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


CASELOAD_LEVELS = ("county", "township", "village", "grid")


def open_caseload(conn: sa.Connection, vi: VersionIndex, *, level: str, area: str | None,
                  scope: Scope, now: datetime) -> dict[str, Any]:
    """Open cases (and how many are overdue) per area of `level` inside `area` and the
    scope, as of `now`: one GROUP BY on the level's column, for the wall's choropleth of
    townships and counties. Areas without an open case are left out; an area only partly
    inside the scope (an ancestor of it) never appears."""
    col = c[LEVEL_COLUMN[level]]
    late = sa.and_(c.status.in_(sorted(ACTIVE)), c.due_at < now)
    rows = conn.execute(
        sa.select(col, sa.func.count(), _count(late))
        .where(*scoped(vi, scope, area), c.status.in_(sorted(OPEN)), col.is_not(None))
        .group_by(col))
    out = []
    for code, n, n_late in rows:
        info = vi.areas.get(code)
        if info is not None and scope.covers(vi, code):
            out.append({"code": code, "name": info.name, "open": int(n),
                        "overdue": int(n_late)})
    out.sort(key=lambda a: (-a["open"], a["code"]))
    return {"level": level, "area": area or scope.area, "areas": out}
