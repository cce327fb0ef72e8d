"""What the simulator learns from the service before it starts: the workers, the areas
they answer for (their outlines), households to visit and report from, and the tokens
it acts with. Everything is read through the public API; only tokens may come from the
store (as `geo-service demo` makes them), because a token cannot be made over HTTP."""

from __future__ import annotations

import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import shapely

from geo_service.simulator.client import Api

# Who walks: people who answer for a grid or a ten-household group first (they patrol
# it), then the village guides and township militia.
WALKERS = ("grid_worker", "grid_leader", "liaison_head", "grid_guide", "militia")
BULK_FETCH = 50  # more areas of one level than this: fetch the whole level at once


class WorldError(RuntimeError):
    """The service cannot be simulated (unreachable, no boundaries, no workers)."""


@dataclass
class Area:
    code: str
    level: str
    kind: str | None
    parent: str | None
    shape: shapely.Geometry
    households: list[dict[str, Any]] | None = None  # with a position; fetched on first use
    homes: list[dict[str, Any]] | None = None  # those inside `shape` (to visit, to start at)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


@dataclass
class Tokens:
    """`center` acts for the command center (accept, assign, close, hotline reports,
    call-outs); `workers` holds each simulated worker's own phone token (empty: the
    center's token, an admin's, acts for them). `revoke` undoes what the run created."""

    center: str
    workers: dict[str, str] = field(default_factory=dict)
    user: str | None = None  # the store user the run's tokens belong to

    def of(self, code: str) -> str:
        return self.workers.get(code, self.center)


@dataclass
class World:
    workers: list[dict[str, Any]]  # every worker who may walk, in the order to use them
    areas: dict[str, Area]
    grids: dict[str, Area]  # the whole grid layer (reports at town seats: urban grids)

    def grid_of(self, area_code: str) -> str | None:
        """The grid an area lies in (itself for a grid, its parent for a group)."""
        a = self.areas.get(area_code)
        if a is None:
            return None
        return a.code if a.level == "grid" else a.parent if a.level == "group" else None


def check_service(api: Api) -> None:
    ans = api.call("GET", "/health", "-")
    if ans.status == 0:
        raise WorldError(f"no answer from {api.host}:{api.port}: is `geo-service serve` "
                         "running there?")
    if ans.status != 200:
        raise WorldError(f"/health answered {ans.status}: {ans.body}")


def store_tokens(worker_codes: list[str], tokens: Tokens | None = None) -> Tokens:
    """Tokens made in the configured store (GEO_DATABASE_URL: the service's own), all for
    one user named for this run: a dispatcher's for the center (when `tokens` is None)
    and a phone token per worker in `worker_codes`."""
    from geo_service.app import create_app, services
    from geo_service.auth import create_token, create_worker_tokens
    from geo_service.store.uow import unit_of_work

    svc = services(create_app(migrate=False))
    try:
        with unit_of_work(svc.engine) as uow:
            if tokens is None:
                user = f"simulator-{uuid.uuid4().hex[:8]}"
                tokens = Tokens(create_token(uow.conn, name=user, role="dispatcher",
                                             actor="simulator"), {}, user)
            tokens.workers.update(create_worker_tokens(  # 12,661 in ~1 s, not ~20 s
                uow.conn, name=tokens.user or "simulator", worker_codes=worker_codes,
                actor="simulator"))
    finally:
        svc.close()
    return tokens


def revoke_store_tokens(tokens: Tokens) -> int:
    from geo_service.app import create_app, services
    from geo_service.auth import revoke_tokens
    from geo_service.store.uow import unit_of_work

    if tokens.user is None:
        return 0
    svc = services(create_app(migrate=False))
    try:
        with unit_of_work(svc.engine) as uow:
            return revoke_tokens(uow.conn, name=tokens.user, actor="simulator")
    finally:
        svc.close()


