"""Load the synthetic Gannan demo through the same import core operators use."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from tqdm import tqdm

from boundaries.levels import LEVELS
from boundaries.synthetic import Demo, build_demo
from geo_service.audit import audit
from geo_service.households import import_households
from geo_service.store.tables import households, worker_areas, workers
from geo_service.versions import build_indexes, create_draft, publish, stage_level


def load_demo(conn: sa.Connection, *, seed: int = 623000, small: bool = False,
              progress: bool = False, demo: Demo | None = None) -> dict[str, Any]:
    """Replace the store's households and workers by the demo and publish its boundaries
    as a new version (`demo` may be prebuilt), in the caller's unit of work: killed or
    failing anywhere, the store keeps what it had. Returns counts and timings."""
    t0 = time.perf_counter()
    steps = tqdm(total=len(LEVELS) + 3, desc="demo", disable=not progress, unit="step")
    kw: dict[str, Any] = ({"counties": ["623001"], "households": 12_000, "grids": 60,
                           "groups": 540} if small else {})
    demo = demo if demo is not None else build_demo(seed, **kw)
    steps.update()
    t_build = time.perf_counter() - t0
    draft = create_draft(conn, "demo", f"synthetic Gannan demo (seed {seed})")
    for level in LEVELS:
        part = demo.areas[demo.areas["level"] == level]
        result = stage_level(conn, draft, part, level, tolerance_m=5.0)
        if not result.report.ok:
            raise RuntimeError(f"demo {level} layer failed validation:\n"
                               + result.report.summary())
        steps.update()
    conn.execute(worker_areas.delete())
    conn.execute(workers.delete())
    conn.execute(households.delete())  # before the publish: nobody left to move
    publish(conn, draft, "demo")
    wrows = demo.workers.to_dict("records")
    conn.execute(workers.insert(), [
        {k: r[k] for k in ("code", "name", "role", "phone", "on_duty")} for r in wrows])
    ids = dict(conn.execute(sa.select(workers.c.code, workers.c.id)).all())
    conn.execute(worker_areas.insert(),
                 [{"worker_id": ids[r["code"]], "area_code": r["area_code"]} for r in wrows])
    audit(conn, "demo", "load_demo", str(draft), seed=seed, small=small)
    vi = build_indexes(conn, draft)
    steps.update()
    t1 = time.perf_counter()
    result = import_households(conn, demo.households, vi.grids, vi.groups, actor="demo")
    if result.rejected:  # raising rolls everything back
        raise RuntimeError(f"{len(result.rejected)} demo households rejected, first: "
                           f"{result.rejected[0]}")
    steps.update()
    steps.close()
    counts = demo.areas["level"].value_counts().to_dict()
    return {"version": draft, **{lvl: counts.get(lvl, 0) for lvl in LEVELS},
            "households": result.accepted, "workers": len(demo.workers),
            "generate_s": round(t_build, 1), "households_s": round(time.perf_counter() - t1, 1),
            "total_s": round(time.perf_counter() - t0, 1)}
