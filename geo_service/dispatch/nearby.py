"""Where workers are now, for "who is nearest": our own small index, changed in place.

A dispatcher asks for the nearest available workers many times a minute while thousands
of phones move them; an index rebuilt per query (or per fix) would cost more than the
question, and so would a query that walks cells in Python. The map is cut into square
cells (`cell_m` metres high) and rows of cells are grouped into overlapping bands of three
rows: band b holds rows b-1, b and b+1. Every worker has one entry in each of the three
bands around its row, and the entries are kept in one array sorted by (band, column)
("packed"). The 3 x 3 block of cells around a query is then one contiguous run of that
array (band = the query's row, three columns), found by two bisections and ranked by numpy
in a handful of calls; a wider block is one run per third row.

Each entry is (x, y, z, off-duty, blank): the unit vector and two penalty columns, so one
product with (qx, qy, qz, duty?, 1) scores a whole run: the cosine to the query, pushed
below every real cosine for a worker off duty (when duty counts) or an entry left behind.
A fix updates its worker's entries in place (O(1)). A fix that leaves its packed cell (or
a new worker) blanks its packed entries and gets one entry on a short tail that every
query reads whole; when the tail grows past a few hundred, the next query packs again (a
sort of the keys: 10-20 ms for 12,661 workers on the 2 shared cores here, once per a
few hundred cell changes).

A query widens its block until the k-th best distance is proven (every unread cell lies
farther away). Distances rank by the chord between unit vectors, which orders exactly as
distance on the sphere, and are reported in metres on the sphere.

Availability changes with time (a fix goes stale), so it is filtered at query time: each
entry keeps when its fix was taken, and a caller's `accept` decides the rest (the owning
area, the scope).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable

import numpy as np

EARTH_M = 6_371_008.8  # mean radius: the sphere distances are measured on
_M_PER_DEG = EARTH_M * math.pi / 180
_D = 2 * EARTH_M
_BAND = 1 << 32  # entry key = band * _BAND + column: a band's cells sort together
_OFF = -8.0  # a penalty column's value: below every cosine (-1 ... 1)
_WIDE = 12  # a block needing more runs than this reads every worker once instead


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
    return _D * math.asin(min(1.0, math.sqrt(max(0.0, 2.0 - 2.0 * cos)) * 0.5))


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Metres on the sphere between two points in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(h)))


class NearbyWorkers:
    """Current positions by worker code; k-nearest with a filter, in microseconds."""

    def __init__(self, cell_m: float = 3000.0, capacity: int = 1024) -> None:
        self.cell_m = cell_m
        self.cell_deg = cell_m / _M_PER_DEG
        capacity = max(capacity, 16)
        # entries: packed [0, _np), then the tail [_np, _np + _nt)
        self._e = np.zeros((capacity, 5))  # x, y, z, off-duty penalty, blank penalty
        self._s = np.zeros(capacity, dtype=np.int64)  # the entry's slot
        self._t = np.zeros(capacity)  # when its fix was taken (epoch seconds)
        self._np = 0
        self._nt = 0
        self._keys: list[int] = []  # band * _BAND + column of each packed entry, ascending
        self._once = np.zeros(0, dtype=np.int64)  # one packed entry per worker (band % 3 == 0)
        self._rows = (0, -1)  # first and last row of a packed worker
        self._cols = (0, -1)
        # slots: one per worker
        self._slot: dict[str, int] = {}
        self._codes: list[str | None] = []
        self._key: list[int] = []  # the slot's cell now: row * _BAND + column
        self._at: list[list[int] | int] = []  # its 3 packed entries, or its tail entry
        self._info: list[tuple[float, float, float, bool] | None] = []
        self._free: list[int] = []

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, code: str) -> bool:
        return code in self._slot

    def put(self, code: str, lon: float, lat: float, recorded_at: float, on_duty: bool
            ) -> None:
        """Where worker `code` is now (`recorded_at`: epoch seconds of the fix)."""
        cd = self.cell_deg
        key = int((lat + 90.0) // cd) * _BAND + int((lon + 180.0) // cd)
        slot = self._slot.get(code)
        if slot is None:
            if self._free:
                slot = self._free.pop()
                self._codes[slot] = code
                self._key[slot] = key
            else:
                slot = len(self._codes)
                self._codes.append(code)
                self._key.append(key)
                self._at.append(-1)
                self._info.append(None)
            self._slot[code] = slot
            at = self._append(slot)
        else:
            at = self._at[slot]
            if self._key[slot] != key:
                self._key[slot] = key
                if at.__class__ is list:  # leaves its packed cell: the tail has it now
                    self._blank(at)  # type: ignore[arg-type]
                    at = self._append(slot)
        lo, la = math.radians(lon), math.radians(lat)
        c = math.cos(la)
        entry = (c * math.cos(lo), c * math.sin(lo), math.sin(la),
                 0.0 if on_duty else _OFF, 0.0)
        e, t = self._e, self._t
        for i in (at if at.__class__ is list else (at,)):  # type: ignore[union-attr]
            e[i] = entry
            t[i] = recorded_at
        self._info[slot] = (float(lon), float(lat), float(recorded_at), bool(on_duty))

    def set_duty(self, code: str, on_duty: bool) -> None:
        slot = self._slot.get(code)
        if slot is not None:
            lon, lat, t, _ = self._info[slot]  # type: ignore[misc]
            self._info[slot] = (lon, lat, t, bool(on_duty))
            at = self._at[slot]
            for i in (at if at.__class__ is list else (at,)):  # type: ignore[union-attr]
                self._e[i, 3] = 0.0 if on_duty else _OFF

    def drop(self, code: str) -> None:
        """Forget a worker (no position any more)."""
        slot = self._slot.pop(code, None)
        if slot is None:
            return
        at = self._at[slot]
        if at.__class__ is list:
            self._blank(at)  # type: ignore[arg-type]
        else:  # the tail's last entry takes its place
            last = self._np + self._nt - 1
            if at != last:
                self._e[at] = self._e[last]
                self._t[at] = self._t[last]
                other = int(self._s[last])
                self._s[at] = other
                self._at[other] = at
            self._nt -= 1
        self._at[slot] = -1
        self._codes[slot] = None
        self._info[slot] = None
        self._free.append(slot)

    def _blank(self, at: list[int]) -> None:
        for i in at:
            self._e[i, 4] = _OFF

    def _append(self, slot: int) -> int:
        """A new tail entry for `slot`."""
        i = self._np + self._nt
        if i == len(self._e):
            n = len(self._e)
            self._e = np.concatenate([self._e, np.zeros((n, 5))])
            self._s = np.concatenate([self._s, np.zeros(n, dtype=np.int64)])
            self._t = np.concatenate([self._t, np.zeros(n)])
        self._nt += 1
        self._at[slot] = i
        self._s[i] = slot
        return i

    def _pack(self) -> None:
        """Three entries per worker, sorted by (band, column); the tail empties."""
        n = len(self._slot)
        slots = np.fromiter(self._slot.values(), dtype=np.int64, count=n)
        keys = np.array(self._key, dtype=np.int64)[slots]
        now = np.array([a if a.__class__ is int else a[0] for a in self._at],  # type: ignore[index]
                       dtype=np.int64)[slots]  # an entry holding each worker's values
        rows, cols = keys // _BAND, keys % _BAND
        bands = np.concatenate([rows - 1, rows, rows + 1])
        bkeys = bands * _BAND + np.tile(cols, 3)
        order = np.argsort(bkeys, kind="stable")
        src = np.tile(np.arange(n), 3)[order]
        size = 3 * n + 64 + n // 2  # room for the tail
        e, s, t = np.zeros((size, 5)), np.zeros(size, dtype=np.int64), np.zeros(size)
        e[:3 * n] = self._e[now[src]]
        t[:3 * n] = self._t[now[src]]
        s[:3 * n] = slots[src]
        self._e, self._s, self._t = e, s, t
        where = np.empty(3 * n, dtype=np.int64)
        where[order] = np.arange(3 * n)
        at = np.full((len(self._at), 3), -1, dtype=np.int64)
        at[slots] = where.reshape(3, n).T
        self._at = at.tolist()  # type: ignore[assignment]
        self._keys = bkeys[order].tolist()
        self._once = np.flatnonzero(bands[order] % 3 == 0)
        self._np, self._nt = 3 * n, 0
        if n:
            self._rows = int(rows.min()), int(rows.max())
            self._cols = int(cols.min()), int(cols.max())
        else:
            self._rows, self._cols = (0, -1), (0, -1)

    def _runs(self, col: int, row: int, r: int) -> tuple[list[tuple[int, int]] | None, int]:
        """Ranges of packed entries that hold every worker within `r` rows and columns of
        the cell, each once, and how many entries they hold. None: more bands than _WIDE,
        read every worker once instead."""
        ra, rb = row - r, row + r
        if r > 4:  # bands beyond the packed rows are empty: not worth a bisection
            ra, rb = max(ra, self._rows[0]), min(rb, self._rows[1])
            if ra > rb:
                return [], 0
            if rb - ra >= 3 * _WIDE:
                return None, len(self._once)
        keys = self._keys
        runs, count = [], 0
        lo, hi = col - r, col + r + 1
        for b in range((ra + 1) * _BAND, (rb + 2) * _BAND, 3 * _BAND):
            i = bisect_left(keys, b + lo)
            j = bisect_left(keys, b + hi, i)
            if i < j:
                runs.append((i, j))
                count += j - i
        return runs, count

    def _gather(self, runs: list[tuple[int, int]] | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(entries, slots, times) of the runs and the tail."""
        e, s, t = self._e, self._s, self._t
        if runs is None:
            once = self._once
            parts = [(e[once], s[once], t[once])]
        else:
            parts = [(e[i:j], s[i:j], t[i:j]) for i, j in runs]
        if self._nt:
            i, j = self._np, self._np + self._nt
            parts.append((e[i:j], s[i:j], t[i:j]))
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return e[:0], s[:0], t[:0]
        es, ss, ts = zip(*parts, strict=True)
        return np.concatenate(es), np.concatenate(ss), np.concatenate(ts)

    def _reach(self, lon: float, lat: float, rings: int) -> float:
        """Metres within which every point lies in the query's cell and the `rings` rings
        around it: from the query to the nearest edge of that block of cells."""
        cd = self.cell_deg
        fx, fy = ((lon + 180.0) / cd) % 1.0, ((lat + 90.0) / cd) % 1.0
        gap_lat = (rings + min(fy, 1.0 - fy)) * cd
        gap_lon = (rings + min(fx, 1.0 - fx)) * cd
        top = min(89.999, abs(lat) + (rings + 1) * cd)  # the block's side nearest the pole
        across = _D * math.asin(
            math.cos(math.radians(top)) * math.sin(math.radians(gap_lon) / 2))
        return min(gap_lat * _M_PER_DEG, across)

    def position(self, code: str) -> tuple[float, float, float, bool] | None:
        """(lon, lat, recorded_at, on_duty) of a worker, None when it has no position."""
        slot = self._slot.get(code)
        return None if slot is None else self._info[slot]

    def distances(self, codes: Iterable[str], lon: float, lat: float, *,
                  fresh_since: float = -math.inf) -> list[tuple[str, float]]:
        """Metres from the point to each of `codes` that is on duty with a fix taken at or
        after `fresh_since`, nearest first (a small team: no search needed)."""
        at = self._at
        idx = np.fromiter((a if a.__class__ is int else a[0]  # type: ignore[index]
                           for c in codes if (slot := self._slot.get(c)) is not None
                           for a in (at[slot],)), dtype=np.int64)
        idx = idx[(self._e[idx, 3] == 0.0) & (self._t[idx] >= fresh_since)]
        cos = self._e[idx, :3] @ _unit(lon, lat)
        order = np.argsort(-cos, kind="stable")
        return [(self._codes[s], _cos_to_m(c))  # type: ignore[misc]
                for s, c in zip(self._s[idx[order]].tolist(), cos[order].tolist(),
                                strict=True)]

    def nearest(self, lon: float, lat: float, k: int, *, fresh_since: float = -math.inf,
                accept: Callable[[str], bool] | None = None, duty: bool = True
                ) -> list[tuple[str, float]]:
        """The `k` nearest workers to a point as (code, metres), nearest first: on duty
        (unless `duty=False`), with a fix taken at or after `fresh_since`, and accepted by
        `accept(code)` when given. Fewer when fewer qualify."""
        if k <= 0 or not self._slot:
            return []
        if self._nt > 32 + (len(self._slot) >> 6):
            self._pack()
        lo, la = math.radians(lon), math.radians(lat)
        c = math.cos(la)
        q = np.array((c * math.cos(lo), c * math.sin(lo), math.sin(la),
                      1.0 if duty else 0.0, 1.0))
        cd = self.cell_deg
        col, row = int((lon + 180.0) // cd), int((lat + 90.0) // cd)
        if self._np:  # every packed cell is read once the block reaches this far
            (c0, c1), (r0, r1) = self._cols, self._rows
            last = max(col - c0, c1 - col, row - r0, r1 - row)
        else:
            last = 0
        filtered = accept is not None or fresh_since > -math.inf
        want = 2 * k if filtered else k  # candidates worth ranking
        verdict: dict[int, bool] = {}  # `accept` is asked once per worker and query
        r = 1
        while True:
            runs, count = self._runs(col, row, r)
            if runs is None:
                r = last  # every worker is read
            elif count + self._nt < want and r < last:
                r = 2 * r + 1  # too few: a block about four times as large
                continue
            e, s, t = self._gather(runs)
            best = self._best(e @ q, s, t, k, want, fresh_since, accept, verdict)
            if r >= last:
                break  # every cell was read
            if len(best) == k:
                kth = best[-1][1]
                if kth <= self._reach(lon, lat, r):
                    break  # proven: every cell not read lies farther than the k-th
                r = max(r + 1, int(kth / self.cell_m * 1.25) + 1)
            else:
                r = 2 * r + 1
        return best

    def _best(self, score: np.ndarray, slots: np.ndarray, times: np.ndarray, k: int,
              m: int, fresh_since: float, accept: Callable[[str], bool] | None,
              verdict: dict[int, bool]) -> list[tuple[str, float]]:
        """The k best (code, metres) that qualify, ranking the `m` best scores first and
        all of them when fewer than k of those qualify."""
        n = len(score)
        codes, asin, sqrt = self._codes, math.asin, math.sqrt
        while True:
            if n <= 256:  # a sort of a few hundred costs less than partitioning first
                top = score.argsort()[:-m - 1:-1]
            else:
                top = score.argpartition(n - m)[n - m:]
                top = top[score[top].argsort()[::-1]]
            cs, ss = score[top].tolist(), slots[top].tolist()
            if accept is None and fresh_since == -math.inf:  # m == k: every one on duty
                return [(codes[s], _D * asin(min(1.0, sqrt(max(0.0, 2.0 - 2.0 * c)) * 0.5)))
                        for c, s in zip(cs, ss, strict=True) if c > -2.0]  # type: ignore[misc]
            best: list[tuple[str, float]] = []
            for c, s, t in zip(cs, ss, times[top].tolist(), strict=True):
                if c < -2.0:
                    return best  # the rest are off duty or left behind
                if t < fresh_since:
                    continue
                if accept is not None:
                    ok = verdict.get(s)
                    if ok is None:
                        ok = verdict[s] = accept(codes[s])  # type: ignore[arg-type]
                    if not ok:
                        continue
                best.append((codes[s],  # type: ignore[arg-type]
                             _D * asin(min(1.0, sqrt(max(0.0, 2.0 - 2.0 * c)) * 0.5))))
                if len(best) == k:
                    return best
            if m >= n:
                return best
            m = n
