"""Applying a publish plan (`impact.plan_moves`) in the caller's transaction: groups'
parents in the draft's rows, households' grid and group, workers' areas, open cases (with
a history step and an event each). `drafts.publish` calls this; nothing here commits.

Bulk writes: one executemany on SQLite; on PostgreSQL a COPY into a temporary table and
one UPDATE … FROM, so 50,000 households are one statement, not 50,000.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
    if conn.dialect.name != "postgresql":
        stmt = table.update().where(table.c[key] == sa.bindparam(f"k_{key}")).values(
            {c: sa.bindparam(f"v_{c}") for c in cols})
        conn.execute(stmt, [{f"k_{key}": k, **{f"v_{c}": v for c, v in zip(cols, vals,
                                                                            strict=True)}}
                            for k, *vals in rows[[key, *cols]].itertuples(index=False)])
        return
    tmp = f"tmp_{table.name}_moves"
    types = ", ".join(f"{c} {table.c[c].type.compile(conn.dialect)}" for c in [key, *cols])
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {tmp} ({types}) ON COMMIT DROP")
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY {tmp} ({key}, {', '.join(cols)}) FROM STDIN"
                                       ) as copy:
        for row in rows[[key, *cols]].itertuples(index=False):
            copy.write_row([None if pd.isna(v) else v for v in row])
    sets = ", ".join(f"{c} = m.{c}" for c in cols)
    conn.exec_driver_sql(f"UPDATE {table.name} t SET {sets} FROM {tmp} m "
                         f"WHERE t.{key} = m.{key}")
    conn.exec_driver_sql(f"DROP TABLE {tmp}")


def regroup(conn: sa.Connection, plan: Plan) -> None:
    """Give the draft's groups the parents the plan found, before the generations flip:
    a draft's own row is rewritten, a base row is replaced by the draft's copy."""
    if not plan.regroup:
        return
    rows = conn.execute(sa.select(areas).where(
        rows_in(conn, plan.draft), areas.c.level == "group",
        areas.c.code.in_(sorted(plan.regroup)))).mappings().all()
    copies = []
    for r in rows:
        parent = plan.regroup[r["code"]]
        if r["version_from"] == plan.draft:
            conn.execute(areas.update().where(areas.c.id == r["id"]).values(parent_code=parent))
        else:
            conn.execute(version_removals.insert().values(version_id=plan.draft,
                                                          area_id=r["id"]))
            copies.append({**{k: v for k, v in r.items() if k != "id"},
                           "parent_code": parent, "version_from": plan.draft,
                           "version_to": None})
    if copies:
        conn.execute(areas.insert(), copies)


def move_households(conn: sa.Connection, plan: Plan) -> int:
    hh = plan.households
    bulk_update(conn, households, "id", pd.DataFrame(
        {"id": hh["id"], "grid_code": hh["new_grid"], "group_code": hh["new_group"]}))
    return len(hh)


def move_workers(conn: sa.Connection, plan: Plan) -> list[list[Any]]:
    """Workers of a removed grid or group follow the area that took most of it. Returns
    the moves as [worker, from, to, already_there] for the audit record (rollback undoes
    them)."""
    if not plan.successors:
        return []
    rows = conn.execute(sa.select(workers.c.id, workers.c.code, worker_areas.c.area_code)
                        .join(worker_areas, worker_areas.c.worker_id == workers.c.id)
                        .where(worker_areas.c.area_code.in_(sorted(plan.successors)))).all()
    return [reassign_worker(conn, wid, code, area, plan.successors[area])
            for wid, code, area in rows]


def reassign_worker(conn: sa.Connection, worker_id: int, code: str, area: str, to: str
                    ) -> list[Any]:
    """Move one worker's area; if it already answers for `to`, just drop `area`."""
    there = conn.execute(sa.select(worker_areas.c.area_code).where(
        worker_areas.c.worker_id == worker_id, worker_areas.c.area_code == to)).first()
    mine = sa.and_(worker_areas.c.worker_id == worker_id, worker_areas.c.area_code == area)
    if there:
        conn.execute(worker_areas.delete().where(mine))
    else:
        conn.execute(worker_areas.update().where(mine).values(area_code=to))
    return [code, area, to, bool(there)]


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
