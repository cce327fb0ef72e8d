"""The area registry: boundary versions and the areas valid in each.

One import core serves the CLI, the API and the editor: read, validate everything, and
write nothing unless asked — then all of it in one transaction, or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
import sqlalchemy as sa

from boundaries.files import read_areas
from boundaries.levels import LEVELS, check_level, parent_level
from boundaries.validate import Report, validate_areas

from .households import reassign_households
from .index import GridIndex
from .models import areas, audit_log, boundary_versions

AREA_COLUMNS = ("code", "name", "level", "kind", "parent_code", "synthetic")


class RegistryError(Exception):
    """A request the registry cannot honour (unknown version, stale draft...)."""


def now() -> datetime:
    return datetime.now(UTC)


def audit(conn: sa.Connection, actor: str, action: str, target: str = "",
          **detail: Any) -> None:
    """Append one line to the audit log (inside the caller's transaction)."""
    conn.execute(audit_log.insert().values(at=now(), actor=actor, action=action,
                                           target=target, detail=detail))


# -- versions ---------------------------------------------------------------------------
def live_version(conn: sa.Connection) -> int | None:
    """Id of the live boundary version, or None before anything was published."""
    return conn.execute(sa.select(boundary_versions.c.id)
                        .where(boundary_versions.c.state == "live")).scalar()


def versions(conn: sa.Connection) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(boundary_versions).order_by(boundary_versions.c.id))
    return [dict(r._mapping) for r in rows]


def resolve_version(conn: sa.Connection, version: int | None) -> int:
    """`version` if it exists and was published (or the live one when None)."""
    if version is None:
        live = live_version(conn)
        if live is None:
            raise RegistryError("no boundary version has been published yet")
        return live
    state = conn.execute(sa.select(boundary_versions.c.state)
                         .where(boundary_versions.c.id == version)).scalar()
    if state is None:
        raise RegistryError(f"boundary version {version} does not exist")
    return version


def create_draft(conn: sa.Connection, author: str, note: str = "") -> int:
    return conn.execute(boundary_versions.insert().values(
        state="draft", author=author, note=note, created_at=now())).inserted_primary_key[0]


def publish(conn: sa.Connection, version: int, actor: str) -> None:
    """Make a draft live; the previous live version retires. Refuses stale drafts."""
    state = conn.execute(sa.select(boundary_versions.c.state)
                         .where(boundary_versions.c.id == version)).scalar()
    if state != "draft":
        raise RegistryError(f"version {version} is {state or 'missing'}, not a draft")
    live = live_version(conn)
    if live is not None and live > version:
        raise RegistryError(f"draft {version} is older than live version {live}; "
                            "import again on top of the live version")
    conn.execute(boundary_versions.update().where(boundary_versions.c.state == "live")
                 .values(state="retired"))
    conn.execute(boundary_versions.update().where(boundary_versions.c.id == version)
                 .values(state="live", published_at=now()))
    audit(conn, actor, "publish_version", str(version))


def valid_in(version: int) -> sa.ColumnElement[bool]:
    """Rows of `areas` valid in `version` (MapIt-style generation range)."""
    return sa.and_(areas.c.version_from <= version,
                   sa.or_(areas.c.version_to.is_(None), areas.c.version_to > version))


# -- reading ----------------------------------------------------------------------------
def area_frame(conn: sa.Connection, version: int, level: str | None = None,
               codes: list[str] | None = None) -> gpd.GeoDataFrame:
    """Areas valid in `version` as a GeoDataFrame (EPSG:4326), optionally one level."""
    q = sa.select(*(areas.c[c] for c in AREA_COLUMNS), areas.c.geom).where(valid_in(version))
    if level is not None:
        q = q.where(areas.c.level == check_level(level))
    if codes is not None:
        q = q.where(areas.c.code.in_(codes))
    rows = conn.execute(q.order_by(areas.c.code)).all()
    df = pd.DataFrame([r[:-1] for r in rows], columns=list(AREA_COLUMNS))
    return gpd.GeoDataFrame(df, geometry=[r[-1] for r in rows], crs="EPSG:4326")


def layer(conn: sa.Connection, version: int, level: str) -> tuple[list[str], list[Any]]:
    """Codes and geometries of one level, for building an index."""
    rows = conn.execute(sa.select(areas.c.code, areas.c.geom)
                        .where(valid_in(version), areas.c.level == level)).all()
    return [r[0] for r in rows], [r[1] for r in rows]


@dataclass(frozen=True)
class AreaInfo:
    code: str
    name: str
    level: str
    kind: str | None
    parent_code: str | None


@dataclass(frozen=True)
class VersionIndex:
    """Everything a lookup needs about one boundary version, held in memory."""

    version: int
    grids: GridIndex
    groups: GridIndex
    areas: dict[str, AreaInfo]
    # Pre-encoded parts of lookup answers (orjson fragments by (grid, group)), filled when
    # the index is built (`lookup.encode_answers`): a single lookup then copies bytes
    # instead of building and encoding dicts.
    json: dict[tuple[str, str | None], Any] = field(default_factory=dict, compare=False,
                                                   repr=False)

    def chain(self, code: str | None) -> list[AreaInfo]:
        """The area and its ancestors, up to the prefecture."""
        out: list[AreaInfo] = []
        while code and (info := self.areas.get(code)) and len(out) < len(LEVELS):
            out.append(info)
            code = info.parent_code
        return out


