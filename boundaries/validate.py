"""Checking a set of areas before it may become a boundary version.

`validate_areas` reports every problem it finds in one pass, each tied to the feature's
position in the file and its code, so a planner fixes a file once instead of once per error.
It never writes anything and never raises for bad data: the caller (CLI, API, editor)
decides what to do with a Report that is not ok. Areas are measured in metres in a local
transverse Mercator around the data (`boundaries.crs.to_metres`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from boundaries.crs import to_metres
from boundaries.levels import check_level, parent_level

AREA_EPSILON_M2 = 1.0  # overlaps and gaps at or below this are floating-point noise
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
    """A column as stripped strings, None for missing/blank values or a missing column."""
    if column not in frame.columns:
        return [None] * len(frame)
    out: list[str | None] = []
    for v in frame[column].tolist():
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            out.append(None)
            continue
        s = str(v).strip()
        out.append(s or None)
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
    rows that are not polygonal keep their geometry, and carry a fatal problem) and a
    Report of all problems. Without `parents`, parent codes are only checked for presence
    and the outside_parent and gap checks are skipped; prefectures need no parent.
    """
    check_level(level)
    n = len(gdf)
    rows = gdf["index"].tolist() if "index" in gdf.columns else list(range(n))
    codes = texts(gdf, "code")
    problems: list[Problem] = []

    def add(i: int, code: str, message: str, fatal: bool = True, **detail: Any) -> None:
        problems.append(Problem(code, message, rows[i], codes[i], fatal, detail))

    if n == 0:
        problems.append(Problem("no_areas", f"there are no {level} areas to import"))

    geoms = np.asarray(gdf.geometry.to_numpy(), dtype=object)
    blank = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    multi, polygonal, other = as_multipolygons(geoms)
    for i in np.flatnonzero(blank):
        add(i, "empty_geometry", "the feature has no geometry")
    for i in np.flatnonzero(~blank & (~polygonal | other)):
        kind = shapely.get_type_id(geoms[i])
        name = shapely.GeometryType(kind).name.title().replace("string", "String")
        if polygonal[i] and repair:
            add(i, "repaired", f"dropped the non-polygon parts of a {name}", fatal=False)
        else:
            add(i, "not_polygon", f"a {name} is not an area; expected Polygon or MultiPolygon")
    usable = polygonal & (~other | repair)

    # Validity: check on the MultiPolygon form; measure later on a repaired copy either way,
    # so an invalid feature still has its overlaps and parent reported in the same pass.
    nonfinite = _nonfinite_rows(multi) & usable
    reasons = np.asarray(shapely.is_valid_reason(multi), dtype=object)
    invalid = usable & (reasons != "Valid Geometry")
    work = multi.copy()
    fixable = invalid & ~nonfinite
    if fixable.any():
        fixed, fixed_ok, _ = as_multipolygons(shapely.make_valid(multi[fixable]))
        fixed_ok &= np.asarray(shapely.is_valid(fixed), dtype=bool)
        work[np.flatnonzero(fixable)[fixed_ok]] = fixed[fixed_ok]
        fixable[np.flatnonzero(fixable)[~fixed_ok]] = False
    for i in np.flatnonzero(invalid):
        if nonfinite[i]:
            add(i, "invalid_geometry", f"{reasons[i]}: a coordinate is not a number "
                "(could it be converted from the file's CRS?)", reason=reasons[i])
        elif repair and fixable[i]:
            add(i, "repaired", f"made valid ({reasons[i]}), keeping its polygonal parts",
                fatal=False, reason=reasons[i])
        else:
            extra = "" if fixable[i] else "; make_valid leaves no area"
            add(i, "invalid_geometry", f"{reasons[i]}{extra}", reason=reasons[i])
    usable &= ~invalid | fixable

    usable &= ~_check_coordinates(multi, usable, add)
    _check_codes(codes, add)
    _check_parents(gdf, level, parents, work, usable, tolerance_m, add, problems)

    out = gdf.copy()
    result = np.where(polygonal, work if repair else multi, geoms)
    out = out.set_geometry(gpd.GeoSeries(list(result), index=gdf.index, crs="EPSG:4326"))
    problems.sort(key=lambda p: (p.index is None, p.index if p.index is not None else 0))
    return out, Report(problems)


