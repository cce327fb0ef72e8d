"""The history of boundary versions: who published what, when, with what counts; the diff
between any two versions; rolling back to an earlier one through the one publish path.

A diff reads only the rows the two versions do not share (rows are never edited, so a
shared row is the same area in both), then compares those by code with
`boundaries.diff`. A rollback is a new draft holding exactly the earlier version's rows
(its rows still live are kept, the others copied), published like any draft; the worker
moves recorded by the publishes since are undone first.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
import sqlalchemy as sa

from boundaries.diff import diff_areas
from boundaries.levels import LEVELS, check_level
from geo_service.errors import Conflict
from geo_service.scope import EVERYTHING, Scope
from geo_service.store.tables import (
    areas,
    audit_log,
    boundary_versions,
    version_removals,
    worker_areas,
    workers,
)
from geo_service.versions.drafts import Published, create_draft, live_version, publish, versions
from geo_service.versions.impact import chain_of, directory, from_wkb, wkb
from geo_service.versions.reading import UnknownVersion, rows_in, valid_in

KINDS = ("added", "removed", "renamed", "reparented", "reshaped")


def _publishes(conn: sa.Connection) -> dict[str, dict[str, Any]]:
    """Each published version's audit record (the newest per version): who, what moved."""
    rows = conn.execute(sa.select(audit_log.c.target, audit_log.c.actor, audit_log.c.detail)
                        .where(audit_log.c.action == "publish_version")
                        .order_by(audit_log.c.id))
    return {t: {"actor": a, **(d or {})} for t, a, d in rows}


def version_history(conn: sa.Connection, *, drafts: bool) -> list[dict[str, Any]]:
    """Every version (drafts only with `drafts`), oldest first, with who published it,
    how many areas it holds per level and how many households its publish moved."""
    done = _publishes(conn)
    out = []
    for v in versions(conn, drafts=drafts):
        counts = dict(conn.execute(sa.select(areas.c.level, sa.func.count())
                                   .where(rows_in(conn, v["id"])).group_by(areas.c.level)
                                   ).all())
        record = done.get(str(v["id"]), {})
        out.append({**v, "published_by": record.get("actor"),
                    "counts": {lv: counts.get(lv, 0) for lv in LEVELS},
                    "households_moved": record.get("households_moved"),
                    "cases_moved": record.get("cases_moved")})
    return out


def _frame(conn: sa.Connection, ids: list[int]) -> gpd.GeoDataFrame:
    rows = []
    for start in range(0, len(ids), 5000):
        rows += conn.execute(sa.select(areas.c.code, areas.c.name, areas.c.level,
                                       areas.c.parent_code, wkb(conn, areas.c.geom))
                             .where(areas.c.id.in_(ids[start:start + 5000]))).all()
    df = pd.DataFrame(rows, columns=["code", "name", "level", "parent_code", "wkb"])
    geoms = from_wkb(df.pop("wkb")) if len(df) else []
    return gpd.GeoDataFrame(df, geometry=list(geoms), crs="EPSG:4326")


