"""Reports and their cases: reports arrive at `rate` per minute near households (from the
workers' phones or the 12345 hotline) and in town seats, then each case is worked through
the workflow like the command center would: accept, assign a worker of its grid, start,
resolve, follow up, close. About 85 % end inside the grid; the rest escalate one to three
levels and are closed there; a few are accepted and then left alone, so they go overdue
and the server's sweep escalates them."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import shapely

from geo_service.simulator.world import households

if TYPE_CHECKING:
    from geo_service.simulator.runner import Simulation

# subtype, class share within its class, urgent share, a description as the app sends it
SUBTYPES: dict[str, tuple[str, float, str]] = {
    "risk_warning": ("attention", 0.1, "河道边坡有裂缝，雨后可能滑塌"),
    "unusual_event": ("attention", 0.05, "村口停了几辆陌生车辆，一直没走"),
    "emergency": ("attention", 0.6, "草场起火，火势在往牧民定居点方向蔓延"),
    "dispute": ("management", 0.05, "两户因草场边界发生争执"),
    "safety_hazard": ("management", 0.15, "自建房墙体开裂，屋主仍在居住"),
    "public_order": ("management", 0.05, "夜间有人在广场聚集饮酒喧哗"),
    "environment": ("management", 0.02, "路边堆放生活垃圾，无人清运"),
    "help_request": ("service", 0.05, "独居老人家中断水，需要帮助"),
    "care_visit": ("service", 0.0, "残疾人家庭申请上门探访"),
    "policy_inquiry": ("service", 0.0, "群众咨询草原生态补奖政策"),
}
CLASS_SHARE = {"attention": 0.2, "management": 0.45, "service": 0.35}
P_TOWN = 0.25  # reports in a town seat (an urban grid), not next to a household
P_HOTLINE = 0.4  # of the rest: a citizen called 12345 (else a worker's phone reports)
P_RESEND = 0.02  # the app sends a report again: its answer was lost
P_INSIDE, P_NEGLECT = 0.85, 0.05
FORWARD = {"reported": "accept", "escalated": "accept", "returned": "accept",
           "reopened": "accept", "accepted": "assign", "assigned": "start",
           "in_progress": "resolve", "resolved": "follow_up", "followed_up": "close"}
CENTER_ONLY = {"assign", "close"}


def _subtype(rng: random.Random) -> tuple[str, str, str]:
    cls = rng.choices(list(CLASS_SHARE), list(CLASS_SHARE.values()))[0]
    subtype = rng.choice([s for s, v in SUBTYPES.items() if v[0] == cls])
    _, urgent, text = SUBTYPES[subtype]
    return subtype, "urgent" if rng.random() < urgent else "normal", text


@dataclass
class Case:
    """One case as the simulator follows it, and what should become of it."""

    id: str
    version: int
    status: str
    grid: str | None
    group: str | None
    escalate_to: int  # escalations before it is dealt with (0: inside the grid)
    neglect: bool
    escalations: int = 0
    worker: str | None = None
    by_center: bool = False  # the worker's phone could not act on it: the center does


class Reports:
    def __init__(self, sim: Simulation, rng: random.Random) -> None:
        self.sim, self.rng = sim, rng
        self.towns = [a for a in sim.world.grids.values() if a.kind == "urban"] or \
            list(sim.world.grids.values())

    def next_in(self) -> float | None:
        rate = self.sim.opts.rate
        return self.rng.expovariate(rate / 60) if rate > 0 else None

    def tick(self) -> float | None:
        """One report, then the wait for the next (a Poisson process at `rate`/min)."""
        self.send_one()
        return self.next_in()

    def _place(self) -> tuple[Any, dict[str, Any] | None]:
        """(the phone of the worker who reports, or None for the hotline; a household)."""
        sim, rng = self.sim, self.rng
        phones = list(sim.phones.values())
        if rng.random() >= P_TOWN and phones:
            phone = rng.choice(phones)
            homes = [h for h in households(sim.api, sim.token_for(phone.code), phone.area)
                     if "lon" in h]
            if homes:
                who = None if rng.random() < P_HOTLINE or not sim.tokens.workers else phone
                return who, rng.choice(homes)
        town = rng.choice(self.towns)
        homes = [h for h in households(sim.api, sim.tokens.center, town) if "lon" in h]
        return None, rng.choice(homes) if homes else None

    def send_one(self) -> None:
        sim, rng = self.sim, self.rng
        who, home = self._place()
        if home is None:
            return
        subtype, severity, text = _subtype(rng)
        metres = rng.uniform(5, 80)
        lon = home["lon"] + rng.gauss(0, metres / 111_000)
        lat = home["lat"] + rng.gauss(0, metres / 111_000)
        if who is not None and not shapely.contains_xy(who.area.shape, lon, lat):
            lon, lat = home["lon"], home["lat"]  # a phone reports inside its own area
        body: dict[str, Any] = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "subtype": subtype, "severity": severity, "description": text,
            "lon": round(lon, 7), "lat": round(lat, 7),
            "occurred_at": (datetime.now(UTC) - timedelta(minutes=rng.uniform(0, 30))
                            ).isoformat(timespec="seconds"),
            "channel": "app" if who else "hotline"}
        if who is None:
            body["reporter"] = {"name": "群众", "phone": f"139{rng.randrange(10**8):08d}"}
        token = sim.token_for(who.code) if who else sim.tokens.center
        for _ in range(2 if rng.random() < P_RESEND else 1):
            ans = sim.api.call("POST", "/reports", token, body)
            if ans.status in (200, 201):
                sim.tally.add(reports=1 if ans.status == 201 else 0,
                              report_repeats=1 if ans.status == 200 else 0)
                if ans.status == 201:
                    self.follow(ans.body)
            else:
                sim.failed("POST /reports", ans)

    # ---------------------------------------------------------------------- the cases
    def follow(self, report: dict[str, Any]) -> None:
        rng = self.rng
        inside = rng.random() < P_INSIDE
        case = Case(report["id"], report["version"], report["status"],
                    (report.get("grid") or {}).get("code"),
                    (report.get("group") or {}).get("code"),
                    0 if inside else rng.choice((1, 1, 2, 3)), rng.random() < P_NEGLECT)
        self.sim.scheduler.at(self.delay(), lambda: self.step(case))

    def delay(self) -> float:
        return self.rng.expovariate(1 / self.sim.opts.step_s)

    def _action(self, case: Case) -> str | None:
        if case.status == "accepted" and case.neglect:
            return None  # left alone: it goes overdue, and the sweep escalates it
        if (case.escalations < case.escalate_to
                and case.status in ("accepted", "in_progress")):
            return "escalate"
        return FORWARD.get(case.status)

    def step(self, case: Case) -> float | None:
        """One workflow step; on a conflict (the sweep or someone else moved the case)
        read it again and decide anew."""
        sim = self.sim
        action = self._action(case)
        if action is None:
            sim.tally.add(cases_closed=1 if case.status == "closed" else 0,
                          cases_left=1 if case.status != "closed" else 0)
            return None
        body: dict[str, Any] = {"action": action, "version": case.version}
        if action == "assign":
            case.worker = sim.worker_for(case.grid, case.group)
            if case.worker is None:  # nobody to send: the center deals with it itself
                body["action"] = action = "resolve"
            else:
                body["worker"] = case.worker
        if action == "escalate":
            body["note"] = "网格内无法解决，提请上级协调"
        token = (sim.tokens.center if action in CENTER_ONLY or case.worker is None
                 or case.escalations or case.by_center else sim.token_for(case.worker))
        ans = sim.api.call("POST", f"/reports/{case.id}/actions", token, body)
        if ans.status == 200:
            case.version, case.status = ans.body["version"], ans.body["status"]
            case.escalations = ans.body["escalations"]
            sim.tally.add(actions=1, escalated=1 if action == "escalate" else 0)
            return self.delay()
        if ans.status in (403, 404) and token != sim.tokens.center:
            case.by_center = True
            sim.tally.add(conflicts=1)
            return self.delay()
        if ans.status == 409:
            fresh = sim.api.call("GET", f"/reports/{case.id}", sim.tokens.center)
            if fresh.status == 200:
                case.version, case.status = fresh.body["version"], fresh.body["status"]
                case.escalations = fresh.body["escalations"]
                case.worker = fresh.body["assigned_worker"]
                sim.tally.add(conflicts=1)
                return self.delay()
        sim.failed(f"POST /reports/{{id}}/actions {action}", ans)
        return None
