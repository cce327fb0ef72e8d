"""One simulation run: learn the world, put `workers` phones on shift, send reports at
`rate` per minute and work their cases, print a summary line every few seconds, and on
the end of `duration` or Ctrl-C stop cleanly: requests under way finish, every worker's
duty is put back as it was found, the run's tokens are revoked.

The phones start staggered over `ramp_s` (by default one fix interval), a few at a time
(a `Starter`: their duty POSTs never hold more than a few of the server's requests, so a
big roster starts as fast as the server takes it while fixes keep flowing), each with its
first fix as soon as it is on duty: fixes flow from the first second, their times spread
evenly. Nothing is fetched per phone before it starts (households come when a visit or a
report needs them, once per area)."""

from __future__ import annotations

import random
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from geo_service.simulator.cases import Reports
from geo_service.simulator.client import Answer, Api, Tally, percentile
from geo_service.simulator.phones import Phone
from geo_service.simulator.schedule import Scheduler, Starter
from geo_service.simulator.world import (
    Tokens,
    World,
    check_service,
    discover,
    revoke_store_tokens,
    store_tokens,
)

CALLOUT_ROLES = ["militia", "grid_worker", "grid_leader", "liaison_head"]


@dataclass(frozen=True)
class Options:
    url: str = "http://127.0.0.1:8000"
    rate: float = 6.0  # reports per minute
    workers: int = 100  # phones on shift at once
    duration: float = 0.0  # seconds; 0: until stopped
    seed: int = 623000
    fix_every: float = 30.0  # seconds between two fixes of one phone
    step_s: float = 20.0  # mean seconds between two workflow steps of a case
    shift_s: float = 4 * 3600.0  # mean shift length; a fresh worker takes over
    callout_every: float = 600.0  # mean seconds between call-outs (0: none)
    every: float = 5.0  # seconds between summary lines
    threads: int = 8
    token: str | None = None  # an admin token: acts for everyone, no store access
    ramp_s: float | None = None  # seconds over which the phones start (None: fix_every)


