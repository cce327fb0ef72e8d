"""Reading plain input values every domain shares, with one error for each kind of mistake.

Query strings and bodies reach reports, workers, visits, dispatch and Open311 alike; a
value read here fails the same way wherever it is sent, 400 naming the field. (A lookup's
coordinates and CRS names have their own reader, `geo_service.lookup.parse`.)
"""

from __future__ import annotations

from collections.abc import Mapping

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
