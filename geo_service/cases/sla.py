"""Service-level deadlines: how long each level has for a case, by class and severity."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo


def sla_hours(settings: dict[str, Any], report_class: str, severity: str) -> float:
    """The setting `SLA_<CLASS>_<SEVERITY>_H` (see the README's settings table)."""
    return settings[f"SLA_{report_class.upper()}_{severity.upper()}_H"]


def due_at(settings: dict[str, Any], report_class: str, severity: str, start: datetime
           ) -> datetime:
    """When the level that owns a case from `start` must have dealt with it."""
    return start + timedelta(hours=sla_hours(settings, report_class, severity))


def local_day(t: datetime, tz: str) -> str:
    """The calendar day of `t` where the command center is (`TIMEZONE`): daily figures
    follow the office's day, not UTC's."""
    return t.astimezone(ZoneInfo(tz)).date().isoformat()
