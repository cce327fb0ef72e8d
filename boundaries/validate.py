"""Checking a set of areas before it may become a boundary version.

`validate_areas` reports every problem it finds in one pass, each tied to the feature's
position in the file and its code, so a planner fixes a file once instead of once per error.
It never writes anything and never raises for bad data: the caller (CLI, API, editor)
decides what to do with a Report that is not ok. Areas are measured in metres in a local
transverse Mercator around the data (`boundaries.crs.to_metres`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from boundaries.crs import to_metres
from boundaries.levels import check_level, parent_level
from boundaries.units import square_metres_per_square_degree

AREA_EPSILON_M2 = 1.0  # overlaps and gaps at or below this are floating-point noise
SLACK_DEG = 1e-10  # ~0.01 mm: children this close to their parent's edge are inside it
SEGMENT_DEG = 0.0005  # densify to ~50 m before projecting: straight-edge sag under 0.1 mm
CHINA_BBOX = (73.0, 3.0, 136.0, 54.0)  # lon min, lat min, lon max, lat max

_POLYGON, _MULTI_TYPES = 3, (4, 5, 6, 7)  # shapely type ids: Polygon; Multi*/collections


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file or a feature; `fatal=False` is a warning."""

    code: str
    message: str
    index: int | None = None  # 0-based feature position in the file
    feature_code: str | None = None  # the feature's area code, when it has one
    fatal: bool = True
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    """All problems found in one import; `ok` when none of them is fatal."""

    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.fatal]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.fatal]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [p.to_dict() for p in self.problems],
        }

    def summary(self) -> str:
        """One line per problem, "#index code: message" ("-" when not tied to a feature)."""
        if not self.problems:
            return "no problems"
        return "\n".join(
            f"#{'-' if p.index is None else p.index} {p.code}: {p.message}" for p in self.problems
        )


# --------------------------------------------------------------------------- helpers


