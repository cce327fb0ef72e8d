"""A worker's own caseload: the open cases assigned to it ("my cases")."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from geo_service.cases.model import OPEN
from geo_service.cases.queries import scoped
from geo_service.cases.records import utc_times
from geo_service.scope import Scope
from geo_service.store.tables import reports
from geo_service.versions import VersionIndex

MAX_CASES = 500


def open_cases(conn: sa.Connection, vi: VersionIndex, worker: str, *, scope: Scope
               ) -> list[dict[str, Any]]:
    """The worker's open assigned cases inside the scope, most urgent deadline first."""
    c = reports.c
    rows = conn.execute(sa.select(reports).where(
        c.assigned_worker == worker, c.status.in_(sorted(OPEN)), *scoped(vi, scope, None))
        .order_by(c.due_at, c.seq).limit(MAX_CASES)).mappings()
    return [utc_times(dict(r)) for r in rows]