def diff_frames(conn: sa.Connection, a: int, b: int, level: str | None = None
                ) -> tuple[dict[str, Any], gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The diff of versions `a` → `b` (each entry with its level) and the rows behind it."""
    def ids(v: int) -> set[int]:
        q = sa.select(areas.c.id).where(rows_in(conn, v))
        if level is not None:
            q = q.where(areas.c.level == check_level(level))
        return set(conn.execute(q).scalars())

    ids_a, ids_b = ids(a), ids(b)
    old, new = _frame(conn, sorted(ids_a - ids_b)), _frame(conn, sorted(ids_b - ids_a))
    out: dict[str, Any] = {k: [] for k in KINDS}
    out["unchanged"] = len(ids_a & ids_b)
    for lv in LEVELS:
        o, n = old[old.level == lv], new[new.level == lv]
        if not len(o) and not len(n):
            continue
        d = diff_areas(o.reset_index(drop=True), n.reset_index(drop=True)).to_dict()
        for k in KINDS:
            out[k] += [{"level": lv, **e} for e in d[k]]
        out["unchanged"] += d["unchanged"]
    return out, old, new


def diff_versions(conn: sa.Connection, a: int, b: int, *, level: str | None = None,
                  scope: Scope = EVERYTHING) -> dict[str, Any]:
    """What changed from version `a` to `b`: added, removed, renamed, reparented and
    reshaped areas (codes, names, areas in m²), limited to the caller's scope."""
    return _scoped(conn, a, b, diff_frames(conn, a, b, level)[0], scope)


def _scoped(conn: sa.Connection, a: int, b: int, diff: dict[str, Any],
            scope: Scope) -> dict[str, Any]:
    if scope.area is None:
        return diff
    dir_a, dir_b = directory(conn, a), directory(conn, b)

    def inside(code: str) -> bool:
        return scope.area in chain_of(dir_a, code) + chain_of(dir_b, code)

    return {k: [e for e in v if inside(e["code"])] if isinstance(v, list) else v
            for k, v in diff.items()}


def diff_geojson(conn: sa.Connection, a: int, b: int, *, level: str | None = None,
                 scope: Scope = EVERYTHING) -> dict[str, Any]:
    """The diff as a FeatureCollection: each added, removed or reshaped area with its
    outline (the removed one's old outline) and `change`."""
    diff, old, new = diff_frames(conn, a, b, level)
    diff = _scoped(conn, a, b, diff, scope)
    shapes = {("old", c): g for c, g in zip(old["code"], old.geometry, strict=True)}
    shapes |= {("new", c): g for c, g in zip(new["code"], new.geometry, strict=True)}
    feats = []
    for change, side in (("added", "new"), ("removed", "old"), ("reshaped", "new")):
        for e in diff[change]:
            feats.append({"type": "Feature", "id": e["code"],
                          "geometry": shapely.geometry.mapping(shapes[side, e["code"]]),
                          "properties": {"change": change, **e}})
    return {"type": "FeatureCollection", "features": feats}


def undo_worker_moves(conn: sa.Connection, after: int) -> list[list[Any]]:
    """Undo, newest first, the worker moves recorded by the publishes of versions after
    `after` (rolling back to it); returns the moves made, recorded the same way:
    [worker, from, to, kept] (`to` None: `from` was dropped, the worker keeping its other
    areas; `from` None: `to` was added; `kept`: the worker answered for `to` already)."""
    rows = conn.execute(sa.select(audit_log.c.target, audit_log.c.detail)
                        .where(audit_log.c.action == "publish_version")
                        .order_by(audit_log.c.id.desc())).all()
    done: list[list[Any]] = []
    for target, detail in rows:
        if not target.isdigit() or int(target) <= after:
            continue
        for code, src, dst, was_there in reversed((detail or {}).get("worker_moves", [])):
            wid = conn.execute(sa.select(workers.c.id).where(workers.c.code == code)).scalar()
            if wid is None:
                continue
            has = set(conn.execute(sa.select(worker_areas.c.area_code).where(
                worker_areas.c.worker_id == wid)).scalars())
            if dst not in has or (src is not None and src in has):
                continue
            mine = sa.and_(worker_areas.c.worker_id == wid, worker_areas.c.area_code == dst)
            if src is None:  # the move gave the worker `dst` besides its other areas
                conn.execute(worker_areas.delete().where(mine))
                done.append([code, dst, None, True])
            elif was_there:  # it answered for `dst` already and lost `src`
                conn.execute(worker_areas.insert().values(worker_id=wid, area_code=src))
                done.append([code, None, src, False])
            else:
                conn.execute(worker_areas.update().where(mine).values(area_code=src))
                done.append([code, dst, src, False])
    return done


def rollback(conn: sa.Connection, target: int, actor: str, note: str = "", *,
             scope: Scope = EVERYTHING) -> Published:
    """Make an earlier published version's areas live again as a new version, through the
    one publish path (households, groups, workers' areas and open cases follow)."""
    state = conn.execute(sa.select(boundary_versions.c.state).where(
        boundary_versions.c.id == target)).scalar()
    if state is None or state == "draft":
        raise UnknownVersion(f"boundary version {target} does not exist or is not published")
    live = live_version(conn)
    if target == live:
        raise Conflict(f"version {target} is live already", "id")
    draft = create_draft(conn, actor, note or f"rollback to version {target}")
    now_ids = set(conn.execute(sa.select(areas.c.id).where(valid_in(live))).scalars())
    then_ids = set(conn.execute(sa.select(areas.c.id).where(valid_in(target))).scalars())
    gone = sorted(now_ids - then_ids)
    if gone:
        conn.execute(version_removals.insert(),
                     [{"version_id": draft, "area_id": i} for i in gone])
    back = sorted(then_ids - now_ids)
    cols = [c for c in areas.columns if c.name not in ("id", "version_from", "version_to")]
    for start in range(0, len(back), 5000):
        conn.execute(areas.insert().from_select(
            [*(c.name for c in cols), "version_from"],
            sa.select(*cols, sa.literal(draft)).where(areas.c.id.in_(back[start:start + 5000]))))
    return publish(conn, draft, actor, note=note or f"rollback to version {target}",
                   undo_after=target, scope=scope)
