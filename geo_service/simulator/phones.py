"""A worker's phone on a shift: it walks the worker's area, takes a fix every
`fix_every` seconds and uploads them in small batches: every 2 to 6 fixes (1 to 3
minutes at one fix per 30 s), as battery-saving location SDKs buffer, which costs the
server a quarter of the requests one upload per fix would. Phones on poor links misbehave:
some go silent for a while and then send their backlog (newest first, so the rest
arrives late), some send a batch twice (the answer was lost), a few die for the rest of
the shift, a few fixes are wildly inaccurate. Now and then the worker walks to a
household of its area and records a visit."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from boundaries.crs.china import wgs84_to_gcj02
from geo_service.simulator.walk import Walk, random_point_in
from geo_service.simulator.world import Area, homes

if TYPE_CHECKING:
    from geo_service.simulator.runner import Simulation

# Per fix taken: the chance that the phone loses its link, or dies for the shift.
P_SILENT, P_DEAD = 0.01, 0.001
P_TWICE = 0.03  # a batch sent again: its answer was lost on the way back
P_INACCURATE = 0.02
BATCHES = (2, 3, 4, 5, 6)  # fixes per upload, one of these per phone (4 on average)
P_VISIT = 0.02  # per fix: set off to visit a household
VISIT_KINDS = (("routine", 0.7), ("care", 0.2), ("dispute_follow_up", 0.1))
SPEED_M_S = {"pastoral": 4.0, "semi_pastoral": 2.5}  # on horseback or motorbike; else walking


def _now() -> datetime:
    return datetime.now(UTC)


class Phone:
    def __init__(self, sim: Simulation, worker: dict[str, Any], area: Area,
                 rng: random.Random) -> None:
        self.sim, self.worker, self.area, self.rng = sim, worker, area, rng
        self.code: str = worker["code"]
        kind = area.kind or sim.world.areas.get(sim.world.grid_of(area.code) or "", area).kind
        # From a household when the area's are known already (fetched for a visit or a
        # report); a phone does not wait for them: anywhere inside its area will do.
        start = None
        if area.homes:
            h = rng.choice(area.homes)
            start = (h["lon"], h["lat"])
        self.walk = Walk(area.shape, start or random_point_in(area.shape, rng),
                         SPEED_M_S.get(kind or "", 1.3), rng)
        self.gcj02 = rng.random() < 0.3  # AMap / Tencent SDKs report GCJ-02
        self.per_batch = rng.choice(BATCHES)
        self.buffer: list[dict[str, Any]] = []
        self.error = (0.0, 0.0)  # metres east and north of the truth
        self.silent_until: float | None = None
        self.dead = False
        self.visit: dict[str, Any] | None = None
        self.shift_ends = time.monotonic() + rng.expovariate(1 / sim.opts.shift_s)
        self.on_shift = False

    # ------------------------------------------------------------------------ shifts
    def start_shift(self) -> float | None:
        """On duty (unless the worker is already), then the first fix at once: the
        simulation staggers the phones' starts, so their fixes are spread already."""
        if self.sim.duty(self.code, True):
            self.on_shift = True
            return 0.0
        return None

    def end_shift(self) -> None:
        """The last backlog goes out (the phone is back in town), then off duty."""
        if self.buffer and not self.dead:
            self.upload(self.buffer)
            self.buffer = []
        self.on_shift = False
        self.sim.duty(self.code, False)

    # ------------------------------------------------------------------------ a tick
    def tick(self) -> float | None:
        sim, rng, every = self.sim, self.rng, self.sim.opts.fix_every
        if not self.on_shift:
            return None
        if time.monotonic() >= self.shift_ends:
            self.end_shift()
            sim.shift_over(self)
            return None
        if self.dead:
            return every
        self.walk.step(every)
        self.buffer.append(self.fix())
        if self.silent_until is not None:
            if time.monotonic() >= self.silent_until:  # back in coverage: the backlog
                self.silent_until = None
                newest, backlog = self.buffer[-1:], self.buffer[:-1]
                self.buffer = []
                if rng.random() < 0.5:  # newest first: the backlog arrives late
                    self.upload(newest)
                    self.upload(backlog)
                else:
                    self.upload(backlog + newest)
        elif rng.random() < P_DEAD:
            self.dead = True
            sim.tally.add(phones_died=1)
        elif rng.random() < P_SILENT:
            self.silent_until = time.monotonic() + every * rng.uniform(5, 30)
            sim.tally.add(phones_silent=1)
        elif len(self.buffer) >= self.per_batch:
            self.upload(self.buffer)
            self.buffer = []
        self.maybe_visit()
        return every * rng.uniform(0.8, 1.2)

    def fix(self) -> dict[str, Any]:
        rng = self.rng
        bad = rng.random() < P_INACCURATE
        accuracy = rng.uniform(300, 2000) if bad else min(rng.lognormvariate(2.3, 0.5), 150)
        # GPS error drifts slowly (it is not fresh noise per fix: that would look like
        # sprinting); an inaccurate fix jumps by about its accuracy.
        ex, ey = self.error
        self.error = (0.9 * ex + rng.gauss(0, 1.0), 0.9 * ey + rng.gauss(0, 1.0))
        ex, ey = self.error if not bad else (rng.gauss(0, accuracy), rng.gauss(0, accuracy))
        lon = self.walk.lon + ex / 111_000
        lat = self.walk.lat + ey / 111_000
        if self.gcj02:
            glon, glat = wgs84_to_gcj02(lon, lat)
            lon, lat = float(glon), float(glat)
        return {"lon": round(lon, 7), "lat": round(lat, 7),
                "recorded_at": _now().isoformat(timespec="milliseconds"),
                "accuracy_m": round(accuracy, 1),
                "speed": round(self.walk.speed * rng.uniform(0.5, 1.2), 2),
                "heading": round(rng.uniform(0, 359.9), 1)}

    def upload(self, fixes: list[dict[str, Any]]) -> None:
        if not fixes:
            return
        sim = self.sim
        body: dict[str, Any] = {"fixes": fixes}
        if self.gcj02:
            body["crs"] = "gcj02"
        for _ in range(2 if self.rng.random() < P_TWICE else 1):
            ans = sim.api.call("POST", f"/workers/{self.code}/positions",
                               sim.token_for(self.code), body)
            if ans.status == 200:
                sim.tally.add(fixes=len(fixes), batches=1,
                              duplicates=ans.body.get("duplicates", 0),
                              flagged=len(ans.body.get("flagged", [])))
            else:
                sim.failed("POST /workers/{code}/positions", ans)

    # ------------------------------------------------------------------------ visits
    def maybe_visit(self) -> None:
        sim, rng = self.sim, self.rng
        if not sim.visits_on:
            return
        if self.visit is None:
            if rng.random() < P_VISIT:
                here = homes(sim.api, sim.token_for(self.code), self.area)
                if here:
                    self.visit = rng.choice(here)
                    self.walk.target = (self.visit["lon"], self.visit["lat"])
            return
        if (self.walk.metres_to(self.visit["lon"], self.visit["lat"]) > 30
                or self.silent_until is not None):
            return  # not there yet, or no signal: the visit is recorded once both hold
        kind = rng.choices([k for k, _ in VISIT_KINDS], [w for _, w in VISIT_KINDS])[0]
        if self.visit.get("care_tags"):
            kind = "care"
        home, self.visit, self.walk.target = self.visit, None, None
        self.upload(self.buffer)  # the fix that proves the visit goes first
        self.buffer = []
        sim.record_visit(self.code, home["code"], kind)