def _check_coordinates(multi: np.ndarray, usable: np.ndarray, add: Any) -> np.ndarray:
    """Report coordinates that cannot be lon/lat or lie outside China; return those rows."""
    minx, miny, maxx, maxy = shapely.bounds(multi).T
    with np.errstate(invalid="ignore"):
        out_of_range = (np.abs(minx) > 180) | (np.abs(maxx) > 180)
        out_of_range |= (np.abs(miny) > 90) | (np.abs(maxy) > 90)
        lon0, lat0, lon1, lat1 = CHINA_BBOX
        in_china = (minx >= lon0) & (maxx <= lon1) & (miny >= lat0) & (maxy <= lat1)
        swapped = ~in_china & (miny >= lon0) & (maxy <= lon1) & (minx >= lat0) & (maxx <= lat1)
    bad = usable & (out_of_range | swapped)
    for i in np.flatnonzero(usable & ~in_china):
        span = f"x {minx[i]:.4f}..{maxx[i]:.4f}, y {miny[i]:.4f}..{maxy[i]:.4f}"
        box = dict(bounds=[float(minx[i]), float(miny[i]), float(maxx[i]), float(maxy[i])])
        if swapped[i]:
            add(i, "swapped_axes", f"coordinates ({span}) lie outside China but inside it with "
                "x and y exchanged: latitude and longitude look swapped", **box)
        elif out_of_range[i]:
            add(i, "coordinates_out_of_range", f"coordinates ({span}) are not longitude/latitude "
                "(|lon| > 180 or |lat| > 90); is the CRS right?", **box)
        else:
            add(i, "outside_china", f"coordinates ({span}) lie outside China "
                "(73-136 E, 3-54 N); is the CRS right?", fatal=False, **box)
    return bad


def _check_codes(codes: Sequence[str | None], add: Any) -> None:
    """Every feature needs a code, and no two may share one."""
    where: dict[str, list[int]] = {}
    for i, c in enumerate(codes):
        if c is None:
            add(i, "missing_code", "the feature has no code")
        else:
            where.setdefault(c, []).append(i)
    for c, positions in where.items():
        if len(positions) > 1:
            for i in positions:
                add(i, "duplicate_code", f"code {c} is used by {len(positions)} features",
                    positions=positions)


