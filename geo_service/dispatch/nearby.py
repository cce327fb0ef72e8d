"""Where workers are now, for "who is nearest": our own small index, changed in place.

A dispatcher asks for the nearest available workers many times a minute while thousands
of phones move them; an index rebuilt per query (or per fix) would cost more than the
question. This one is a hash of square cells (`cell_m` metres high) holding slots of
parallel arrays; a fix moves one slot between two cells, and a query searches rings of
cells around the point until the k-th best distance is proven (every unseen cell lies
farther away). Distances rank by the chord between unit vectors, which orders exactly as
distance on the sphere, and are reported in metres on the sphere.

Availability changes with time (a fix goes stale), so it is filtered at query time: each
slot keeps whether its worker is on duty and when its fix was taken, and a caller's
`accept` decides the rest (the owning area, the scope).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

EARTH_M = 6_371_008.8  # mean radius: the sphere distances are measured on
_M_PER_DEG = EARTH_M * math.pi / 180
_ROW = 1 << 24  # cell key = column * _ROW + row


def unit_vectors(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Points on the unit sphere, one row (x, y, z) per lon/lat in degrees."""
    lo, la = np.radians(lon), np.radians(lat)
    c = np.cos(la)
    return np.stack([c * np.cos(lo), c * np.sin(lo), np.sin(la)], axis=-1)


def _unit(lon: float, lat: float) -> np.ndarray:
    lo, la = math.radians(lon), math.radians(lat)
    c = math.cos(la)
    return np.array((c * math.cos(lo), c * math.sin(lo), math.sin(la)))


def _cos_to_m(cos: float) -> float:
    """Metres on the sphere between two unit vectors whose dot product is `cos` (by the
    chord: accurate to millimetres at a few metres, where an arccosine is not)."""
    return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(max(0.0, 2.0 - 2.0 * cos)) / 2))


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Metres on the sphere between two points in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(h)))


