"""What a draft holds for each area code, read and set as one value (a *state*).

Why: undo and redo must put back exactly what was there, geometry to the last bit, and a
draft sees either its base version's row of an area, its own row, or nothing (a removal).
A state is one of:

- ``None``: the draft has no such area (never had, or removed it);
- ``{"base": area_id}``: the base version's row, untouched;
- ``{"row": {name, level, kind, parent_code, synthetic, geom}}``: the draft's own row,
  ``geom`` as hexadecimal WKB (exact).

`snapshot` reads states, `restore` makes the draft hold given states; every write of the
editor goes through `restore`, so the edit log's before/after are the whole truth.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
import sqlalchemy as sa

from geo_service.store.tables import areas, version_removals
from geo_service.versions.reading import AREA_COLUMNS, valid_in, valid_in_draft

State = dict[str, Any] | None
ROW_FIELDS = ("name", "level", "kind", "parent_code", "synthetic")


def snapshot(conn: sa.Connection, draft: int, base: int | None,
             codes: list[str] | set[str]) -> dict[str, State]:
    """The state of each code in the draft."""
    codes = sorted(set(codes))
    out: dict[str, State] = dict.fromkeys(codes)
    if not codes:
        return out
    removed = sa.select(version_removals.c.area_id).where(version_removals.c.version_id == draft)
    for r in conn.execute(sa.select(areas.c.id, areas.c.code).where(
            valid_in(base), areas.c.code.in_(codes), areas.c.id.not_in(removed))):
        out[r.code] = {"base": r.id}
    for r in conn.execute(sa.select(areas).where(areas.c.version_from == draft,
                                                 areas.c.code.in_(codes))):
        row = {f: r._mapping[f] for f in ROW_FIELDS}
        row["geom"] = shapely.to_wkb(r.geom, hex=True)
        out[r.code] = {"row": row}
    return out


def own_state(name: str, level: str, kind: str | None, parent_code: str | None,
              geom: Any, synthetic: bool = False) -> State:
    """The state of an area the draft writes itself (WGS84 MultiPolygon)."""
    if geom.geom_type == "Polygon":
        geom = shapely.MultiPolygon([geom])
    return {"row": {"name": name, "level": level, "kind": kind, "parent_code": parent_code,
                    "synthetic": bool(synthetic), "geom": shapely.to_wkb(geom, hex=True)}}


def restore(conn: sa.Connection, draft: int, base: int | None,
            states: dict[str, State]) -> None:
    """Make the draft hold exactly `states` for their codes (others untouched)."""
    codes = sorted(states)
    if not codes:
        return
    conn.execute(areas.delete().where(areas.c.version_from == draft, areas.c.code.in_(codes)))
    base_rows = conn.execute(sa.select(areas.c.id, areas.c.code).where(
        valid_in(base), areas.c.code.in_(codes))).all()
    kept = {s["base"] for s in states.values() if s and "base" in s}
    ids = [r.id for r in base_rows]
    if ids:
        conn.execute(version_removals.delete().where(version_removals.c.version_id == draft,
                                                     version_removals.c.area_id.in_(ids)))
        gone = [i for i in ids if i not in kept]
        if gone:
            conn.execute(version_removals.insert(),
                         [{"version_id": draft, "area_id": i} for i in gone])
    rows = [{**s["row"], "code": code, "geom": shapely.from_wkb(s["row"]["geom"]),
             "version_from": draft, "version_to": None}
            for code, s in states.items() if s and "row" in s]
    if rows:
        conn.execute(areas.insert(), rows)


def frame(conn: sa.Connection, draft: int, base: int | None, *, level: str | None = None,
          parents: set[str] | None = None, codes: set[str] | None = None
          ) -> gpd.GeoDataFrame:
    """The draft's areas (of `level`, with a parent in `parents`, among `codes`) as a
    GeoDataFrame sorted by code, with `changed`: the draft's own row."""
    q = sa.select(*(areas.c[c] for c in AREA_COLUMNS), areas.c.version_from, areas.c.geom
                  ).where(valid_in_draft(draft, base))
    if level is not None:
        q = q.where(areas.c.level == level)
    if parents is not None:
        q = q.where(areas.c.parent_code.in_(sorted(parents)))
    if codes is not None:
        q = q.where(areas.c.code.in_(sorted(codes)))
    rows = conn.execute(q.order_by(areas.c.code)).all()
    df = pd.DataFrame([r[:-2] for r in rows], columns=list(AREA_COLUMNS))
    df["changed"] = [r[-2] == draft for r in rows]
    return gpd.GeoDataFrame(df, geometry=[r[-1] for r in rows], crs="EPSG:4326")


def parent_of(conn: sa.Connection, draft: int, base: int | None, code: str
              ) -> tuple[bool, str | None]:
    """(whether the draft holds `code`, its parent code)."""
    row = conn.execute(sa.select(areas.c.parent_code).where(
        valid_in_draft(draft, base), areas.c.code == code)).first()
    return (row is not None, row.parent_code if row else None)