def as_multipolygons(geoms: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each geometry's non-empty polygons as one MultiPolygon (None where it has none).

    Returns (multipolygons, has_polygons, has_other_parts): the last marks geometries with
    points or lines among their parts (inside collections, too).
    """
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    parts, idx = shapely.get_parts(geoms, return_index=True)
    types = shapely.get_type_id(parts)
    while np.isin(types, _MULTI_TYPES).any():  # collections may nest multi-geometries
        multi = np.isin(types, _MULTI_TYPES)
        sub, sub_idx = shapely.get_parts(parts[multi], return_index=True)
        parts = np.concatenate([parts[~multi], sub])
        idx = np.concatenate([idx[~multi], idx[multi][sub_idx]])
        types = shapely.get_type_id(parts)
    nonempty = ~shapely.is_empty(parts)
    poly = (types == _POLYGON) & nonempty
    other = np.zeros(n, dtype=bool)
    other[idx[~poly & nonempty]] = True
    order = np.argsort(idx[poly], kind="stable")
    out = np.full(n, None, dtype=object)
    if poly.any():
        shapely.multipolygons(parts[poly][order], indices=idx[poly][order], out=out)
    return out, ~shapely.is_missing(out), other


def data_centre(*geom_arrays: Any) -> tuple[float, float] | None:
    """Centre (lon, lat) of the bounding box of all given WGS84 geometries, or None."""
    bounds = [shapely.total_bounds(np.asarray(a, dtype=object)) for a in geom_arrays if len(a)]
    bounds = [b for b in bounds if np.isfinite(b).all()]
    if not bounds:
        return None
    b = np.array(bounds)
    return (float(b[:, 0].min() + b[:, 2].max()) / 2, float(b[:, 1].min() + b[:, 3].max()) / 2)


def texts(frame: pd.DataFrame, column: str) -> list[str | None]:
    """A column as stripped text: None for missing or blank values (or no such column),
    and no ".0" on codes a reader turned into floats (623001.0 -> "623001")."""
    if column not in frame.columns:
        return [None] * len(frame)
    out: list[str | None] = []
    for v in frame[column].tolist():
        if v is None or v is pd.NA or v is pd.NaT:
            out.append(None)
            continue
        if isinstance(v, float | np.floating):
            if np.isnan(v):
                out.append(None)
                continue
            if float(v).is_integer():
                v = int(v)
        text = str(v).strip()
        out.append(text or None)
    return out


def _nonfinite_rows(geoms: np.ndarray) -> np.ndarray:
    """Rows with a NaN or infinite coordinate (e.g. a point the CRS could not convert)."""
    bad = np.zeros(len(geoms), dtype=bool)
    coords, idx = shapely.get_coordinates(geoms, return_index=True)
    bad[idx[~np.isfinite(coords).all(axis=1)]] = True
    return bad


def _m2(area: float) -> str:
    return f"{area:,.0f} m²" if area >= 10 else f"{area:.1f} m²"


# --------------------------------------------------------------------------- validation


class _Findings:
    """The rows under check (file positions, codes) and the problems found so far."""

    def __init__(self, rows: list[int], codes: list[str | None]) -> None:
        self.rows, self.codes = rows, codes
        self.problems: list[Problem] = []

    def add(self, i: int, code: str, message: str, fatal: bool = True, **detail: Any) -> None:
        """A problem with row `i` (a position in the frame, reported as its file index)."""
        self.problems.append(Problem(code, message, self.rows[i], self.codes[i], fatal, detail))


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
    found = _Findings(rows, texts(gdf, "code"))
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
        outside = _check_outside_parent(work, pgeoms, ppos, has_parent, parent_codes,
                                        tolerance_m, measure, found)
        overlaps = _check_overlaps(work, usable, parent_codes, measure, found)
        _check_gaps(work, pgeoms, ppos, has_parent, pcodes, level, outside, overlaps,
                    measure, found)

    result = np.where(polygonal, work if repair else multi, geoms)
    name = gdf.geometry.name
    shapes = gpd.GeoSeries(list(result), index=gdf.index, name=name, crs="EPSG:4326")
    out = gpd.GeoDataFrame(gdf.drop(columns=name), geometry=shapes)
    problems = sorted(found.problems, key=lambda p: (p.index is None, p.index or 0))
    return out, Report(problems)


def _check_shapes(
    geoms: np.ndarray, repair: bool, found: _Findings
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

    nonfinite = _nonfinite_rows(multi) & polygonal
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


def _check_coordinates(multi: np.ndarray, polygonal: np.ndarray, found: _Findings) -> np.ndarray:
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


def _check_codes(found: _Findings) -> None:
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
    found: _Findings,
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


class LocalMetres:
    """Areas in m² of WGS84 shapes, through a local transverse Mercator around the data.

    Overlays (difference, intersection, union) run on the WGS84 shapes themselves, whose
    edges are straight in degrees as the point lookup sees them; only the pieces that come
    out are measured. A straight edge in degrees is slightly curved in metres (a 2 km
    parallel sags ~5 cm), so pieces are densified before projecting, and floating-point
    slivers along long edges (1e-15° wide) are dropped by a first estimate from their
    area in square degrees instead of being inflated into tens of m² by the projection.
    """

    def __init__(self, *geom_arrays: np.ndarray) -> None:
        self.centre = data_centre(*geom_arrays)

    def project(self, geoms: np.ndarray, segment_deg: float = SEGMENT_DEG) -> np.ndarray:
        """The shapes in metres, densified first to `segment_deg` (degrees)."""
        assert self.centre is not None
        dense = shapely.segmentize(np.asarray(geoms, dtype=object), segment_deg)
        return np.asarray(to_metres(dense, *self.centre), dtype=object)

    def area(self, geoms: np.ndarray) -> np.ndarray:
        geoms = np.asarray(geoms, dtype=object)
        _, miny, _, maxy = shapely.bounds(geoms).T
        out = np.nan_to_num(shapely.area(geoms)
                            * square_metres_per_square_degree((miny + maxy) / 2))
        real = out > AREA_EPSILON_M2 / 100
        if real.any():
            out[real] = shapely.area(self.project(geoms[real]))
        return out


def _check_outside_parent(
    work: np.ndarray,
    pgeoms: np.ndarray,
    ppos: np.ndarray,
    has_parent: np.ndarray,
    parent_codes: list[str | None],
    tolerance_m: float,
    measure: LocalMetres,
    found: _Findings,
) -> tuple[np.ndarray, np.ndarray]:
    """outside_parent: a child reaching more than tolerance_m beyond its parent's boundary.

    Returns, in square degrees, each row's area outside its parent and each parent's slack
    (the sliver a child may fill unseen), for the gap bound. Children are first tested
    against their parent grown by SLACK_DEG: shared edges computed on both sides differ in
    the last bits, and overlaying thousands of such near-misses is the slow part.
    """
    outside_deg2 = np.zeros(len(work))
    slack_deg2 = np.zeros(len(pgeoms))
    rows = np.flatnonzero(has_parent)
    if not len(rows):
        return outside_deg2, slack_deg2
    used = np.unique(ppos[rows])
    loose = np.full(len(pgeoms), None, dtype=object)
    loose[used] = shapely.buffer(pgeoms[used], SLACK_DEG, join_style="mitre")
    slack_deg2[used] = shapely.area(loose[used]) - shapely.area(pgeoms[used])
    shapely.prepare(loose[used])
    rows = rows[~shapely.covers(loose[ppos[rows]], work[rows])]
    outside = shapely.difference(work[rows], pgeoms[ppos[rows]])
    outside_deg2[rows] = np.nan_to_num(shapely.area(outside))
    outside_m2 = measure.area(outside)
    keep = outside_m2 > AREA_EPSILON_M2
    rows, outside, outside_m2 = rows[keep], outside[keep], outside_m2[keep]
    if not len(rows):
        return outside_deg2, slack_deg2
    used, at = np.unique(ppos[rows], return_inverse=True)
    band = shapely.buffer(measure.project(pgeoms[used]), tolerance_m, quad_segs=4)
    beyond = shapely.area(shapely.difference(measure.project(outside), band[at]))
    total = measure.area(work[rows])
    for i, b, o, t in zip(rows, beyond, outside_m2, total, strict=True):
        if b > AREA_EPSILON_M2:
            pc = parent_codes[i]
            how = "all of it" if o >= t - AREA_EPSILON_M2 else f"of {_m2(t)}"
            found.add(i, "outside_parent", f"{_m2(o)} lies outside its parent {pc} ({how}; "
                      f"more than {tolerance_m:g} m beyond its boundary)", parent_code=pc,
                      area_m2=round(float(o), 1), beyond_tolerance_m2=round(float(b), 1))
    return outside_deg2, slack_deg2


def _check_overlaps(
    work: np.ndarray,
    usable: np.ndarray,
    parent_codes: list[str | None],
    measure: LocalMetres,
    found: _Findings,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """overlap: siblings (same parent code) sharing more than AREA_EPSILON_M2, once per pair.

    Returns every intersecting sibling pair (left, right) and its shared area in square
    degrees (for the gap bound).
    """
    rows = np.flatnonzero(usable)
    sibling = pd.factorize(pd.Series(parent_codes, dtype=object), use_na_sentinel=False)[0]
    left, right = shapely.STRtree(work[rows]).query(work[rows], predicate="intersects")
    left, right = rows[left], rows[right]
    pair = (left < right) & (sibling[left] == sibling[right])
    left, right = left[pair], right[pair]
    shared = shapely.intersection(work[left], work[right])
    areas = measure.area(shared)
    for i, j, a in zip(left, right, areas, strict=True):
        if a > AREA_EPSILON_M2:
            other, other_code = found.rows[j], found.codes[j]
            found.add(i, "overlap", f"overlaps #{other} ({other_code}) by {_m2(a)}",
                      other_index=other, other_code=other_code, area_m2=round(float(a), 1))
    return left, right, np.nan_to_num(shapely.area(shared))


def _check_gaps(
    work: np.ndarray,
    pgeoms: np.ndarray,
    ppos: np.ndarray,
    has_parent: np.ndarray,
    pcodes: list[str | None],
    level: str,
    outside: tuple[np.ndarray, np.ndarray],
    overlaps: tuple[np.ndarray, np.ndarray, np.ndarray],
    measure: LocalMetres,
    found: _Findings,
) -> None:
    """gap (a warning): the part of each parent with children here that none of them covers.

    Overlaying each parent with the union of its children is the slow part of validation,
    so it is done only where it can find something. Per parent, in square degrees,
        gap <= area(parent) - sum(children) + sum(sibling overlaps) + sum(outside parts)
               + slack
    (the union is at least the sum minus the pairwise overlaps; outside parts are measured
    against the parent grown by the slack); where that bound is already below the
    threshold, there is no gap to measure.
    """
    outside_deg2, slack_deg2 = outside
    rows = np.flatnonzero(has_parent)
    if not len(rows):
        return
    heads = np.unique(ppos[rows])
    bound = np.zeros(len(pgeoms))
    bound[heads] = shapely.area(pgeoms[heads]) + slack_deg2[heads]
    np.subtract.at(bound, ppos[rows], shapely.area(work[rows]) - outside_deg2[rows])
    left, right, shared_deg2 = overlaps
    siblings = (ppos[left] >= 0) & (ppos[left] == ppos[right])
    np.add.at(bound, ppos[left[siblings]], shared_deg2[siblings])
    _, miny, _, _ = shapely.bounds(pgeoms[heads]).T
    heads = heads[bound[heads] * square_metres_per_square_degree(miny) > AREA_EPSILON_M2 / 2]
    if not len(heads):
        return
    rows = rows[np.isin(ppos[rows], heads)]
    rows = rows[np.argsort(ppos[rows], kind="stable")]
    groups = np.split(rows, np.flatnonzero(np.diff(ppos[rows])) + 1)
    covered = np.array([shapely.union_all(work[g]) for g in groups], dtype=object)
    gaps = measure.area(shapely.difference(pgeoms[heads], covered))
    plevel = parent_level(level)
    for p, a in zip(heads, gaps, strict=True):
        if a > AREA_EPSILON_M2:
            pc = pcodes[p]
            found.problems.append(Problem(
                "gap", f"{_m2(a)} of {plevel} {pc} is not covered by its {level} areas",
                None, pc, False, {"parent_code": pc, "area_m2": round(float(a), 1)},
            ))