def list_workers(api: Api, token: str, rng: random.Random) -> list[dict[str, Any]]:
    """Workers who may walk, grid and group people first, shuffled within each role
    group by the seed."""
    ans = api.call("GET", "/workers", token)
    if ans.status != 200:
        raise WorldError(f"GET /workers answered {ans.status}: {ans.body}")
    found = sorted((w for w in ans.body["workers"] if w["role"] in WALKERS and w["areas"]),
                   key=lambda w: w["code"])
    rng.shuffle(found)
    first = [w for w in found if w["role"] in WALKERS[:2]]
    rest = [w for w in found if w["role"] not in WALKERS[:2]]
    if not found:
        raise WorldError("the service has no field workers (load `geo-service demo` first)")
    return first + rest


def _area(feature: dict[str, Any]) -> Area:
    p = feature["properties"]
    return Area(p["code"], p["level"], p.get("kind"), p.get("parent_code"),
                shapely.geometry.shape(feature["geometry"]))


def fetch_areas(api: Api, token: str, codes: set[str], levels: dict[str, str],
                threads: int) -> dict[str, Area]:
    """Outlines of `codes` (level by code in `levels`): a whole level in one request when
    many are needed, else one request each."""
    out: dict[str, Area] = {}
    by_level: dict[str, list[str]] = {}
    for c in codes:
        by_level.setdefault(levels.get(c, "?"), []).append(c)
    single: list[str] = []
    for level, some in by_level.items():
        if level != "?" and len(some) > BULK_FETCH:
            ans = api.call("GET", f"/areas?level={level}", token)
            if ans.status != 200:
                raise WorldError(f"GET /areas?level={level} answered {ans.status}")
            for f in ans.body["features"]:
                if f["id"] in codes:
                    out[f["id"]] = _area(f)
        else:
            single += some

    def one(code: str) -> Area | None:
        ans = api.call("GET", f"/areas/{code}", token)
        return _area(ans.body) if ans.status == 200 else None

    with ThreadPoolExecutor(max(1, threads)) as pool:
        for a in pool.map(one, single):
            if a is not None:
                out[a.code] = a
    return out


def discover(api: Api, token: str, rng: random.Random, threads: int, limit: int) -> World:
    """Workers (the first `limit` to use), the grid layer and their areas' outlines."""
    walkers = list_workers(api, token, rng)[:limit]
    ans = api.call("GET", "/areas?level=grid", token)
    if ans.status != 200 or not ans.body.get("features"):
        raise WorldError(f"no grids (GET /areas?level=grid answered {ans.status}): publish "
                         "boundaries first")
    grids = {f["id"]: _area(f) for f in ans.body["features"]}
    role_level = {"grid_worker": "grid", "grid_leader": "grid", "liaison_head": "group",
                  "grid_guide": "village", "militia": "township"}
    wanted = {w["areas"][0] for w in walkers} - set(grids)
    levels = {w["areas"][0]: role_level.get(w["role"], "?") for w in walkers}
    areas = {**grids, **fetch_areas(api, token, wanted, levels, threads)}
    walkers = [w for w in walkers if w["areas"][0] in areas]
    return World(walkers, areas, grids)


def households(api: Api, token: str, area: Area) -> list[dict[str, Any]]:
    """The households of an area with a position (first 1,000), fetched once when first
    needed (by one thread; the others wait for it) and shared by every phone there."""
    if area.households is None:
        with area.lock:
            if area.households is None:
                ans = api.call("GET", f"/areas/{area.code}/households?per_page=1000", token)
                found = [h for h in (ans.body["households"] if ans.status == 200 else [])
                         if "lon" in h]
                inside = shapely.contains_xy(area.shape, [h["lon"] for h in found],
                                             [h["lat"] for h in found]) if found else []
                area.homes = [h for h, ok in zip(found, inside, strict=True) if ok]
                area.households = found
    return area.households


def homes(api: Api, token: str, area: Area) -> list[dict[str, Any]]:
    """The households of an area that lie inside its outline (see `households`)."""
    households(api, token, area)
    return area.homes or []
