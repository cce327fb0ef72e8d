"""Reading a batch of GPS fixes as a phone sends it: every fix checked, bad ones listed.

A phone in a pastoral area sends what it collected while it had no signal; one unreadable
fix must not cost the others. Each bad fix is listed by index with the error a single
lookup would give (`invalid_number`, `out_of_range`, `swapped_axes`, `invalid_time`,
`future_time`, …); the rest go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from geo_service.errors import Invalid, ServiceError, TooLarge
from geo_service.inputs import finite, parse_time
from geo_service.lookup import parse_crs
from geo_service.lookup.parse import point_problems, problem_of
from geo_service.versions import VersionIndex

_KEYS = frozenset({"lon", "lat", "recorded_at", "accuracy_m", "speed", "heading"})


@dataclass
class Fix:
    index: int  # in the batch as sent
    lon: float
    lat: float
    recorded_at: datetime
    accuracy_m: float | None
    speed: float | None
    heading: float | None
    grid: str | None = None


@dataclass
class Batch:
    fixes: list[Fix]  # readable ones, oldest first, one per recorded_at
    rejected: list[dict[str, Any]] = field(default_factory=list)
    repeated: int = 0  # the same recorded_at twice within the batch


def _optional(fix: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    value = fix.get(key)
    if value is None:
        return None
    number = finite(value, key)
    if not lo <= number <= hi:
        raise Invalid(f"{key} must be a number from {lo:g} to {hi:g}", key,
                      code="invalid_number")
    return number


def _number(fix: dict[str, Any], key: str) -> float:
    return finite(fix.get(key), key)


def read_batch(vi: VersionIndex, body: Any, *, now: datetime, skew_s: float, limit: int
               ) -> Batch:
    """The fixes of a body `{"crs": …, "fixes": [{lon, lat, recorded_at, accuracy_m, speed,
    heading}, …]}`, placed in their grids; 400/413 only for a body that is not a batch."""
    if not isinstance(body, dict) or not isinstance(body.get("fixes"), list):
        raise Invalid('expected a JSON object with "fixes": [{"lon", "lat", "recorded_at", '
                      '"accuracy_m"}, …]', "fixes", code="invalid_body")
    extra = sorted(set(body) - {"fixes", "crs"})
    if extra:
        raise Invalid(f"unknown field {extra[0][:40]!r}", extra[0][:40], code="unknown_field")
    raw = body["fixes"]
    if len(raw) > limit:
        raise TooLarge(f"{len(raw)} fixes; the limit is {limit} per request", "fixes",
                       code="too_many_fixes")
    crs = parse_crs(body.get("crs"))
    batch = Batch([])
    read: list[tuple[int, float, float, datetime, float | None, float | None, float | None]] = []
    for i, fix in enumerate(raw):
        try:
            if not isinstance(fix, dict):
                raise Invalid("a fix is an object", "fixes", code="invalid_body")
            unknown = sorted(set(fix) - _KEYS)
            if unknown:
                raise Invalid(f"unknown field {unknown[0][:40]!r}", unknown[0][:40],
                              code="unknown_field")
            t = parse_time(fix.get("recorded_at"), "recorded_at").astimezone(UTC)
            if t - now > timedelta(seconds=skew_s):
                raise Invalid("recorded_at is in the future (more than "
                              f"{skew_s:g} s ahead of the server's clock)", "recorded_at",
                              code="future_time")
            read.append((i, _number(fix, "lon"), _number(fix, "lat"), t,
                         _optional(fix, "accuracy_m", 0, 1e7), _optional(fix, "speed", 0, 1e4),
                         _optional(fix, "heading", 0, 360)))
        except ServiceError as err:
            batch.rejected.append({"index": i, "code": err.code, "field": err.field,
                                   "reason": err.message})
    if read:
        xs = np.array([r[1] for r in read])
        ys = np.array([r[2] for r in read])
        lon, lat, kinds = point_problems(vi, xs, ys, crs)
        positions = vi.grids.assign(np.nan_to_num(lon), np.nan_to_num(lat))
        seen: set[datetime] = set()
        for k, r in enumerate(read):
            if kinds[k]:
                code, fld, reason = problem_of(int(kinds[k]), crs)
                batch.rejected.append({"index": r[0], "code": code, "field": fld,
                                       "reason": reason})
            elif r[3] in seen:
                batch.repeated += 1
            else:
                seen.add(r[3])
                grid = str(vi.grids.codes[positions[k]]) if positions[k] >= 0 else None
                batch.fixes.append(Fix(r[0], float(lon[k]), float(lat[k]), r[3], r[4], r[5],
                                       r[6], grid))
    batch.fixes.sort(key=lambda f: f.recorded_at)
    batch.rejected.sort(key=lambda e: e["index"])
    return batch
