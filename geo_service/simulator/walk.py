"""Plausible paths: a worker wanders inside the area it answers for, now and then heading
for a household, and never steps outside (the wall would show it patrolling elsewhere)."""

from __future__ import annotations

import math
import random

import shapely

M_PER_DEG_LAT = 110_540.0
M_PER_DEG_LON = 111_320.0


def random_point_in(area: shapely.Geometry, rng: random.Random) -> tuple[float, float]:
    """A uniformly random point inside `area` (rejection sampling in its bounds)."""
    x0, y0, x1, y1 = area.bounds
    for _ in range(1000):
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if shapely.contains_xy(area, x, y):
            return x, y
    p = area.representative_point()  # a sliver: its representative point is inside
    return p.x, p.y


class Walk:
    """A random walk inside `area` at `speed` m/s: the heading drifts, and a `target` (a
    household) pulls it; a step that would leave the area turns back instead."""

    def __init__(self, area: shapely.Geometry, start: tuple[float, float], speed: float,
                 rng: random.Random) -> None:
        self.area = area
        shapely.prepare(area)
        self.lon, self.lat = start
        self.speed = speed
        self.rng = rng
        self.heading = rng.uniform(0, 2 * math.pi)
        self.target: tuple[float, float] | None = None

    def metres_to(self, lon: float, lat: float) -> float:
        dx = (lon - self.lon) * M_PER_DEG_LON * math.cos(math.radians(self.lat))
        dy = (lat - self.lat) * M_PER_DEG_LAT
        return math.hypot(dx, dy)

    def step(self, seconds: float) -> tuple[float, float]:
        """Walk for `seconds`; returns the new position (always inside the area)."""
        rng = self.rng
        metres = self.speed * seconds * rng.uniform(0.5, 1.2)
        if self.target is not None:
            tx, ty = self.target
            dx = (tx - self.lon) * M_PER_DEG_LON * math.cos(math.radians(self.lat))
            dy = (ty - self.lat) * M_PER_DEG_LAT
            self.heading = math.atan2(dx, dy) + rng.gauss(0, 0.3)
            metres = min(metres, math.hypot(dx, dy))
        else:
            self.heading += rng.gauss(0, 0.5)
        for attempt in range(12):
            cos_lat = math.cos(math.radians(self.lat))
            lon = self.lon + metres * math.sin(self.heading) / (M_PER_DEG_LON * cos_lat)
            lat = self.lat + metres * math.cos(self.heading) / M_PER_DEG_LAT
            if shapely.contains_xy(self.area, lon, lat):
                self.lon, self.lat = lon, lat
                break
            # At the edge: turn around (roughly), and shorten the stride after a few tries.
            self.heading += math.pi + rng.gauss(0, 0.8)
            if attempt >= 4:
                metres /= 2
        return self.lon, self.lat
