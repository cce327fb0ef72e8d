"""Possible duplicates at intake: the same subtype, close by, at about the same time."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from geo_service.cases.model import ACTIVE
from geo_service.store.tables import reports

_M_PER_DEG = 111_320.0


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
    rows = conn.execute(sa.select(reports.c.id, reports.c.lon, reports.c.lat).where(
        reports.c.subtype == subtype,
        reports.c.occurred_at.between(occurred_at - window, occurred_at + window),
        reports.c.status.in_(sorted(ACTIVE)), reports.c.merged_into.is_(None),
        reports.c.lon.between(lon - dlon, lon + dlon),
        reports.c.lat.between(lat - dlat, lat + dlat)).limit(200)).all()
    best = min(((distance_m(lon, lat, r.lon, r.lat), r.id) for r in rows), default=None)
    return best[1] if best and best[0] <= radius else None