def build_indexes(conn: sa.Connection, version: int, *, raster: bool = True
                  ) -> VersionIndex:
    """The grid and ten-household-group indexes and the area directory of one version
    (`raster=False`: plain indexes, see GridIndex)."""
    grids, groups = (GridIndex(*layer(conn, version, lvl), version=version, level=lvl,
                               raster=raster)
                     for lvl in ("grid", "group"))
    rows = conn.execute(sa.select(areas.c.code, areas.c.name, areas.c.level, areas.c.kind,
                                  areas.c.parent_code).where(valid_in(version)))
    return VersionIndex(version, grids, groups, {r[0]: AreaInfo(*r) for r in rows})


# -- importing --------------------------------------------------------------------------
@dataclass
class ImportResult:
    """What an import found and (unless dry-run or failed) did."""

    report: Report
    level: str
    features: int = 0
    version: int | None = None
    written: bool = False
    replaced: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "features": self.features, "version": self.version,
                "written": self.written, "replaced": len(self.replaced),
                **self.report.to_dict()}


def stage_level(conn: sa.Connection, draft: int, gdf: gpd.GeoDataFrame, level: str, *,
                tolerance_m: float, repair: bool = False) -> ImportResult:
    """Validate one level against its parents as seen in `draft`; if clean, write it there.

    The layer replaces, in the draft, the areas with the same codes and every area of the
    level whose parent the file mentions (a planner redraws a village's grids as a whole).
    """
    check_level(level)
    up = parent_level(level)
    parents = area_frame(conn, draft, up) if up else None
    cleaned, report = validate_areas(gdf, level=level, parents=parents,
                                     tolerance_m=tolerance_m, repair=repair)
    result = ImportResult(report=report, level=level, features=len(gdf), version=draft)
    if not report.ok:
        return result
    codes = [str(c) for c in cleaned["code"]]
    parent_codes = sorted({p for p in cleaned["parent_code"].dropna().astype(str)})
    old = sa.and_(valid_in(draft), areas.c.level == level, areas.c.version_from < draft,
                  sa.or_(areas.c.code.in_(codes), areas.c.parent_code.in_(parent_codes)))
    result.replaced = list(conn.execute(sa.select(areas.c.code).where(old)).scalars())
    conn.execute(areas.update().where(old).values(version_to=draft))
    conn.execute(areas.delete().where(areas.c.version_from == draft, areas.c.level == level,
                                      areas.c.code.in_(codes)))
    synthetic = cleaned["synthetic"] if "synthetic" in cleaned else [False] * len(cleaned)
    rows = [
        {"code": code, "name": str(name or code), "level": level,
         "kind": None if pd.isna(kind) else str(kind),
         "parent_code": None if pd.isna(parent) else str(parent),
         "synthetic": bool(syn), "version_from": draft, "version_to": None,
         "geom": shapely.to_wkb(geom)}
        for code, name, kind, parent, syn, geom in zip(
            codes, cleaned["name"], cleaned["kind"], cleaned["parent_code"], synthetic,
            cleaned.geometry, strict=True)
    ]
    if rows:
        conn.execute(areas.insert(), rows)
    result.written = True
    return result


def import_areas(engine: sa.Engine, source: str | gpd.GeoDataFrame, level: str, *,
                 author: str, crs: str | None = None, repair: bool = False,
                 dry_run: bool = True, publish_now: bool = True, tolerance_m: float = 5.0,
                 note: str = "", fields: dict[str, str] | None = None) -> ImportResult:
    """Import one level from a file (or frame) as a new boundary version, all or nothing.

    Dry-run by default: the transaction is rolled back whatever happens, so the report is
    the same one a real import would give.
    """
    check_level(level)
    if isinstance(source, gpd.GeoDataFrame):
        gdf, read_problems = source, []
    else:
        gdf, read_problems = read_areas(source, crs=crs, **(fields or {}))
    if read_problems and any(p.fatal for p in read_problems):
        return ImportResult(report=Report(list(read_problems)), level=level,
                            features=len(gdf))
    with engine.connect() as conn, conn.begin() as tx:
        draft = create_draft(conn, author, note or f"import {level}")
        result = stage_level(conn, draft, gdf, level, tolerance_m=tolerance_m, repair=repair)
        result.report.problems[:0] = read_problems
        if not result.report.ok or dry_run:
            tx.rollback()  # the draft row and everything staged in it go too
            result.written, result.version = False, None
            return result
        audit(conn, author, "import_areas", level, features=len(gdf), version=draft,
              replaced=len(result.replaced))
        if publish_now:
            publish_and_reassign(conn, draft, author)
        return result


def publish_and_reassign(conn: sa.Connection, version: int, actor: str) -> int:
    """Publish a draft and move every household to its grid and group in it; returns how
    many households changed grid or group."""
    publish(conn, version, actor)
    built = build_indexes(conn, version)
    return reassign_households(conn, built.grids, built.groups)
