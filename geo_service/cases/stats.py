"""The command center's figures (DOMAIN.md's KPIs) for any area, computed in the database.

Every figure is an aggregate over indexed columns (the area is one equality on its level's
column, the window a range on a time), so the whole prefecture with 100,000 cases costs a
handful of queries, never a load of cases into Python.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from geo_service.cases.model import ACTIVE, CLASSES, rank
from geo_service.cases.queries import scoped
from geo_service.scope import Scope
from geo_service.store.tables import reports
from geo_service.versions import VersionIndex

c = reports.c


def _median(conn: sa.Connection, column: sa.Column, conds: list[Any]) -> float | None:
    """The median of `column` where it is set, by ORDER BY and OFFSET (both stores)."""
    conds = [*conds, column.is_not(None)]
    n = conn.execute(sa.select(sa.func.count()).where(*conds)).scalar() or 0
    if not n:
        return None
    pick = sa.select(column).where(*conds).order_by(column)
    lo = conn.execute(pick.offset((n - 1) // 2).limit(1)).scalar()
    hi = conn.execute(pick.offset(n // 2).limit(1)).scalar()
    return (lo + hi) / 2


def _count(cond: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


def area_stats(conn: sa.Connection, vi: VersionIndex, *, area: str | None, scope: Scope,
               since: datetime, until: datetime, now: datetime) -> dict[str, Any]:
    """The KPIs of `area` (default: the scope's, or everything) for reports received (and
    cases closed) in [since, until); `open` and `overdue` are as of `now`."""
    where = scoped(vi, scope, area)
    received = [*where, c.received_at >= since, c.received_at < until]
    closed = [*where, c.closed_at >= since, c.closed_at < until, c.merged_into.is_(None)]
    late = sa.and_(c.status.in_(sorted(ACTIVE)), c.due_at < now)
    per_class = {k: {"reports": 0, "open": 0, "overdue": 0, "closed": 0} for k in CLASSES}
    for cls, n in conn.execute(sa.select(c["class"], sa.func.count()).where(*received)
                               .group_by(c["class"])):
        per_class[cls]["reports"] = n
    for cls, n_open, n_late in conn.execute(
            sa.select(c["class"], sa.func.count(), _count(late))
            .where(*where, c.status != "closed").group_by(c["class"])):
        per_class[cls].update(open=n_open, overdue=int(n_late))
    in_grid = c.peak_rank >= rank("grid")
    low = c.peak_rank >= rank("township")
    n_closed, n_in_grid, n_low = 0, 0, 0
    for cls, n, g, t in conn.execute(
            sa.select(c["class"], sa.func.count(), _count(sa.and_(in_grid, ~c.outside)),
                      _count(low)).where(*closed).group_by(c["class"])):
        per_class[cls]["closed"] = n
        per_class[cls]["resolved_in_grid"] = _share(int(g), n)
        n_closed, n_in_grid, n_low = n_closed + n, n_in_grid + int(g), n_low + int(t)
    daily: dict[str, dict[str, int]] = {}
    for day, n in conn.execute(sa.select(c.received_day, sa.func.count()).where(*received)
                               .group_by(c.received_day)):
        daily.setdefault(day, {"reports": 0, "closed": 0})["reports"] = n
    for day, n in conn.execute(sa.select(c.closed_day, sa.func.count()).where(*closed)
                               .group_by(c.closed_day)):
        daily.setdefault(day, {"reports": 0, "closed": 0})["closed"] = n
    return {
        "area": area or scope.area, "since": since.isoformat(), "until": until.isoformat(),
        "reports": sum(v["reports"] for v in per_class.values()),
        "open": sum(v["open"] for v in per_class.values()),
        "overdue": sum(v["overdue"] for v in per_class.values()),
        "closed": n_closed,
        "resolved_in_grid": _share(n_in_grid, n_closed),
        "resolved_township_or_below": _share(n_low, n_closed),
        "median_accept_s": _median(conn, c.accept_s, [*received]),
        "median_close_s": _median(conn, c.close_s, closed),
        "per_class": per_class,
        "daily": [{"day": d, **v} for d, v in sorted(daily.items())],
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
