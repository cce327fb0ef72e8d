"""The tiny prefecture with people on it, for the publish tests: households on a lattice
over G1 and G2 (and one each in G3 and G4), workers answering for grids and a group, and
open cases, one escalated to its village. Drafts are made with the one import core
(`stage_level`), the way the editor and the CLI make them.

    G1 = 103.00–103.01, G2 = 103.01–103.02 (35.00–35.02); each grid's one group is the
    grid's own outline (code = grid + "001").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import shapely
import sqlalchemy as sa

from geo_service.auth import Principal
from geo_service.cases import act, read_report, submit_report
from geo_service.households import import_households
from geo_service.scope import EVERYTHING
from geo_service.settings import load
from geo_service.store.tables import households, reports, worker_areas, workers
from geo_service.store.uow import unit_of_work
from geo_service.versions import build_indexes, create_draft, live_version, stage_level

from .tiny import G1, G2, G3, G4

VILLAGE = "900001001001"
G5 = VILLAGE + "003"  # the part split off G2
DISPATCHER = Principal(name="t-dispatcher", role="dispatcher")
CASE_POINTS = {"west_of_g2": (103.012, 35.01), "east_of_g2": (103.018, 35.012),
               "in_g1": (103.005, 35.01), "escalated_in_g2": (103.017, 35.005),
               "in_g3": (103.022, 35.01)}


def box(x0: float, x1: float) -> shapely.MultiPolygon:
    return shapely.MultiPolygon([shapely.box(x0, 35.0, x1, 35.02)])


def populate(engine: sa.Engine) -> dict[str, str]:
    """Households, workers and open cases on the live version; returns case ids by name."""
    with unit_of_work(engine) as uow:
        conn = uow.conn
        vi = build_indexes(conn, live_version(conn))
        pts = [(103.001 + 0.002 * i, y) for i in range(10) for y in (35.005, 35.015)]
        pts += [(103.022, 35.01), (103.03, 35.01)]
        roster = pd.DataFrame({"code": [f"H{i:02d}" for i in range(len(pts))],
                               "lon": [p[0] for p in pts], "lat": [p[1] for p in pts],
                               "head_name": "王五", "phone": "13900001111"})
        assert import_households(conn, roster, vi.grids, vi.groups).accepted == len(pts)
        staff = [("W1", "grid_worker", [G1]), ("W2", "grid_worker", [G2]),
                 ("L2", "liaison_head", [G2 + "001"]), ("GG", "grid_guide", [G1, G2]),
                 ("W3", "grid_worker", [G3])]
        for code, role, where in staff:
            wid = conn.execute(workers.insert().values(code=code, name="张三", role=role,
                                                       phone="13812345678", on_duty=True)
                               ).inserted_primary_key[0]
            conn.execute(worker_areas.insert(), [{"worker_id": wid, "area_code": a}
                                                 for a in where])
        settings, now = load({}), datetime.now(UTC)
        ids = {}
        for name, (lon, lat) in CASE_POINTS.items():
            new = read_report({"id": f"00000000-0000-4000-8000-{len(ids):012d}",
                               "subtype": "dispute", "description": name, "lon": lon,
                               "lat": lat, "occurred_at": now.isoformat()},
                              now=now, skew_s=300)
            row, _ = submit_report(conn, vi, new, actor=DISPATCHER, scope=EVERYTHING,
                                   settings=settings, now=now)
            ids[name] = row["id"]
        act(conn, vi, ids["escalated_in_g2"], "escalate", actor=DISPATCHER,
            scope=EVERYTHING, version=1, settings=settings, now=now)
    return ids


def draft_of(engine: sa.Engine, grids: dict[str, Any], groups: dict[str, Any] | None = None,
             *, author: str = "planner") -> int:
    """A draft redrawing the village of G1 and G2 as `grids` (code -> outline) and, if
    given, their groups (code -> (parent, outline))."""
    names = {G1: "第一网格", G2: "第二网格"}
    with unit_of_work(engine) as uow:
        draft = create_draft(uow.conn, author, "test change")
        frame = _frame([(c, names.get(c, "新网格"), "grid", VILLAGE, g)
                        for c, g in grids.items()])
        result = stage_level(uow.conn, draft, frame, "grid", tolerance_m=5.0)
        assert result.written, result.report.summary()
        if groups:
            frame = _frame([(c, "联防组", "group", p, g) for c, (p, g) in groups.items()])
            result = stage_level(uow.conn, draft, frame, "group", tolerance_m=5.0)
            assert result.written, result.report.summary()
    return draft


def _frame(rows: list[tuple]) -> Any:
    import geopandas as gpd

    return gpd.GeoDataFrame([r[:4] for r in rows],
                            columns=["code", "name", "level", "parent_code"],
                            geometry=[r[4] for r in rows], crs="EPSG:4326").assign(kind=None)


def split_g2(engine: sa.Engine) -> int:
    """G2 cut at 103.016: the east part becomes G5 with its own group."""
    return draft_of(engine, {G1: box(103.0, 103.01), G2: box(103.01, 103.016),
                             G5: box(103.016, 103.02)},
                    {G2 + "001": (G2, box(103.01, 103.016)),
                     G5 + "001": (G5, box(103.016, 103.02))})


def merge_g2_into_g1(engine: sa.Engine) -> int:
    """G2 removed, G1 takes all of it; G2's group stays (publishing re-parents it)."""
    return draft_of(engine, {G1: box(103.0, 103.02)})


def move_edge(engine: sa.Engine, edge: float = 103.015) -> int:
    return draft_of(engine, {G1: box(103.0, edge), G2: box(edge, 103.02)})


def assignments(engine: sa.Engine) -> dict[str, Any]:
    """Everything a publish may move, as stored: households, groups' parents (live),
    workers' areas, open cases' placement and owner."""
    from geo_service.versions import area_frame

    with engine.connect() as conn:
        hh = {r.code: (r.grid_code, r.group_code) for r in conn.execute(sa.select(households))}
        live = live_version(conn)
        frame = area_frame(conn, live, "group")
        groups = dict(zip(frame["code"], frame["parent_code"], strict=True))
        wa = sorted(conn.execute(sa.select(workers.c.code, worker_areas.c.area_code).join(
            worker_areas, worker_areas.c.worker_id == workers.c.id)).all())
        cols = ["grid_code", "group_code", "village_code", "township_code", "county_code",
                "owner_level", "owner_code", "outside", "status"]
        cases = {r.id: tuple(getattr(r, c) for c in cols)
                 for r in conn.execute(sa.select(reports))}
    return {"households": hh, "groups": groups, "workers": [tuple(w) for w in wa],
            "cases": cases}


# Which grid each lattice household is in, by longitude.
def grid_at(lon: float, *, edges: tuple[tuple[float, str], ...]) -> str:
    for right, code in edges:
        if lon < right:
            return code
    raise AssertionError(lon)


__all__ = ["CASE_POINTS", "G4", "G5", "assignments", "box", "draft_of", "grid_at",
           "merge_g2_into_g1", "move_edge", "populate", "split_g2"]