class Simulation:
    def __init__(self, opts: Options, out: IO[str] = sys.stdout) -> None:
        self.opts, self.out = opts, out
        self.rng = random.Random(opts.seed)
        self.tally = Tally()
        self.api = Api(opts.url, self.tally)
        self.scheduler = Scheduler(opts.threads)
        self.starter: Starter | None = None  # made when the run starts
        self.stopped = threading.Event()
        self.phones: dict[str, Phone] = {}
        self.started: dict[str, bool] = {}  # workers put on shift: their duty before
        self.duty_now: dict[str, bool] = {}  # as last seen or set by this run
        self.by_area: dict[str, set[str]] = {}  # area -> codes of phones on shift there
        self.visits_on = True
        self.callouts_on = opts.callout_every > 0
        self.off: dict[str, str] = {}  # activity -> why it is skipped
        self.lock = threading.Lock()
        self.tokens: Tokens
        self.world: World
        self.pool: deque[dict[str, Any]] = deque()
        self._grid_teams: dict[str, list[str]] = {}
        self._last_line = (time.monotonic(), 0)  # (when, fixes) at the last summary line

    # ------------------------------------------------------------------------ setup
    def setup(self) -> None:
        opts = self.opts
        check_service(self.api)
        own = opts.token is None
        self.tokens = store_tokens([]) if own else Tokens(opts.token or "")
        self.world = discover(self.api, self.tokens.center, self.rng, opts.threads,
                              limit=2 * opts.workers)
        if own:
            store_tokens([w["code"] for w in self.world.workers], self.tokens)
        self.pool = deque(self.world.workers)
        self.duty_now = {w["code"]: bool(w.get("on_duty")) for w in self.world.workers}
        self.say(f"simulating {min(opts.workers, len(self.pool))} of "
                 f"{len(self.world.workers)} workers on shift, {opts.rate:g} reports/min, "
                 f"a fix every {opts.fix_every:g} s per phone, against {opts.url}"
                 + ("" if own else " (one admin token acts for everyone)"))

    def token_for(self, worker: str) -> str:
        return self.tokens.of(worker)

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def failed(self, what: str, ans: Answer) -> None:
        self.tally.error(f"{what}: {ans.status or 'no answer'} {ans.error_code or ''}".strip())

    # ------------------------------------------------------------------------ shifts
    def put_on_shift(self, delay: float = 0.0) -> None:
        """The next worker of the pool goes on shift in `delay` seconds."""
        with self.lock:
            if not self.pool:
                return
            worker = self.pool.popleft()
        area = self.world.areas[worker["areas"][0]]
        rng = random.Random(self.rng.getrandbits(64))

        def start() -> None:  # on a starter thread: the phone, on duty, its first tick
            phone = Phone(self, worker, area, rng)
            with self.lock:
                self.phones[phone.code] = phone
                self.by_area.setdefault(area.code, set()).add(phone.code)
                self.started.setdefault(phone.code, worker["on_duty"])
            first = phone.start_shift()
            if first is not None and not self.stopped.is_set():
                self.scheduler.at(first, phone.tick)

        def due() -> None:
            assert self.starter is not None
            self.starter.submit(start)

        self.scheduler.at(delay, due)

    def shift_over(self, phone: Phone) -> None:
        """A shift ended: the worker goes home, the next one takes over."""
        with self.lock:
            self.phones.pop(phone.code, None)
            self.by_area.get(phone.area.code, set()).discard(phone.code)
            self.pool.append(phone.worker)
        self.tally.add(shifts_ended=1)
        self.put_on_shift()

    def duty(self, code: str, on: bool) -> bool:
        """Put a worker on or off duty; no request when it already is (as far as this run
        has seen: the roster's flag, then its own changes)."""
        if self.duty_now.get(code) is on:
            return True
        ans = self.api.call("POST", f"/workers/{code}/duty", self.token_for(code),
                            {"on_duty": on})
        if ans.status != 200:
            self.failed("POST /workers/{code}/duty", ans)
            return False
        self.duty_now[code] = on
        self.tally.add(duty_changes=1)
        return True

    def worker_for(self, grid: str | None, group: str | None) -> str | None:
        """A worker to send: one on shift answering for the case's grid (or its group),
        else anyone of the grid's team."""
        if grid is None:
            return None
        with self.lock:
            here = [c for a in (grid, group) if a for c in self.by_area.get(a, ())]
        if here:
            return self.rng.choice(here)
        team = self._grid_teams.get(grid)
        if team is None:
            ans = self.api.call("GET", f"/workers?area={grid}", self.tokens.center)
            team = [w["code"] for w in (ans.body or {}).get("workers", [])
                    if w["areas"][0] in (grid, group)] if ans.status == 200 else []
            self._grid_teams[grid] = team
        return self.rng.choice(team) if team else None

    # ------------------------------------------------------------ visits, call-outs
    def record_visit(self, code: str, household: str, kind: str) -> None:
        ans = self.api.call("POST", f"/workers/{code}/visits", self.token_for(code), {
            "household": household, "kind": kind,
            "visited_at": datetime.now(UTC).isoformat(timespec="seconds"), "note": ""})
        if ans.route_missing:
            self.visits_on, self.off["visits"] = False, "not on this server (404)"
        elif ans.status in (200, 201):
            self.tally.add(visits=1)
        else:
            self.failed("POST /workers/{code}/visits", ans)

    def callout(self) -> float | None:
        """An emergency call-out to a township, every worker on shift there answering."""
        rng = self.rng
        with self.lock:
            phones = list(self.phones.values())
        if not phones or not self.callouts_on:
            return None
        first = rng.choice(phones)
        ans = self.api.call("GET", f"/areas/{first.area.code}", self.tokens.center)
        chain = (ans.body or {}).get("properties", {}).get("chain", []) if ans.status == 200 else []
        township = next((a["code"] for a in chain if a["level"] == "township"), None)
        if township is None:
            return rng.expovariate(1 / self.opts.callout_every)
        ans = self.api.call("POST", "/callouts", self.tokens.center, {
            "area": township, "roles": CALLOUT_ROLES,
            "message": "草场火情，请立即向集合点集结"})
        if ans.route_missing:
            self.callouts_on, self.off["callouts"] = False, "not on this server (404)"
            return None
        if ans.status not in (200, 201) or not isinstance(ans.body, dict):
            self.failed("POST /callouts", ans)
            return rng.expovariate(1 / self.opts.callout_every)
        self.tally.add(callouts=1)
        cid = ans.body.get("id")
        # Only the phones the service called answer: one still going on shift, or silent
        # long enough to count as offline, was not called, and its ack would be a 403.
        called = {t.get("code") for t in ans.body.get("targets") or [] if isinstance(t, dict)}
        for p in phones:
            if p.code in called and not p.dead:
                self.scheduler.at(rng.uniform(1, 30), lambda p=p: self._ack(cid, p))
        return rng.expovariate(1 / self.opts.callout_every)

    def _ack(self, cid: Any, phone: Phone) -> None:
        ans = self.api.call("POST", f"/callouts/{cid}/ack", self.token_for(phone.code),
                            {"lon": round(phone.walk.lon, 7), "lat": round(phone.walk.lat, 7)})
        if ans.status in (200, 201):
            self.tally.add(acks=1)
        elif not ans.route_missing:
            self.failed("POST /callouts/{id}/ack", ans)

    # ------------------------------------------------------------------------ the run
    def start_phones(self) -> int:
        """Schedule the first `workers` of the pool to go on shift, evenly over the ramp
        (one fix interval unless `ramp_s` says otherwise), with a little jitter; returns
        how many."""
        opts = self.opts
        n = min(opts.workers, len(self.pool))
        ramp = opts.fix_every if opts.ramp_s is None else opts.ramp_s
        for i in range(n):
            self.put_on_shift(ramp * (i + self.rng.random()) / n)
        return n

    def stop(self) -> None:
        self.stopped.set()

    def run(self) -> int:
        """Simulate until `duration` passes or `stop()`; returns the exit status (0)."""
        opts, t0 = self.opts, time.monotonic()
        self._last_line = (t0, 0)
        self.scheduler.start()
        self.starter = Starter(max(2, opts.threads // 8))
        self.start_phones()
        reports = Reports(self, random.Random(self.rng.getrandbits(64)))
        first = reports.next_in()
        if first is not None:
            self.scheduler.at(first, reports.tick)
        if self.callouts_on:
            self.scheduler.at(self.rng.expovariate(1 / opts.callout_every), self.callout)
        end = t0 + opts.duration if opts.duration > 0 else None
        while not self.stopped.is_set():
            left = opts.every if end is None else min(opts.every, end - time.monotonic())
            if left <= 0 or self.stopped.wait(left):
                break
            self.say(self.summary(time.monotonic() - t0))
        self.say(f"stopping after {time.monotonic() - t0:.0f} s: letting requests under way "
                 "finish, putting duty back as it was, revoking the run's tokens")
        self.shutdown()
        self.say(self.summary(time.monotonic() - t0, final=True))
        for what, n in self.tally.errors.most_common(10):
            self.say(f"  error ×{n}: {what}")
        return 0

    def shutdown(self) -> None:
        self.stopped.set()
        self.scheduler.stop()
        if self.starter is not None:
            self.starter.stop()
        with self.lock:
            phones = [p for p in self.phones.values() if p.buffer and not p.dead]
            changed = [(c, on) for c, on in self.started.items()
                       if self.duty_now.get(c) is not on]

        def restore(code: str, on: bool) -> None:
            ans = self.api.call("POST", f"/workers/{code}/duty", self.tokens.center,
                                {"on_duty": on})
            if ans.status != 200:
                self.failed("POST /workers/{code}/duty", ans)

        with ThreadPoolExecutor(self.opts.threads) as pool:
            list(pool.map(lambda p: p.upload(p.buffer), phones))
            list(pool.map(lambda c: restore(*c), changed))
        if self.tokens.user is not None:
            revoke_store_tokens(self.tokens)

    def summary(self, elapsed: float, final: bool = False) -> str:
        c = self.tally.counts
        now, fixes = time.monotonic(), c["fixes"]
        t, before = self._last_line
        rate = (fixes - before) / (now - t) if now > t else 0.0
        self._last_line = (now, fixes)
        lat = self.tally.every if final else self.tally.take_window()
        p50 = percentile(lat, 0.5)
        errors = sum(self.tally.errors.values())
        visits = self.off.get("visits") or f"{c['visits']:,}"
        callouts = self.off.get("callouts") or f"{c['callouts']:,} ({c['acks']:,} acks)"
        return (f"[{elapsed:6.0f} s]{' total:' if final else ''} reports {c['reports']:,}"
                f" (+{c['report_repeats']} repeats) · actions {c['actions']:,}"
                f" ({c['escalated']} escalations) · fixes {c['fixes']:,} in "
                f"{c['batches']:,} batches ({c['duplicates']:,} dup, {c['flagged']:,} flagged)"
                + ("" if final else f" · {rate:,.0f} fixes/s")
                + f" · on shift {len(self.phones):,} · visits {visits} · callouts {callouts}"
                f" · errors {errors:,} · p50 "
                + ("–" if p50 is None else f"{p50:.1f} ms")
                + ("" if final else f" · lag {self.scheduler.lag_s:.1f} s"))
