"""Households: read a roster, check every row, assign each to its grid and group in bulk.

Rows with bad coordinates are rejected one by one with a reason; the others go in together
in one transaction. Assignment is one vectorized call on the grid index, not a query per
household.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa

from boundaries.crs import normalize_crs, to_wgs84
from geo_service.audit import audit
from geo_service.index import GridIndex
from geo_service.privacy import household_view, person_view
from geo_service.scope import EVERYTHING, Scope
from geo_service.store.tables import households

if TYPE_CHECKING:  # the versions import this module (households follow a publish)
    from geo_service.versions.snapshot import VersionIndex

COLUMNS = ("code", "address", "head_name", "phone", "members", "care_tags")
_ALIASES = {"lon": ("lon", "lng", "longitude", "x"), "lat": ("lat", "latitude", "y")}


@dataclass(frozen=True)
class RowProblem:
    """One rejected row: its 1-based record number, the field, the value, the reason."""

    row: int
    field: str
    value: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "value": self.value,
                "reason": self.reason}


@dataclass
class HouseholdImport:
    rows: int = 0
    accepted: int = 0
    rejected: list[RowProblem] = field(default_factory=list)
    written: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "accepted": self.accepted, "written": self.written,
                "error": self.error, "rejected": [p.to_dict() for p in self.rejected]}


def read_roster(source: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """The roster as text columns plus raw `_lon`/`_lat`; a CSV, an OGR point file, or a
    frame already in memory (the demo) — all go through the same checks."""
    if isinstance(source, pd.DataFrame) or Path(source).suffix.lower() == ".csv":
        df = (source.astype(str) if isinstance(source, pd.DataFrame) else
              pd.read_csv(source, dtype=str, keep_default_na=False, encoding="utf-8-sig"))
        cols = {c.lower().strip(): c for c in df.columns}
        for target, names in _ALIASES.items():
            src = next((cols[n] for n in names if n in cols), None)
            if src is None:
                raise ValueError(f"column {target!r} missing (accepted: {', '.join(names)})")
            df[f"_{target}"] = df[src]
        return df, None
    gdf = gpd.read_file(source, engine="pyogrio")
    if not gdf.geom_type.isin(["Point"]).all():
        raise ValueError("household files must hold points")
    df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).astype(str)
    df["_lon"], df["_lat"] = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
    return df, gdf.crs.to_string() if gdf.crs else None


def check_coordinates(raw_x: pd.Series, raw_y: pd.Series, crs: str, index: GridIndex
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, str, str]]]:
    """WGS84 lon/lat, grid positions and (row position, field, reason) for bad rows."""
    x = pd.to_numeric(raw_x, errors="coerce").to_numpy(dtype=np.float64)
    y = pd.to_numeric(raw_y, errors="coerce").to_numpy(dtype=np.float64)
    bad: list[tuple[int, str, str]] = []
    for name, vals in (("lon", x), ("lat", y)):
        for i in np.flatnonzero(~np.isfinite(vals)):
            bad.append((int(i), name, "not a finite number"))
    lon, lat = to_wgs84(x, y, crs)
    grid = index.assign(lon, lat)
    finite = np.isfinite(lon) & np.isfinite(lat)
    out_of_range = finite & ((np.abs(lat) > 90) | (np.abs(lon) > 180))
    missing = np.flatnonzero(finite & (grid < 0))
    swapped_grid = index.assign(lat[missing], lon[missing]) if missing.size else missing
    for i, sg in zip(missing, swapped_grid, strict=True):
        if sg >= 0:
            bad.append((int(i), "lon", "latitude and longitude look swapped: "
                        f"({x[i]}, {y[i]}) falls in grid {index.codes[sg]} when swapped"))
        elif out_of_range[i]:
            bad.append((int(i), "lat", "out of range: latitude must be within ±90 and "
                        "longitude within ±180"))
        else:
            bad.append((int(i), "lon", "outside every grid of the live boundary version"))
    return lon, lat, grid, bad


def import_households(conn: sa.Connection, source: str | Path | pd.DataFrame,
                      grids: GridIndex, groups: GridIndex | None, *, crs: str | None = None,
                      dry_run: bool = False, actor: str = "cli") -> HouseholdImport:
    """Check, assign and store a roster in the caller's transaction; bad rows are
    reported, the rest written at once (and the import audited)."""
    result = HouseholdImport()
    try:
        df, file_crs = read_roster(source)
        crs = normalize_crs(crs or file_crs or "EPSG:4326")
    except Exception as exc:
        name = "roster" if isinstance(source, pd.DataFrame) else Path(source).name
        result.error = f"cannot read {name}: {exc}"
        return result
    result.rows = len(df)
    lon, lat, grid, bad = check_coordinates(df["_lon"], df["_lat"], crs, grids)
    codes = df.get("code", pd.Series([""] * len(df))).astype(str).str.strip()
    for i in np.flatnonzero((codes == "").to_numpy()):
        bad.append((int(i), "code", "missing household code"))
    for i in np.flatnonzero(codes.duplicated(keep="first").to_numpy()):
        bad.append((int(i), "code", "duplicate household code in this file"))
    members = pd.to_numeric(df.get("members", pd.Series(["1"] * len(df))).replace("", "1"),
                            errors="coerce")
    for i in np.flatnonzero((members.isna() | (members < 0) | (members % 1 != 0)).to_numpy()):
        bad.append((int(i), "members", "members must be a whole number ≥ 0"))
    first: dict[int, tuple[str, str]] = {}  # one problem per row is enough to act on
    for i, fld, reason in sorted(bad):
        first.setdefault(i, (fld, reason))
    for i, (fld, reason) in first.items():
        raw = {"lon": df["_lon"], "lat": df["_lat"]}.get(fld, df.get(fld, codes))
        result.rejected.append(RowProblem(i + 1, fld, str(raw.iloc[i]), reason))
    keep = np.setdiff1d(np.arange(len(df)), np.fromiter(first, dtype=np.int64))
    result.accepted = int(keep.size)
    if dry_run or not keep.size:
        return result
    group = groups.assign(lon[keep], lat[keep]) if groups is not None else None
    frame = pd.DataFrame({
        "code": codes.to_numpy()[keep],
        **{c: df[c].to_numpy()[keep] if c in df else "" for c in
           ("address", "head_name", "phone", "care_tags")},
        "members": members.to_numpy()[keep].astype(np.int64),
        "grid_code": grids.codes_of(grid[keep]),
        "group_code": groups.codes_of(group) if group is not None else None,
        "geom": shapely.points(lon[keep], lat[keep]),
    })
    store_households(conn, frame)
    name = "roster" if isinstance(source, pd.DataFrame) else Path(source).name
    audit(conn, actor, "import_households", name, rows=result.rows, accepted=result.accepted,
          rejected=len(result.rejected))
    result.written = True
    return result


def store_households(conn: sa.Connection, frame: pd.DataFrame) -> None:
    """Replace households with these codes by these rows (COPY on PostgreSQL)."""
    codes = frame["code"].tolist()
    for start in range(0, len(codes), 10_000):
        conn.execute(households.delete().where(
            households.c.code.in_(codes[start:start + 10_000])))
    cols = ["code", "address", "grid_code", "group_code", "head_name", "phone", "members",
            "care_tags", "geom"]
    pts = frame["geom"].to_numpy()
    if conn.dialect.name == "postgresql":
        buf = frame[cols].assign(geom=shapely.to_wkb(
            shapely.set_srid(pts, 4326), hex=True, include_srid=True))
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(
                f"COPY households ({', '.join(cols)}) FROM STDIN") as copy:
            for row in buf.itertuples(index=False):
                copy.write_row(row)
        return
    conn.execute(households.insert(),
                 frame[cols].assign(geom=shapely.to_wkb(pts)).to_dict("records"))


def reassign_households(conn: sa.Connection, grids: GridIndex,
                        groups: GridIndex | None) -> int:
    """Re-derive every household's grid and group after boundaries changed; returns how
    many rows changed."""
    rows = conn.execute(sa.select(households.c.id, households.c.grid_code,
                                  households.c.group_code, households.c.geom)).all()
    if not rows:
        return 0
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    pts = np.array([r[3] for r in rows], dtype=object)
    lon, lat = shapely.get_x(pts), shapely.get_y(pts)
    new_grid = grids.codes_of(grids.assign(lon, lat))
    new_group = (groups.codes_of(groups.assign(lon, lat)) if groups is not None
                 else np.full(len(rows), None, dtype=object))
    old_grid = np.array([r[1] for r in rows], dtype=object)
    old_group = np.array([r[2] for r in rows], dtype=object)
    changed = np.flatnonzero((new_grid != old_grid) | (new_group != old_group))
    if changed.size:
        conn.execute(
            households.update().where(households.c.id == sa.bindparam("hid"))
            .values(grid_code=sa.bindparam("g"), group_code=sa.bindparam("p")),
            [{"hid": int(ids[i]), "g": new_grid[i], "p": new_group[i]} for i in changed],
        )
    return int(changed.size)


def household_page(conn: sa.Connection, vi: VersionIndex, code: str, role: str, *,
                   scope: Scope = EVERYTHING, page: int = 1, per_page: int = 100
                   ) -> dict[str, Any]:
    """Households in an area (any level) and in the caller's scope, paged; what each role
    may see of them is `privacy`'s decision."""
    info = vi.area(code)
    if info.level in ("grid", "group"):
        where = households.c[f"{info.level}_code"] == code
    else:  # every grid below this area
        grids = [c for c, a in vi.areas.items() if a.level == "grid"
                 and any(x.code == code for x in vi.chain(c))]
        where = households.c.grid_code.in_(grids)
    inside = scope.grid_codes(vi)
    if inside is not None:
        where = sa.and_(where, households.c.grid_code.in_(inside))
    total = conn.execute(sa.select(sa.func.count()).select_from(households).where(where)
                         ).scalar()
    rows = conn.execute(sa.select(households).where(where).order_by(households.c.code)
                        .limit(per_page).offset((page - 1) * per_page)).all()
    villages = {g: next((a.name for a in vi.chain(g) if a.level == "village"), None)
                for g in {r.grid_code for r in rows}}
    items = [{"code": r.code, "grid_code": r.grid_code, "group_code": r.group_code,
              "members": r.members,
              **household_view(r.address, r.geom.x, r.geom.y, r.care_tags, role,
                               village=villages[r.grid_code]),
              "head": person_view(r.head_name, r.phone, role)} for r in rows]
    return {"area": code, "page": page, "per_page": per_page, "total": total,
            "households": items}
