"""Checking a set of areas before it may become a boundary version: `validate_areas`.

`validate_areas` reports every problem it finds in one pass, each tied to the feature's
position in the file and its own code, so a planner fixes a file once instead of once per
error. It never writes anything and never raises for bad data: the caller (CLI, API,
editor) decides what to do with a Report that is not ok. This module holds the checks of
each feature on its own (shape, coordinates, code, parent); the checks between features
are in `coverage`.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from boundaries.levels import check_level, parent_level

from .coverage import check_gaps, check_outside_parent, check_overlaps
from .measure import LocalMetres
from .report import Findings, Problem, Report
from .shapes import as_multipolygons, nonfinite_rows, texts

CHINA_BBOX = (73.0, 3.0, 136.0, 54.0)  # lon min, lat min, lon max, lat max


def validate_areas(
    gdf: gpd.GeoDataFrame,
    *,
    level: str,
    parents: gpd.GeoDataFrame | None = None,
    tolerance_m: float = 5.0,
    repair: bool = False,
) -> tuple[gpd.GeoDataFrame, Report]:
    """Check areas of one `level` (WGS84, columns as from `read_areas`) against `parents`.

    Returns a copy with every polygonal geometry as a MultiPolygon (repaired if `repair`;
    rows that are not polygonal keep their geometry and carry a fatal problem), and a Report
    of all problems, sorted by feature. Without `parents`, parent codes are only checked for
    presence and outside_parent and gap are skipped; prefectures need no parent.
    """
    check_level(level)
    n = len(gdf)
    rows = [int(r) for r in gdf["index"]] if "index" in gdf.columns else list(range(n))
    found = Findings(rows, texts(gdf, "code"))
    if n == 0:
        found.problems.append(Problem("no_areas", f"there are no {level} areas to import"))

    geoms = np.asarray(gdf.geometry.to_numpy(), dtype=object)
    multi, polygonal, work, usable = _check_shapes(geoms, repair, found)
    usable &= ~_check_coordinates(multi, polygonal, found)
    _check_codes(found)
    plevel = parent_level(level)
    parent_codes = texts(gdf, "parent_code") if plevel else [None] * n
    ppos, pgeoms, pcodes = _find_parents(level, parents, parent_codes, found)
    has_parent = usable & (ppos >= 0)
    measure = LocalMetres(work[usable], pgeoms[np.unique(ppos[has_parent])])
    if measure.centre is not None:
        outside = check_outside_parent(work, pgeoms, ppos, has_parent, parent_codes,
                                        tolerance_m, measure, found)
        overlaps = check_overlaps(work, usable, parent_codes, measure, found)
        check_gaps(work, pgeoms, ppos, has_parent, pcodes, level, outside, overlaps,
                    measure, found)

    result = np.where(polygonal, work if repair else multi, geoms)
    name = gdf.geometry.name
    shapes = gpd.GeoSeries(list(result), index=gdf.index, name=name, crs="EPSG:4326")
    out = gpd.GeoDataFrame(gdf.drop(columns=name), geometry=shapes)
    problems = sorted(found.problems, key=lambda p: (p.index is None, p.index or 0))
    return out, Report(problems)


def _check_shapes(
    geoms: np.ndarray, repair: bool, found: Findings
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """empty_geometry, not_polygon, invalid_geometry (or `repaired`).

    Returns (multipolygons, polygonal, work, usable): `work` has a repaired copy of every
    repairable invalid geometry whether or not `repair` is set, so an invalid feature still
    gets its overlaps and its parent checked in the same pass; `usable` marks the rows that
    can be measured.
    """
    blank = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    multi, polygonal, other = as_multipolygons(geoms)
    for i in np.flatnonzero(blank):
        found.add(i, "empty_geometry", "the feature has no geometry")
    for i in np.flatnonzero(~blank & (~polygonal | other)):
        name = geoms[i].geom_type
        if polygonal[i] and repair:
            found.add(i, "repaired", f"dropped the parts of a {name} that are not polygons",
                      fatal=False)
        else:
            found.add(i, "not_polygon", f"a {name} is not an area; expected a Polygon or "
                      "MultiPolygon")
    usable = polygonal & (~other | repair)

    nonfinite = nonfinite_rows(multi) & polygonal
    reasons = np.asarray(shapely.is_valid_reason(multi), dtype=object)
    invalid = polygonal & (reasons != "Valid Geometry")
    work = multi.copy()
    fixable = invalid & ~nonfinite
    if fixable.any():
        at = np.flatnonzero(fixable)
        fixed, fixed_ok, _ = as_multipolygons(shapely.make_valid(multi[at]))
        fixed_ok &= np.asarray(shapely.is_valid(fixed), dtype=bool)
        work[at[fixed_ok]] = fixed[fixed_ok]
        fixable[at[~fixed_ok]] = False
    for i in np.flatnonzero(invalid):
        reason = str(reasons[i])
        if nonfinite[i]:
            found.add(i, "invalid_geometry", f"{reason}: a coordinate is not a number (could "
                      "it not be converted from the file's CRS?)", reason=reason)
        elif repair and fixable[i]:
            found.add(i, "repaired", f"made valid ({reason}), keeping its polygons",
                      fatal=False, reason=reason)
        else:
            extra = "" if fixable[i] else "; make_valid leaves no area"
            found.add(i, "invalid_geometry", reason + extra, reason=reason)
    return multi, polygonal, work, usable & (~invalid | fixable)


def _check_coordinates(multi: np.ndarray, polygonal: np.ndarray, found: Findings) -> np.ndarray:
    """swapped_axes, coordinates_out_of_range, outside_china (a warning); the bad rows."""
    minx, miny, maxx, maxy = shapely.bounds(multi).T
    lon0, lat0, lon1, lat1 = CHINA_BBOX
    with np.errstate(invalid="ignore"):
        out_of_range = (np.abs(minx) > 180) | (np.abs(maxx) > 180)
        out_of_range |= (np.abs(miny) > 90) | (np.abs(maxy) > 90)
        in_china = (minx >= lon0) & (maxx <= lon1) & (miny >= lat0) & (maxy <= lat1)
        swapped = ~in_china & (miny >= lon0) & (maxy <= lon1) & (minx >= lat0) & (maxx <= lat1)
    checked = polygonal & np.isfinite(minx)
    for i in np.flatnonzero(checked & ~in_china):
        span = f"x {minx[i]:.4f}..{maxx[i]:.4f}, y {miny[i]:.4f}..{maxy[i]:.4f}"
        box = [float(minx[i]), float(miny[i]), float(maxx[i]), float(maxy[i])]
        if swapped[i]:
            found.add(i, "swapped_axes", f"coordinates ({span}) lie outside China but inside it "
                      "with x and y exchanged: latitude and longitude look swapped", bounds=box)
        elif out_of_range[i]:
            found.add(i, "coordinates_out_of_range", f"coordinates ({span}) are not longitude/"
                      "latitude (|lon| > 180 or |lat| > 90); is the CRS right?", bounds=box)
        else:
            found.add(i, "outside_china", f"coordinates ({span}) lie outside China (73-136 E, "
                      "3-54 N); is the CRS right?", fatal=False, bounds=box)
    return checked & (out_of_range | swapped)


def _check_codes(found: Findings) -> None:
    """missing_code, and duplicate_code on every row that shares a code."""
    where: dict[str, list[int]] = {}
    for i, c in enumerate(found.codes):
        if c is None:
            found.add(i, "missing_code", "the feature has no code")
        else:
            where.setdefault(c, []).append(i)
    for c, positions in where.items():
        if len(positions) > 1:
            indexes = [found.rows[i] for i in positions]
            listed = ", ".join(f"#{r}" for r in indexes)
            for i in positions:
                found.add(i, "duplicate_code", f"code {c} is used by {len(positions)} features "
                          f"({listed})", indexes=indexes)


def _find_parents(
    level: str,
    parents: gpd.GeoDataFrame | None,
    parent_codes: list[str | None],
    found: Findings,
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """missing_parent; each row's parent position (-1: none), parent shapes and codes."""
    plevel = parent_level(level)
    ppos = np.full(len(parent_codes), -1)
    pgeoms: np.ndarray = np.empty(0, dtype=object)
    pcodes: list[str | None] = []
    if plevel is None:
        return ppos, pgeoms, pcodes
    known: dict[str, int] = {}
    if parents is not None:
        if parents.crs is not None and parents.crs.to_epsg() != 4326:
            parents = parents.to_crs("EPSG:4326")
        pcodes = texts(parents, "code")
        for j, c in enumerate(pcodes):
            if c is not None:
                known.setdefault(c, j)
        pgeoms, has_area, _ = as_multipolygons(parents.geometry.to_numpy())
        broken = has_area & ~np.asarray(shapely.is_valid(pgeoms), dtype=bool)
        if broken.any():  # live parents should be valid; measure against a repaired copy
            pgeoms[broken] = as_multipolygons(shapely.make_valid(pgeoms[broken]))[0]
    for i, pc in enumerate(parent_codes):
        if pc is None:
            found.add(i, "missing_parent", f"no parent code (a {level} belongs to a {plevel})")
        elif parents is not None and pc not in known:
            found.add(i, "missing_parent", f"parent {pc} is not among the {len(pgeoms)} "
                      f"{plevel} areas", parent_code=pc)
        elif parents is not None and not shapely.is_missing(pgeoms[known[pc]]):
            ppos[i] = known[pc]
    return ppos, pgeoms, pcodes
