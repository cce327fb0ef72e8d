"""A random terrain cost field (in the local frame): expensive ridges, cheap valleys, street
lines in towns. Region borders follow it, because regions grow and split along least-cost
paths."""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree


def _waves(rng, n: int, shortest: float, longest: float) -> np.ndarray:
    """Random plane waves (kx, ky, phase, amplitude), scaled so their sum has unit variance."""
    lam = np.exp(rng.uniform(math.log(shortest), math.log(longest), n))
    ang = rng.uniform(0, 2 * math.pi, n)
    k = 2 * math.pi / lam
    amp = lam**0.6 * rng.uniform(0.5, 1.0, n)
    amp /= math.sqrt((amp**2).sum() / 2)
    return np.column_stack([k * np.cos(ang), k * np.sin(ang), rng.uniform(0, 2 * math.pi, n), amp])


def _wave_sum(waves: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = np.zeros(len(x))
    for kx, ky, ph, a in waves:
        out += a * np.sin(kx * x + ky * y + ph)
    return out


class Terrain:
    """Cost per metre of crossing a point: ridges and hills raise it, valley lines (points,
    m) lower it, and each town (x, y, radius) adds a bent street grid near its centre."""

    def __init__(self, rng, valleys: np.ndarray, towns: list[tuple[float, float, float]]):
        self.ridges = _waves(rng, 16, 3_000, 30_000)
        self.hills = _waves(rng, 12, 400, 3_000)
        self.valleys = cKDTree(valleys) if len(valleys) else None
        self.towns = [
            (x, y, r, rng.uniform(0, math.pi / 2), rng.uniform(110, 200), rng.uniform(140, 260))
            for x, y, r in towns
        ]

    def cost(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ridge = np.exp(-((_wave_sum(self.ridges, x, y) / 0.25) ** 2))
        hill = np.exp(-((_wave_sum(self.hills, x, y) / 0.3) ** 2))
        c = 1.0 + 3.0 * ridge + 1.0 * hill
        if self.valleys is not None:
            d, _ = self.valleys.query(np.column_stack([x, y]), distance_upper_bound=3_000)
            d = np.minimum(d, 3_000)
            c *= 0.4 + 0.6 * (1 - np.exp(-((d / 700) ** 2)))
        for tx, ty, r, th, a, b in self.towns:
            dx, dy = x - tx, y - ty
            near = np.flatnonzero(dx * dx + dy * dy < (2.5 * r) ** 2)
            dx, dy = dx[near], dy[near]
            u = dx * math.cos(th) + dy * math.sin(th)
            v = -dx * math.sin(th) + dy * math.cos(th)
            u, v = u + 30 * np.sin(v / 450), v + 30 * np.sin(u / 380)
            du = np.abs(u / a - np.round(u / a)) * a
            dv = np.abs(v / b - np.round(v / b)) * b
            street = np.exp(-((np.minimum(du, dv) / 18) ** 2))
            c[near] *= 1 + 5 * street * np.exp(-(dx * dx + dy * dy) / r**2)
        return c
