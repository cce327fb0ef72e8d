"""Possible duplicates at intake: the same subtype, close by, at about the same time."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from geo_service.cases.model import ACTIVE
from geo_service.store.prepared import Prepared
from geo_service.store.tables import reports

_M_PER_DEG = 111_320.0
# Built once (intake asks for every report). The index on (subtype, lat, lon, occurred_at)
# narrows the candidates to a band a radius wide and tests the box and the window on that
# band in the index; only those inside are read from the table for their state. (An index
# led by the time would visit every report of the subtype in the window: thousands in a
# burst, each a table row.)
# The states are written into the SQL: an IN of bound values is "expanding", rendered
# anew on every execution (83 -> 52 us per check on SQLite).
_b = sa.bindparam
_CANDIDATES = sa.select(reports.c.id, reports.c.lon, reports.c.lat).where(
    reports.c.subtype == _b("subtype"),
    reports.c.lat.between(_b("lat0"), _b("lat1")),
    reports.c.lon.between(_b("lon0"), _b("lon1")),
    reports.c.occurred_at.between(_b("t0"), _b("t1")),
    reports.c.status.in_([sa.literal_column(f"'{s}'") for s in sorted(ACTIVE)]),
    reports.c.merged_into.is_(None)).limit(200)
_FIND = Prepared(_CANDIDATES)  # on the driver's cursor: `store.prepared`


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine), metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6_371_008.8 * math.asin(math.sqrt(min(1.0, a)))


def suggest_duplicate(conn: sa.Connection, subtype: str, lon: float, lat: float,
                      occurred_at: datetime, settings: dict[str, Any]) -> str | None:
    """The id of the nearest open report of the same subtype within
    `DUPLICATE_RADIUS_M` metres and `DUPLICATE_WINDOW_H` hours, or None.

    A box on the indexed columns narrows the candidates in the database; the exact
    distance decides. Only a suggestion: a dispatcher merges (or not)."""
    radius = settings["DUPLICATE_RADIUS_M"]
    window = timedelta(hours=settings["DUPLICATE_WINDOW_H"])
    if radius <= 0 or not window:
        return None
    dlat = radius / _M_PER_DEG
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    rows = _FIND.rows(conn, {
        "subtype": subtype, "lat0": lat - dlat, "lat1": lat + dlat, "lon0": lon - dlon,
        "lon1": lon + dlon, "t0": occurred_at - window, "t1": occurred_at + window})
    best = min(((distance_m(lon, lat, x, y), rid) for rid, x, y in rows), default=None)
    return best[1] if best and best[0] <= radius else None