class NearbyWorkers:
    """Current positions by worker code; k-nearest with a filter, in microseconds."""

    def __init__(self, cell_m: float = 2000.0, capacity: int = 1024) -> None:
        self.cell_deg = cell_m / _M_PER_DEG
        self._xyz = np.zeros((capacity, 3))
        self._lonlat = np.zeros((capacity, 2))
        self._t = np.full(capacity, -np.inf)  # when the fix was taken (epoch seconds)
        self._duty = np.zeros(capacity, dtype=bool)
        self._ready = np.full(capacity, np.nan)  # _t when on duty, else NaN (never >= anything)
        self._codes: list[str | None] = [None] * capacity
        self._key = [0] * capacity
        self._slot: dict[str, int] = {}
        self._free: list[int] = list(range(capacity - 1, -1, -1))
        self._cells: dict[int, list[int]] = {}
        self._span = [0, 0, 0, 0]  # min/max column and row ever used: where to stop

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, code: str) -> bool:
        return code in self._slot

    def _cell(self, lon: float, lat: float) -> tuple[int, int]:
        return int((lon + 180.0) // self.cell_deg), int((lat + 90.0) // self.cell_deg)

    def _grow(self) -> None:
        n = len(self._codes)
        self._xyz = np.concatenate([self._xyz, np.zeros((n, 3))])
        self._lonlat = np.concatenate([self._lonlat, np.zeros((n, 2))])
        self._t = np.concatenate([self._t, np.full(n, -np.inf)])
        self._duty = np.concatenate([self._duty, np.zeros(n, dtype=bool)])
        self._ready = np.concatenate([self._ready, np.full(n, np.nan)])
        self._codes += [None] * n
        self._key += [0] * n
        self._free += list(range(2 * n - 1, n - 1, -1))

    def put(self, code: str, lon: float, lat: float, recorded_at: float, on_duty: bool
            ) -> None:
        """Where worker `code` is now (`recorded_at`: epoch seconds of the fix)."""
        col, row = self._cell(lon, lat)
        key = col * _ROW + row
        slot = self._slot.get(code)
        if slot is None:
            if not self._free:
                self._grow()
            slot = self._free.pop()
            self._slot[code] = slot
            self._codes[slot] = code
            self._cells.setdefault(key, []).append(slot)
            self._widen(col, row)
        elif self._key[slot] != key:
            self._unlink(slot)
            self._cells.setdefault(key, []).append(slot)
            self._widen(col, row)
        self._key[slot] = key
        self._xyz[slot] = _unit(lon, lat)
        self._lonlat[slot] = lon, lat
        self._t[slot] = recorded_at
        self._duty[slot] = on_duty
        self._ready[slot] = recorded_at if on_duty else np.nan

    def set_duty(self, code: str, on_duty: bool) -> None:
        slot = self._slot.get(code)
        if slot is not None:
            self._duty[slot] = on_duty
            self._ready[slot] = self._t[slot] if on_duty else np.nan

    def drop(self, code: str) -> None:
        """Forget a worker (no position any more)."""
        slot = self._slot.pop(code, None)
        if slot is None:
            return
        self._unlink(slot)
        self._codes[slot] = None
        self._duty[slot] = False
        self._t[slot] = -np.inf
        self._ready[slot] = np.nan
        self._free.append(slot)

    def _unlink(self, slot: int) -> None:
        members = self._cells[self._key[slot]]
        members.remove(slot)
        if not members:
            del self._cells[self._key[slot]]

    def _widen(self, col: int, row: int) -> None:
        s = self._span
        if not self._slot or len(self._slot) == 1:
            s[:] = [col, col, row, row]
        else:
            s[0], s[1] = min(s[0], col), max(s[1], col)
            s[2], s[3] = min(s[2], row), max(s[3], row)

    def _reach(self, lon: float, lat: float, rings: int) -> float:
        """Metres within which every point lies in the query's cell and the `rings` rings
        around it: from the query to the nearest edge of that block of cells."""
        cd = self.cell_deg
        fx, fy = ((lon + 180.0) / cd) % 1.0, ((lat + 90.0) / cd) % 1.0
        gap_lat = (rings + min(fy, 1.0 - fy)) * cd
        gap_lon = (rings + min(fx, 1.0 - fx)) * cd
        top = min(89.999, abs(lat) + (rings + 1) * cd)  # the block's side nearest the pole
        across = 2 * EARTH_M * math.asin(
            math.cos(math.radians(top)) * math.sin(math.radians(gap_lon) / 2))
        return min(gap_lat * _M_PER_DEG, across)

    def position(self, code: str) -> tuple[float, float, float, bool] | None:
        """(lon, lat, recorded_at, on_duty) of a worker, None when it has no position."""
        slot = self._slot.get(code)
        if slot is None:
            return None
        lon, lat = self._lonlat[slot]
        return float(lon), float(lat), float(self._t[slot]), bool(self._duty[slot])

    def distances(self, codes: Iterable[str], lon: float, lat: float, *,
                  fresh_since: float = -math.inf) -> list[tuple[str, float]]:
        """Metres from the point to each of `codes` that is on duty with a fix taken at or
        after `fresh_since`, nearest first (a small team: no search needed)."""
        slots = np.fromiter((s for c in codes if (s := self._slot.get(c)) is not None),
                            dtype=np.int64)
        slots = slots[self._ready[slots] >= fresh_since]
        cos = self._xyz[slots] @ _unit(lon, lat)
        order = np.argsort(-cos, kind="stable")
        return [(self._codes[s], _cos_to_m(c))  # type: ignore[misc]
                for s, c in zip(slots[order].tolist(), cos[order].tolist(), strict=True)]

    def nearest(self, lon: float, lat: float, k: int, *, fresh_since: float = -math.inf,
                accept: Callable[[str], bool] | None = None, duty: bool = True
                ) -> list[tuple[str, float]]:
        """The `k` nearest workers to a point as (code, metres), nearest first: on duty
        (unless `duty=False`), with a fix taken at or after `fresh_since`, and accepted by
        `accept(code)` when given. Fewer when fewer qualify."""
        if k <= 0 or not self._slot:
            return []
        q = _unit(lon, lat)
        col, row = self._cell(lon, lat)
        s = self._span
        last = max(col - s[0], s[1] - col, row - s[2], s[3] - row)  # every cell by then
        times = self._ready if duty else self._t
        found: list[int] = []
        verdict: dict[int, bool] = {}  # `accept` is asked once per slot and query
        filtered = duty or accept is not None or fresh_since > -math.inf
        r, want, until = 0, 2 * k if filtered else k, -1
        while True:
            # Gather rings of cells: up to ring `until`, or until `want` raw candidates.
            while r <= last and (r <= until or len(found) < want):
                self._gather(col, row, r, found)
                r += 1
            idx = np.array(found, dtype=np.int64)
            if duty or fresh_since > -math.inf:
                idx = idx[times[idx] >= fresh_since]
            cos = self._xyz[idx] @ q  # nearest first = largest cosine first
            best = self._best(idx, cos, k if accept is None else 2 * k, k, accept, verdict)
            if best is None:  # `accept` refused too many of the nearest: rank them all
                best = self._best(idx, cos, len(idx), k, accept, verdict)
            if r > last:
                break  # every cell was searched
            if len(best) == k:
                kth = _cos_to_m(best[-1][1])
                if kth <= self._reach(lon, lat, r - 1):
                    break  # proven: every cell not searched lies farther than the k-th
                until = r + max(1, int(kth / (self.cell_deg * _M_PER_DEG) * 1.25))
            else:
                want = 2 * len(found) + k  # too few: gather at least as much again
        return [(self._codes[slot], _cos_to_m(c)) for slot, c in best]  # type: ignore[misc]

    def _best(self, idx: np.ndarray, cos: np.ndarray, m: int, k: int,
              accept: Callable[[str], bool] | None, verdict: dict[int, bool]
              ) -> list[tuple[int, float]] | None:
        """The k best (slot, cosine) among the `m` nearest of the candidates that `accept`
        takes; None when it took fewer than k of those m and more candidates remain."""
        n = len(idx)
        if n > m:
            part = np.argpartition(cos, n - m)[n - m:]
            order = part[np.argsort(-cos[part], kind="stable")]
        else:
            order = np.argsort(-cos, kind="stable")
        if accept is None:
            return list(zip(idx[order].tolist(), cos[order].tolist(), strict=True))
        best: list[tuple[int, float]] = []
        codes = self._codes
        for slot, c in zip(idx[order].tolist(), cos[order].tolist(), strict=True):
            ok = verdict.get(slot)
            if ok is None:
                ok = verdict[slot] = accept(codes[slot])  # type: ignore[arg-type]
            if ok:
                best.append((slot, c))
                if len(best) == k:
                    return best
        return None if n > m else best

    def _gather(self, col: int, row: int, r: int, found: list[int]) -> None:
        """Add the slots of ring `r` of cells around (col, row) to `found`."""
        cells = self._cells
        if r == 0:
            if m := cells.get(col * _ROW + row):
                found += m
            return
        left, right = (col - r) * _ROW + row, (col + r) * _ROW + row
        for dy in range(-r, r + 1):  # the left and right columns
            if m := cells.get(left + dy):
                found += m
            if m := cells.get(right + dy):
                found += m
        for dx in range(-r + 1, r):  # the rows below and above, between them
            key = (col + dx) * _ROW + row
            if m := cells.get(key - r):
                found += m
            if m := cells.get(key + r):
                found += m
