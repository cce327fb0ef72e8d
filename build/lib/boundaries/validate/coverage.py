"""How a level's areas tile their parents: outside_parent, overlap and gap.

Why: these are the checks between features, the ones that need overlays and so the slow
part of validation; each runs only where it can find something (a prepared, slightly grown
parent; an STRtree of siblings; a bound on each parent's gap before any union), measures
what it finds in metres (`measure.LocalMetres`), and names every feature involved.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from boundaries.levels import parent_level
from boundaries.units import square_metres_per_square_degree

from .measure import AREA_EPSILON_M2, LocalMetres, format_m2
from .report import Findings, Problem

SLACK_DEG = 1e-10  # ~0.01 mm: children this close to their parent's edge are inside it


def check_outside_parent(
    work: np.ndarray,
    pgeoms: np.ndarray,
    ppos: np.ndarray,
    has_parent: np.ndarray,
    parent_codes: list[str | None],
    tolerance_m: float,
    measure: LocalMetres,
    found: Findings,
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
            how = "all of it" if o >= t - AREA_EPSILON_M2 else f"of {format_m2(t)}"
            found.add(i, "outside_parent", f"{format_m2(o)} lies outside its parent {pc} ({how}; "
                      f"more than {tolerance_m:g} m beyond its boundary)", parent_code=pc,
                      area_m2=round(float(o), 1), beyond_tolerance_m2=round(float(b), 1))
    return outside_deg2, slack_deg2


def check_overlaps(
    work: np.ndarray,
    usable: np.ndarray,
    parent_codes: list[str | None],
    measure: LocalMetres,
    found: Findings,
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
            found.add(i, "overlap", f"overlaps #{other} ({other_code}) by {format_m2(a)}",
                      other_index=other, other_code=other_code, area_m2=round(float(a), 1))
    return left, right, np.nan_to_num(shapely.area(shared))


def check_gaps(
    work: np.ndarray,
    pgeoms: np.ndarray,
    ppos: np.ndarray,
    has_parent: np.ndarray,
    pcodes: list[str | None],
    level: str,
    outside: tuple[np.ndarray, np.ndarray],
    overlaps: tuple[np.ndarray, np.ndarray, np.ndarray],
    measure: LocalMetres,
    found: Findings,
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
                "gap", f"{format_m2(a)} of {plevel} {pc} is not covered by its {level} areas",
                None, pc, False, {"parent_code": pc, "area_m2": round(float(a), 1)},
            ))