def _check_parents(
    gdf: gpd.GeoDataFrame,
    level: str,
    parents: gpd.GeoDataFrame | None,
    work: np.ndarray,
    usable: np.ndarray,
    tolerance_m: float,
    add: Any,
    problems: list[Problem],
) -> None:
    """missing_parent, outside_parent, overlap (siblings) and gap (per parent)."""
    plevel = parent_level(level)
    parent_codes = texts(gdf, "parent_code") if plevel else [None] * len(gdf)
    ppos = np.full(len(gdf), -1)
    pgeoms = np.empty(0, dtype=object)
    known: dict[str, int] = {}
    if plevel and parents is not None:
        if parents.crs is not None and parents.crs.to_epsg() != 4326:
            parents = parents.to_crs("EPSG:4326")
        for j, c in enumerate(texts(parents, "code")):
            if c is not None:
                known.setdefault(c, j)
        pgeoms, p_ok, _ = as_multipolygons(parents.geometry.to_numpy())
        bad = p_ok & ~np.asarray(shapely.is_valid(pgeoms), dtype=bool)
        if bad.any():
            pgeoms[bad] = as_multipolygons(shapely.make_valid(pgeoms[bad]))[0]
    if plevel:
        for i, pc in enumerate(parent_codes):
            if pc is None:
                add(i, "missing_parent", f"no parent code (a {level} belongs to a {plevel})")
            elif parents is not None and pc not in known:
                add(i, "missing_parent", f"parent {pc} is not among the {len(parents)} "
                    f"{plevel} areas", parent_code=pc)
            elif parents is not None:
                ppos[i] = known[pc]

    kids = np.flatnonzero(usable)
    with_parent = ppos >= 0
    if len(pgeoms):
        with_parent &= ~shapely.is_missing(pgeoms)[np.maximum(ppos, 0)]
    centre = data_centre(work[kids], pgeoms[np.unique(ppos[kids & with_parent[kids]])]
                         if len(pgeoms) else [])
    if centre is None:
        return
    child_m = np.full(len(gdf), None, dtype=object)
    child_m[kids] = to_metres(work[kids], *centre)
    used = np.unique(ppos[kids][with_parent[kids]])
    parent_m = np.full(len(pgeoms), None, dtype=object)
    if len(used):
        parent_m[used] = to_metres(pgeoms[used], *centre)

    # outside_parent: whatever lies beyond a band of tolerance_m around the parent
    has = usable & with_parent
    if has.any():
        band = np.full(len(pgeoms), None, dtype=object)
        band[used] = shapely.buffer(parent_m[used], tolerance_m, quad_segs=4)
        shapely.prepare(band[used])
        cand = np.flatnonzero(has)
        cand = cand[~shapely.covers(band[ppos[cand]], child_m[cand])]
        beyond = shapely.area(shapely.difference(child_m[cand], band[ppos[cand]]))
        outside = shapely.area(shapely.difference(child_m[cand], parent_m[ppos[cand]]))
        total = shapely.area(child_m[cand])
        for i, b, o, t in zip(cand, beyond, outside, total, strict=True):
            if b > AREA_EPSILON_M2:
                pc = parent_codes[i]
                what = "all of it" if o >= t - AREA_EPSILON_M2 else "part of it"
                add(i, "outside_parent", f"{_m2(o)} lies outside its parent {pc} ({what}, more "
                    f"than {tolerance_m:g} m beyond the boundary)", parent_code=pc,
                    area_m2=round(float(o), 1), beyond_tolerance_m2=round(float(b), 1))

    # overlap: siblings (same parent code) sharing more than AREA_EPSILON_M2
    sibling_key = pd.factorize(pd.Series(parent_codes, dtype=object), use_na_sentinel=False)[0]
    tree = shapely.STRtree(child_m[kids])
    left, right = tree.query(child_m[kids], predicate="intersects")
    left, right = kids[left], kids[right]
    pair = (left < right) & (sibling_key[left] == sibling_key[right])
    left, right = left[pair], right[pair]
    areas = shapely.area(shapely.intersection(child_m[left], child_m[right]))
    for i, j, a in zip(left, right, areas, strict=True):
        if a > AREA_EPSILON_M2:
            add(i, "overlap", f"overlaps #{rows_of(gdf, j)} ({gdf_code(gdf, j)}) by {_m2(a)}",
                other_index=rows_of(gdf, j), other_code=gdf_code(gdf, j),
                area_m2=round(float(a), 1))

    # gap: the part of each parent (with children here) that no child covers
    if has.any():
        pcodes = texts(parents, "code")
        order = np.flatnonzero(has)
        order = order[np.argsort(ppos[order], kind="stable")]
        groups = np.split(order, np.flatnonzero(np.diff(ppos[order])) + 1)
        heads = np.array([ppos[g[0]] for g in groups])
        covers = np.array([shapely.union_all(child_m[g]) for g in groups], dtype=object)
        gaps = shapely.area(shapely.difference(parent_m[heads], covers))
        for p, a in zip(heads, gaps, strict=True):
            if a > AREA_EPSILON_M2:
                problems.append(Problem(
                    "gap", f"{_m2(a)} of {plevel} {pcodes[p]} is not covered by its {level} areas",
                    None, pcodes[p], False, {"parent_code": pcodes[p], "area_m2": round(float(a), 1)},
                ))


def rows_of(gdf: gpd.GeoDataFrame, i: int) -> int:
    """The file position of row `i`."""
    return int(gdf["index"].iloc[i]) if "index" in gdf.columns else int(i)


def gdf_code(gdf: gpd.GeoDataFrame, i: int) -> str | None:
    return texts(gdf.iloc[[i]], "code")[0]
