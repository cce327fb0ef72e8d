"""Reading plain input values every domain shares, with one error for each kind of mistake.

Query strings and bodies reach reports, workers, visits, dispatch and Open311 alike; a
value read here fails the same way wherever it is sent, 400 naming the field. (A lookup's
coordinates and CRS names have their own reader, `geo_service.lookup.parse`.)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from geo_service.errors import Invalid


def whole_number(args: Mapping[str, str], key: str, lo: int, hi: int,
                 default: int | None = None) -> int:
    """Query parameter `key` as a whole number from `lo` to `hi` (ASCII digits only: int()
    alone would also read "+1", " 1", "1_0" and "１"); `default` when it is absent, or a
    400 `missing` when there is none."""
    raw = args.get(key)
    if raw is None:
        if default is None:
            raise Invalid(f"{key} is required", key, code="missing")
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 20 and lo <= int(raw) <= hi):
        shown = repr(raw) if len(raw) <= 40 else repr(raw[:40]) + "..."
        raise Invalid(f"{key} must be a whole number from {lo} to {hi}, got {shown}", key,
                      code="invalid_number")
    return int(raw)


_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d(:\d\d(\.\d{1,6})?)?([Zz]|[+-]\d\d:\d\d)")


def parse_time(raw: Any, field: str) -> datetime:
    """An RFC 3339 time with its offset (a bare local time is ambiguous across zones),
    between 1970 and 2200, in UTC."""
    if not isinstance(raw, str) or not _RFC3339.fullmatch(raw):
        shown = repr(raw)[:40]
        raise Invalid(f"{field} must be an RFC 3339 time with its offset, such as "
                      f"2026-11-29T08:30:00+08:00, got {shown}", field, code="invalid_time")
    try:
        t = datetime.fromisoformat(raw.upper())
    except ValueError:
        raise Invalid(f"{field} {raw!r} is not a real time (RFC 3339, such as "
                      "2026-11-29T08:30:00+08:00)", field, code="invalid_time") from None
    if not 1970 <= t.year <= 2200:
        raise Invalid(f"{field} {raw!r} is outside 1970–2200", field, code="invalid_time")
    return t.astimezone(UTC)


def finite(value: Any, field: str) -> float:
    """A JSON number (not a boolean, not a string) as a finite float; 400 otherwise,
    including integers too large for a float."""
    if type(value) not in (int, float):
        raise Invalid(f"{field} must be a JSON number, got {repr(value)[:40]}", field,
                      code="invalid_number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise Invalid(f"{field} must be a finite number", field, code="invalid_number")
    return number
