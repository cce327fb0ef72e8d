"""What a new set of areas changes, by area code: what a planner reviews before publishing.

Geometry counts as unchanged when no point of either boundary is more than `tolerance_m`
from the other and the two differ by at most 1 m², so re-saving a file (another vertex
order, ring start or winding, Polygon vs MultiPolygon, float noise) changes nothing.
Areas are measured in metres in a local transverse Mercator around the data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from boundaries.crs import to_metres
from boundaries.validate import AREA_EPSILON_M2, as_multipolygons, data_centre, texts

EXACT_DEG = 1e-9  # coordinates this close (about 0.1 mm) are the same coordinate


@dataclass
class AreaDiff:
    """Changes from `old` to `new`, each list sorted by code."""

    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    renamed: list[dict[str, Any]] = field(default_factory=list)
    reparented: list[dict[str, Any]] = field(default_factory=list)
    reshaped: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.renamed or self.reparented
                    or self.reshaped)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def diff_areas(
    old: gpd.GeoDataFrame, new: gpd.GeoDataFrame, *, tolerance_m: float = 0.1
) -> AreaDiff:
    """Compare two WGS84 frames of areas (code, name, parent_code, geometry) by code.

    An area can be renamed, reparented (parent_code changed; only when both frames have
    one) and reshaped at once; `unchanged` counts codes in both with none of these.
    Raises ValueError for a missing or repeated code: validate the frames first.
    """
    old_at, new_at = _positions(old, "old"), _positions(new, "new")
    old_geoms, new_geoms = _shapes(old), _shapes(new)
    centre = data_centre(old_geoms, new_geoms) or (0.0, 0.0)
    old_m, new_m = _metric(old_geoms, centre), _metric(new_geoms, centre)
    old_area, new_area = shapely.area(old_m), shapely.area(new_m)
    old_names, new_names = texts(old, "name"), texts(new, "name")
    old_parents, new_parents = texts(old, "parent_code"), texts(new, "parent_code")

    diff = AreaDiff()
    for code in sorted(new_at.keys() - old_at.keys()):
        j = new_at[code]
        diff.added.append({"code": code, "name": new_names[j], "parent_code": new_parents[j],
                           "area_m2": _round(new_area[j])})
    for code in sorted(old_at.keys() - new_at.keys()):
        i = old_at[code]
        diff.removed.append({"code": code, "name": old_names[i],
                             "parent_code": old_parents[i], "area_m2": _round(old_area[i])})

    common = sorted(old_at.keys() & new_at.keys())
    i = np.array([old_at[c] for c in common], dtype=np.int64)
    j = np.array([new_at[c] for c in common], dtype=np.int64)
    moved = _reshaped(old_geoms[i], new_geoms[j], old_m[i], new_m[j], tolerance_m)
    both_parents = "parent_code" in old.columns and "parent_code" in new.columns
    for k, code in enumerate(common):
        a, b = i[k], j[k]
        changed = False
        if old_names[a] != new_names[b]:
            diff.renamed.append({"code": code, "old_name": old_names[a],
                                 "new_name": new_names[b]})
            changed = True
        if both_parents and old_parents[a] != new_parents[b]:
            diff.reparented.append({"code": code, "name": new_names[b],
                                    "old_parent_code": old_parents[a],
                                    "new_parent_code": new_parents[b]})
            changed = True
        if moved[k] is not None:
            diff.reshaped.append({"code": code, "name": new_names[b], **moved[k]})
            changed = True
        diff.unchanged += not changed
    return diff


def _positions(frame: gpd.GeoDataFrame, which: str) -> dict[str, int]:
    """Row of each code; missing or repeated codes are an error (validate first)."""
    at: dict[str, int] = {}
    repeated: set[str] = set()
    for row, code in enumerate(texts(frame, "code")):
        if code is None:
            raise ValueError(f"{which} areas: row {row} has no code")
        if code in at:
            repeated.add(code)
        at.setdefault(code, row)
    if repeated:
        raise ValueError(f"{which} areas: repeated codes {', '.join(sorted(repeated))}")
    return at


def _shapes(frame: gpd.GeoDataFrame) -> np.ndarray:
    """Each row as a MultiPolygon (None when it has no area), valid for overlay."""
    multi, polygonal, _ = as_multipolygons(frame.geometry.to_numpy())
    broken = polygonal & ~np.asarray(shapely.is_valid(multi), dtype=bool)
    if broken.any():
        multi[broken] = as_multipolygons(shapely.make_valid(multi[broken]))[0]
    return multi


def _metric(geoms: np.ndarray, centre: tuple[float, float]) -> np.ndarray:
    out = np.full(len(geoms), None, dtype=object)
    present = ~shapely.is_missing(geoms)
    if present.any():
        out[present] = to_metres(geoms[present], *centre)
    return out


def _reshaped(
    old: np.ndarray, new: np.ndarray, old_m: np.ndarray, new_m: np.ndarray, tolerance_m: float
) -> list[dict[str, float] | None]:
    """Per pair, None if the shape is the same, else its area change and what moved."""
    same = np.asarray(shapely.is_missing(old) & shapely.is_missing(new), dtype=bool)
    exact = ~same & ~shapely.is_missing(old) & ~shapely.is_missing(new)
    exact[exact] = shapely.equals_exact(
        shapely.normalize(old[exact]), shapely.normalize(new[exact]), tolerance=EXACT_DEG
    )
    same |= exact
    out: list[dict[str, float] | None] = [None] * len(old)
    todo = np.flatnonzero(~same)
    if not len(todo):
        return out
    a, b = old_m[todo], new_m[todo]
    area_a = np.nan_to_num(shapely.area(a))
    area_b = np.nan_to_num(shapely.area(b))
    both = ~shapely.is_missing(a) & ~shapely.is_missing(b)
    sym = np.where(both, 0.0, area_a + area_b)
    shift = np.full(len(todo), np.inf)
    if both.any():
        sym[both] = shapely.area(shapely.symmetric_difference(a[both], b[both]))
        shift[both] = shapely.hausdorff_distance(shapely.boundary(a[both]),
                                                 shapely.boundary(b[both]))
    for k, row in enumerate(todo):
        if shift[k] > tolerance_m or sym[k] > AREA_EPSILON_M2:
            out[row] = {
                "old_area_m2": _round(area_a[k]),
                "new_area_m2": _round(area_b[k]),
                "area_change_m2": _round(area_b[k] - area_a[k]),
                "symmetric_difference_m2": _round(sym[k]),
                "max_shift_m": None if np.isinf(shift[k]) else _round(shift[k]),
            }
    return out


def _round(value: float) -> float | None:
    value = float(value)
    return round(value, 1) if np.isfinite(value) else None
