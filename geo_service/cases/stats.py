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
    mid = conn.execute(sa.select(column).where(column.is_not(None), *conds)
                       .order_by(column).offset((n - 1) // 2).limit(2)).scalars().all()
    return float(mid[0]) if n % 2 else (mid[0] + mid[1]) / 2


def _unranged(conn: sa.Connection, column: sa.Column) -> Any:
    """`column` as SQLite's unary plus, `+column`: the same values, but SQLite will not read
    a range of an index on it for the condition. A median over (nearly) every case then
    walks the index on its own column in order and stops at the middle
    (`ix_reports_accept_s`, `ix_reports_close_s`) instead of reading the window's range of
    another index and sorting all of it: 62 -> 7 ms for 100,000 cases. For a county or
    smaller the range and a sort of its few cases stay the better plan."""
    if conn.dialect.name != "sqlite":
        return column
    return sa.literal_column(f"+{column.table.name}.{column.name}", column.type)


def _everything(vi: VersionIndex, scope: Scope, area: str | None) -> bool:
    """Whether the figures are of every case (the prefecture, or no area at all)."""
    return all(vi.area(a).level == "prefecture" for a in (area, scope.area) if a is not None)


def _count(cond: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


def area_stats(conn: sa.Connection, vi: VersionIndex, *, area: str | None, scope: Scope,
               since: datetime, until: datetime, now: datetime) -> dict[str, Any]:
    """The KPIs of `area` (default: the scope's, or everything) for reports received (and
    cases closed) in [since, until); `open` and `overdue` are as of `now`.

    `hourly`: reports received in each of the 24 hours before `now` (oldest first), for
    a trend that slides with the clock whatever the window.

    Six queries, each reading one covering index: the reports received in the window per
    day and class (the counts and the daily series), the cases closed in it likewise, the
    open cases per class, the last 24 hours (one range count per hour: 28 -> 1 ms on
    SQLite with 13,000 reports that day, against a sum of 24 conditions over every row);
    then each median, its count taken from those."""
    where = scoped(vi, scope, area)
    in_window = sa.and_(c.received_at >= since, c.received_at < until)
    closed_in = sa.and_(c.closed_at >= since, c.closed_at < until, c.merged_into.is_(None))
    late = sa.and_(c.status.in_(sorted(ACTIVE)), c.due_at < now)
    in_grid = sa.and_(c.peak_rank >= rank("grid"), ~c.outside)
    low = c.peak_rank >= rank("township")
    per_class = {k: {"reports": 0, "open": 0, "overdue": 0, "closed": 0} for k in CLASSES}
    daily: dict[str, dict[str, int]] = {}
    n_accept = n_close = n_closed = n_in_grid = n_low = 0
    for day, cls, n, n_a in conn.execute(
            sa.select(c.received_day, c["class"], sa.func.count(), sa.func.count(c.accept_s))
            .where(*where, in_window).group_by(c.received_day, c["class"])):
        per_class[cls]["reports"] += n
        daily.setdefault(day, {"reports": 0, "closed": 0})["reports"] += n
        n_accept += n_a
    in_grid_by_class: dict[str, int] = dict.fromkeys(CLASSES, 0)
    for day, cls, n, g, t, n_c in conn.execute(
            sa.select(c.closed_day, c["class"], sa.func.count(), _count(in_grid), _count(low),
                      sa.func.count(c.close_s))
            .where(*where, closed_in).group_by(c.closed_day, c["class"])):
        per_class[cls]["closed"] += n
        in_grid_by_class[cls] += int(g)
        daily.setdefault(day, {"reports": 0, "closed": 0})["closed"] += n
        n_closed, n_in_grid, n_low, n_close = (n_closed + n, n_in_grid + int(g),
                                               n_low + int(t), n_close + n_c)
    for cls, n, n_late in conn.execute(
            sa.select(c["class"], sa.func.count(), _count(late))
            .where(*where, c.status.in_(sorted(OPEN))).group_by(c["class"])):
        per_class[cls].update(open=n, overdue=int(n_late))
    for cls, figures in per_class.items():
        if figures["closed"]:
            figures["resolved_in_grid"] = _share(in_grid_by_class[cls], figures["closed"])
    rec, clo = c.received_at, c.closed_at
    if _everything(vi, scope, area):
        rec, clo = _unranged(conn, rec), _unranged(conn, clo)
    edges = [now - timedelta(hours=24 - h) for h in range(25)]
    hours = conn.execute(sa.select(*(  # a range count per hour: each row read once
        sa.select(sa.func.count()).where(*where, c.received_at >= edges[h],
                                         c.received_at < edges[h + 1]).scalar_subquery()
        for h in range(24)))).one()
    return {
        "area": area or scope.area, "since": since.isoformat(), "until": until.isoformat(),
        "hourly": {"until": now.isoformat(), "reports": [int(n) for n in hours]},
        "reports": sum(v["reports"] for v in per_class.values()),
        "open": sum(v["open"] for v in per_class.values()),
        "overdue": sum(v["overdue"] for v in per_class.values()),
        "closed": n_closed,
        "resolved_in_grid": _share(n_in_grid, n_closed),
        "resolved_township_or_below": _share(n_low, n_closed),
        "median_accept_s": _median(conn, c.accept_s, [*where, rec >= since, rec < until],
                                   n_accept),
        "median_close_s": _median(conn, c.close_s, [*where, clo >= since, clo < until,
                                                    c.merged_into.is_(None)], n_close),
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
