"""A draft's areas out (GeoJSON for the map, files for QGIS) and a file in, through the
one import core (`versions.importing.stage_level`), logged as one edit so undo works.

Why the import goes through `stage_level`: the editor, the CLI and the web upload validate
alike and write only a clean layer; here it lands in the draft instead of a new version.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely
import sqlalchemy as sa

from boundaries.edit import regroup
from boundaries.files import read_areas, write_areas
from boundaries.levels import LEVELS
from boundaries.validate import Report
from geo_service.audit import audit
from geo_service.auth import Principal
from geo_service.editing import log
from geo_service.editing.drafts import Ancestry, Draft
from geo_service.editing.problems import validate_parents
from geo_service.editing.states import frame, own_state, restore, snapshot
from geo_service.errors import Invalid, NotFound
from geo_service.store.tables import areas
from geo_service.versions.importing import ImportRefused, ImportResult, stage_level

FORMATS = {"geojson": ("application/geo+json", ".geojson"),
           "gpkg": ("application/geopackage+sqlite3", ".gpkg"),
           "shp": ("application/zip", ".shp")}
EXPORT_COLUMNS = ["code", "name", "level", "kind", "parent_code", "geometry"]


def level_under(conn: sa.Connection, draft: Draft, level: str, area: str | None
                ) -> gpd.GeoDataFrame:
    """The draft's `level` areas inside `area` (None: all of them), with `changed`."""
    if area is None:
        return frame(conn, draft.id, draft.base, level=level)
    top = frame(conn, draft.id, draft.base, codes={area})
    if top.empty:
        raise NotFound(f"draft {draft.id} holds no area {area}", "area", code="unknown_area")
    start, stop = LEVELS.index(top.iloc[0]["level"]), LEVELS.index(level)
    if stop < start:
        return top.iloc[0:0]
    if stop == start:
        return top
    codes = {area}
    for lvl in LEVELS[start + 1:stop]:
        found = frame(conn, draft.id, draft.base, level=lvl, parents=codes)
        codes = set(found["code"])
        if not codes:
            return top.iloc[0:0]
    return frame(conn, draft.id, draft.base, level=level, parents=codes)


def feature(code: str, state_row: dict[str, Any], geom: Any, changed: bool
            ) -> dict[str, Any]:
    return {"type": "Feature", "id": code,
            "properties": {"code": code, "name": state_row["name"], "level": state_row["level"],
                           "parent_code": state_row["parent_code"], "changed": changed},
            "geometry": shapely.geometry.mapping(geom)}


def collection(rows: gpd.GeoDataFrame) -> dict[str, Any]:
    """Areas as a FeatureCollection at full precision, `changed` against the base."""
    return {"type": "FeatureCollection", "features": [
        feature(r.code, {"name": r.name, "level": r.level, "parent_code": r.parent_code},
                r.geometry, bool(r.changed))
        for r in rows.itertuples()]}


def export(conn: sa.Connection, draft: Draft, level: str, fmt: str, folder: Path
           ) -> tuple[Path, str]:
    """Write the level (inside the draft's area) to a file in `folder`; (path, media
    type). A Shapefile comes zipped with its side files."""
    media, suffix = FORMATS[fmt]
    rows = level_under(conn, draft, level, draft.area)[EXPORT_COLUMNS]
    path = write_areas(gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326"),
                       folder / f"draft-{draft.id}-{level}{suffix}")
    if fmt == "shp":
        zipped = folder / f"draft-{draft.id}-{level}.zip"
        with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as zf:
            for part in sorted(folder.glob(f"{path.stem}.*")):
                zf.write(part, part.name)
        path = zipped
    return path, media


def import_layer(conn: sa.Connection, draft: Draft, level: str, path: Path, actor: Principal,
                 *, crs: str | None, tolerance_m: float) -> tuple[int, dict[str, Any], list]:
    """Read a file and stage it into the draft as one logged edit: the layer replaces, in
    the draft, the areas with its codes and every `level` area under the parents it names.
    422 `import_refused` with the whole report when anything is wrong (nothing written);
    403 when it names a parent outside the draft's area."""
    gdf, read_problems = read_areas(path, crs=crs)
    if any(p.fatal for p in read_problems):
        raise ImportRefused(ImportResult(report=Report(list(read_problems)), level=level,
                                         features=len(gdf)))
    ancestry = Ancestry(conn, draft)
    codes = {str(c) for c in gdf["code"].dropna()}
    parents = {str(p) for p in gdf["parent_code"].dropna()}
    for i, p in enumerate(sorted(parents)):
        if not ancestry.inside(p):
            ancestry.require(p, f"features[{i}].parent_code")
    replaced = set(frame(conn, draft.id, draft.base, level=level, parents=parents)["code"])
    touched = codes | replaced
    clash = frame(conn, draft.id, draft.base, codes=codes)
    clash = clash[clash["level"] != level]
    if not clash.empty:
        raise Invalid(f"code {clash.iloc[0]['code']} is a {clash.iloc[0]['level']} in the "
                      "draft", "code", code="repeated_code")
    groups = (frame(conn, draft.id, draft.base, level="group", parents=touched)
              if level == "grid" else None)
    if groups is not None:
        touched |= set(groups["code"])
    before = snapshot(conn, draft.id, draft.base, touched)
    # The draft's own rows under those parents are replaced too (stage_level replaces the
    # base rows it finds; rows an earlier edit wrote are the draft's own).
    conn.execute(areas.delete().where(areas.c.version_from == draft.id, areas.c.level == level,
                                      areas.c.parent_code.in_(sorted(parents))))
    result = stage_level(conn, draft.id, gdf, level, tolerance_m=tolerance_m)
    result.report.problems[:0] = read_problems
    if not result.report.ok:
        raise ImportRefused(result)
    if groups is not None and not groups.empty:
        _regroup_imported(conn, draft, groups, parents)
    written = snapshot(conn, draft.id, draft.base, touched)
    audit(conn, actor.name, "import_areas", level, draft=draft.id, features=len(gdf),
          replaced=len(replaced))
    seq = log.append(conn, draft, {"op": "import", "level": level, "features": len(gdf)},
                     before, written, actor.name)
    problems = validate_parents(conn, draft.id, draft.base, level, parents | {
        p for p in frame(conn, draft.id, draft.base, codes=replaced)["parent_code"]},
        tolerance_m)
    return seq, written, problems


def _regroup_imported(conn: sa.Connection, draft: Draft, groups: gpd.GeoDataFrame,
                      parents: set[str]) -> None:
    """The ten-household groups of the grids an import replaced, re-parented to the grids
    as imported and clipped to them (as after an edit)."""
    grids = frame(conn, draft.id, draft.base, level="grid", parents=parents)
    moved = regroup(groups[EXPORT_COLUMNS], grids[EXPORT_COLUMNS])
    kinds = dict(zip(groups["code"], zip(groups["kind"], groups["synthetic"], strict=True),
                     strict=True))
    restore(conn, draft.id, draft.base, {
        g.code: own_state(g.name, "group", kinds[g.code][0], g.parent_code, g.geometry,
                          kinds[g.code][1])
        for g in moved.itertuples()})
