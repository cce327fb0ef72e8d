"""What a new set of areas changes, by area code: what a planner reviews before publishing.

Geometry counts as unchanged when no point of either boundary is more than `tolerance_m`
from the other, so re-saving a file (another vertex order, ring start or winding, Polygon
vs MultiPolygon, extra vertices on straight edges, float noise) changes nothing.
Areas are measured in metres in a local transverse Mercator around the data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from boundaries.units import M_PER_DEG_MAX
from boundaries.validate import AREA_EPSILON_M2, LocalMetres, as_multipolygons, texts

EXACT_DEG = 1e-9  # coordinates this close (about 0.1 mm) are the same coordinate
HAUSDORFF_SEGMENT_DEG = 0.005  # densify to ~500 m before projecting: sag under 5 mm


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
    metres = LocalMetres(old_geoms, new_geoms)
    old_names, new_names = texts(old, "name"), texts(new, "name")
    old_parents, new_parents = texts(old, "parent_code"), texts(new, "parent_code")

    diff = AreaDiff()
    added = sorted(new_at.keys() - old_at.keys())
    rows = [new_at[c] for c in added]
    for code, j, area in zip(added, rows, metres.area(new_geoms[rows]), strict=True):
        diff.added.append({"code": code, "name": new_names[j], "parent_code": new_parents[j],
                           "area_m2": _round(area)})
    removed = sorted(old_at.keys() - new_at.keys())
    rows = [old_at[c] for c in removed]
    for code, i, area in zip(removed, rows, metres.area(old_geoms[rows]), strict=True):
        diff.removed.append({"code": code, "name": old_names[i],
                             "parent_code": old_parents[i], "area_m2": _round(area)})

    common = sorted(old_at.keys() & new_at.keys())
    i = np.array([old_at[c] for c in common], dtype=np.int64)
    j = np.array([new_at[c] for c in common], dtype=np.int64)
    moved = _reshaped(old_geoms[i], new_geoms[j], metres, tolerance_m)
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


def _reshaped(
    old: np.ndarray, new: np.ndarray, metres: LocalMetres, tolerance_m: float
) -> list[dict[str, float | None] | None]:
    """Per pair, None if the shape is the same, else its areas and how much changed."""
    missing_old, missing_new = shapely.is_missing(old), shapely.is_missing(new)
    same = missing_old & missing_new
    both = ~missing_old & ~missing_new
    # Same vertices, each moved less than tolerance_m (a degree is at most 111.7 km):
    # the common case of a file re-saved, rounded or reprojected, settled without metres.
    same[both] = shapely.equals_exact(
        shapely.normalize(old[both]), shapely.normalize(new[both]),
        tolerance=max(EXACT_DEG, tolerance_m / M_PER_DEG_MAX),
    )
    out: list[dict[str, float | None] | None] = [None] * len(old)
    todo = np.flatnonzero(~same)
    if not len(todo):
        return out
    a, b = old[todo], new[todo]
    both = both[todo]
    old_area, new_area = metres.area(a), metres.area(b)
    sym = old_area + new_area  # all of it changed when one side has no shape
    if both.any():
        sym[both] = metres.area(shapely.symmetric_difference(a[both], b[both]))
    # Clearly moved: more area changed than a band of tolerance_m along both boundaries
    # could hold. Otherwise ask how far the boundaries are apart (this also catches a
    # spike or notch that changes almost no area); Hausdorff is quadratic in vertices,
    # so only these pairs pay for it.
    moved = ~both
    if both.any():
        at = np.flatnonzero(both)
        a_line = metres.project(shapely.boundary(a[both]), HAUSDORFF_SEGMENT_DEG)
        b_line = metres.project(shapely.boundary(b[both]), HAUSDORFF_SEGMENT_DEG)
        band = 2 * tolerance_m * (shapely.length(a_line) + shapely.length(b_line))
        clear = sym[both] > band + AREA_EPSILON_M2
        moved[at[clear]] = True
        close = ~clear
        if close.any():
            shift = shapely.hausdorff_distance(a_line[close], b_line[close])
            moved[at[close]] = shift > tolerance_m
    for k in np.flatnonzero(moved):
        out[todo[k]] = {
            "old_area_m2": _round(old_area[k]),
            "new_area_m2": _round(new_area[k]),
            "area_change_m2": _round(new_area[k] - old_area[k]),
            "symmetric_difference_m2": _round(sym[k]),
        }
    return out


def _round(value: float) -> float | None:
    value = float(value)
    return round(value, 1) if np.isfinite(value) else None
