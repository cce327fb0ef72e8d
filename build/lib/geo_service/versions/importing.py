"""The one import core: read a layer, validate all of it, write it into a draft.

It serves the CLI, the API and the editor alike, in the caller's unit of work: a refused
import raises (so nothing is written), a dry run is a unit of work that is not committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
import sqlalchemy as sa

from boundaries.files import read_areas
from boundaries.levels import check_level, parent_level
from boundaries.validate import Report, validate_areas
from geo_service.audit import audit
from geo_service.errors import Unprocessable
from geo_service.store.tables import areas, version_removals
from geo_service.versions.drafts import create_draft, publish
from geo_service.versions.reading import area_frame, rows_in


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
    old = sa.and_(rows_in(conn, draft), areas.c.level == level, areas.c.version_from < draft,
                  sa.or_(areas.c.code.in_(codes), areas.c.parent_code.in_(parent_codes)))
    replaced = conn.execute(sa.select(areas.c.id, areas.c.code).where(old)).all()
    result.replaced = [r.code for r in replaced]
    if replaced:
        conn.execute(version_removals.insert(),
                     [{"version_id": draft, "area_id": r.id} for r in replaced])
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


class ImportRefused(Unprocessable):
    """An import whose report has problems: nothing of it may be written (raising rolls
    the unit of work back). Carries the whole report."""

    def __init__(self, result: ImportResult) -> None:
        super().__init__(result.report.summary() or "import refused", code="import_refused",
                         detail=result.to_dict())
        self.result = result


def import_areas(conn: sa.Connection, source: str | gpd.GeoDataFrame, level: str, *,
                 author: str, crs: str | None = None, repair: bool = False,
                 publish_now: bool = True, tolerance_m: float = 5.0, note: str = "",
                 fields: dict[str, str] | None = None) -> ImportResult:
    """Import one level from a file (or frame) as a new boundary version, in the caller's
    unit of work: a draft, published at once unless `publish_now` is false. Raises
    `ImportRefused` (so the unit of work writes nothing) when the report has problems; a
    dry run is a unit of work that is not committed, so its report is the real one.
    """
    check_level(level)
    if isinstance(source, gpd.GeoDataFrame):
        gdf, read_problems = source, []
    else:
        gdf, read_problems = read_areas(source, crs=crs, **(fields or {}))
    if read_problems and any(p.fatal for p in read_problems):
        raise ImportRefused(ImportResult(report=Report(list(read_problems)), level=level,
                                         features=len(gdf)))
    draft = create_draft(conn, author, note or f"import {level}")
    result = stage_level(conn, draft, gdf, level, tolerance_m=tolerance_m, repair=repair)
    result.report.problems[:0] = read_problems
    if not result.report.ok:
        result.version = None
        raise ImportRefused(result)
    audit(conn, author, "import_areas", level, features=len(gdf), version=draft,
          replaced=len(result.replaced))
    if publish_now:
        publish(conn, draft, author)
    return result
