"""Applying a publish plan (`impact.plan_moves`) in the caller's transaction: groups'
parents in the draft's rows, households' grid and group, workers' areas, open cases (with
a history step and an event each). `drafts.publish` calls this; nothing here commits.

Bulk writes: one executemany on SQLite; on PostgreSQL a COPY into a temporary table and
one UPDATE … FROM, so 50,000 households are one statement, not 50,000.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from geo_service.cases.model import rank
from geo_service.cases.records import record_step, update_report, utc_times
from geo_service.events import ReportChanged
from geo_service.store.tables import (
    areas,
    households,
    reports,
    version_removals,
    worker_areas,
    workers,
)
from geo_service.versions.impact import CHAIN, Plan
from geo_service.versions.reading import rows_in

STEP = "boundary_changed"  # the history action of a case a publish moved


def bulk_update(conn: sa.Connection, table: sa.Table, key: str, rows: pd.DataFrame) -> None:
    """UPDATE `table` SET each other column of `rows` WHERE `key` matches, for every row."""
    if not len(rows):
        return
    cols = [c for c in rows.columns if c != key]
    if conn.dialect.name != "postgresql":  # plain tuples: no per-row statement building
        sets = ", ".join(f"{c} = ?" for c in cols)
        conn.exec_driver_sql(f"UPDATE {table.name} SET {sets} WHERE {key} = ?",
                             list(zip(*_plain(rows, [*cols, key]), strict=True)))
        return
    tmp = f"tmp_{table.name}_moves"
    types = ", ".join(f"{c} {table.c[c].type.compile(conn.dialect)}" for c in [key, *cols])
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {tmp} ({types}) ON COMMIT DROP")
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY {tmp} ({key}, {', '.join(cols)}) FROM STDIN"
                                       ) as copy:
        for row in zip(*_plain(rows, [key, *cols]), strict=True):
            copy.write_row(row)
    sets = ", ".join(f"{c} = m.{c}" for c in cols)
    conn.exec_driver_sql(f"UPDATE {table.name} t SET {sets} FROM {tmp} m "
                         f"WHERE t.{key} = m.{key}")
    conn.exec_driver_sql(f"DROP TABLE {tmp}")


def _plain(rows: pd.DataFrame, cols: list[str]) -> list[list[Any]]:
    """Columns as Python lists with None for missing values (what drivers take)."""
    out = []
    for c in cols:
        values = rows[c].to_numpy(dtype=object, copy=True)
        values[pd.isna(values)] = None
        out.append([int(v) if isinstance(v, np.integer) else v for v in values])
    return out


def regroup(conn: sa.Connection, plan: Plan) -> None:
    """Give the draft's groups the parents the plan found, before the generations flip:
    a draft's own row is rewritten, a base row is replaced by the draft's copy."""
    if not plan.regroup:
        return
    rows = conn.execute(sa.select(areas.c.id, areas.c.code, areas.c.version_from).where(
        rows_in(conn, plan.draft), areas.c.level == "group",
        areas.c.code.in_(sorted(plan.regroup)))).all()
    base = sorted(i for i, _, v in rows if v != plan.draft)
    if base:  # copied into the draft (inserted from the rows themselves: no decoding)
        conn.execute(version_removals.insert(),
                     [{"version_id": plan.draft, "area_id": i} for i in base])
        cols = [c for c in areas.columns if c.name not in ("id", "version_from",
                                                            "version_to")]
        for start in range(0, len(base), 5000):
            conn.execute(areas.insert().from_select(
                [*(c.name for c in cols), "version_from"],
                sa.select(*cols, sa.literal(plan.draft)).where(
                    areas.c.id.in_(base[start:start + 5000]))))
    conn.execute(areas.update().where(
        areas.c.version_from == plan.draft, areas.c.level == "group",
        areas.c.code == sa.bindparam("c")).values(parent_code=sa.bindparam("p")),
        [{"c": c, "p": p} for c, p in plan.regroup.items()])


def move_households(conn: sa.Connection, plan: Plan) -> int:
    hh = plan.households
    bulk_update(conn, households, "id", pd.DataFrame(
        {"id": hh["id"], "grid_code": hh["new_grid"], "group_code": hh["new_group"]}))
    return len(hh)


def move_workers(conn: sa.Connection, plan: Plan) -> list[list[Any]]:
    """Workers of a removed grid or group follow the area that took most of it (a worker
    already answering for that area just loses the removed one). Returns the moves as
    [worker, from, to, kept] for the audit record (rollback undoes them)."""
    if not plan.successors:
        return []
    rows = conn.execute(sa.select(workers.c.id, workers.c.code, worker_areas.c.area_code)
                        .join(worker_areas, worker_areas.c.worker_id == workers.c.id)
                        .where(worker_areas.c.area_code.in_(sorted(plan.successors)))).all()
    ids = sorted({r[0] for r in rows})
    has: set[tuple[int, str]] = set()
    for start in range(0, len(ids), 5000):
        has |= {tuple(r) for r in conn.execute(sa.select(
            worker_areas.c.worker_id, worker_areas.c.area_code).where(
            worker_areas.c.worker_id.in_(ids[start:start + 5000])))}
    drop, move, moves = [], [], []
    for wid, code, area in sorted(rows, key=lambda r: (r[1], r[2])):
        to = plan.successors[area]
        kept = (wid, to) in has
        (drop if kept else move).append({"w": wid, "a": area, "t": to})
        has.add((wid, to))
        moves.append([code, area, to, kept])
    mine = sa.and_(worker_areas.c.worker_id == sa.bindparam("w"),
                   worker_areas.c.area_code == sa.bindparam("a"))
    if drop:
        conn.execute(worker_areas.delete().where(mine), drop)
    if move:
        conn.execute(worker_areas.update().where(mine).values(area_code=sa.bindparam("t")),
                     move)
    return moves


def move_cases(conn: sa.Connection, plan: Plan, version: int, actor: str,
               now: datetime) -> int:
    """Each open case the plan moves gets its new grid, group and chain; an owner at grid
    level moves to the new grid, one at a higher level to the new chain's area there (in no
    grid: the township it keeps). One history step and one event per case."""
    if not len(plan.cases):
        return 0
    seqs = [int(s) for s in plan.cases["seq"]]
    rows = {r.seq: utc_times(dict(r._mapping)) for r in conn.execute(
        sa.select(reports).where(reports.c.seq.in_(seqs)))}
    for c in plan.cases.to_dict("records"):
        row = rows[c["seq"]]
        codes = {"grid": c["new_grid"], "group": c["new_group"],
                 **{lv: c[f"new_{lv}"] for lv in CHAIN}}
        changes: dict[str, Any] = {f"{lv}_code": code for lv, code in codes.items()}
        changes["updated_at"] = now
        changes["boundary_version"] = version
        level = row["owner_level"]
        if c["new_grid"] is None:
            changes["outside"] = True
            if level == "grid":
                level = "township"
        elif row["outside"]:
            changes.update(outside=False, nearest_m=None)
        owner = codes.get(level) or row["owner_code"]
        changes.update(owner_level=level, owner_code=owner,
                       peak_rank=min(row["peak_rank"], rank(level)))
        new = update_report(conn, row, changes)
        record_step(conn, new, ReportChanged, actor=actor, action=STEP,
                    previous=row["status"], now=now,
                    note=f"boundary version {version}: grid {c['grid_code'] or '-'} → "
                         f"{c['new_grid'] or '-'}")
    return len(seqs)
