"""The audit log: who changed boundaries, rosters or tokens, and who took personal data
out. One line per act, written in the caller's transaction, so it exists exactly when the
act does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from geo_service.store.tables import audit_log


def audit(conn: sa.Connection, actor: str, action: str, target: str = "",
          **detail: Any) -> None:
    """Append one line to the audit log (inside the caller's transaction). `detail` never
    holds a token or personal data, only what identifies the act."""
    conn.execute(audit_log.insert().values(at=datetime.now(UTC), actor=actor, action=action,
                                           target=target, detail=detail))
