"""Ten-household groups after their grids changed: `regroup`.

Why: a group belongs to one grid and must lie inside it, and households are placed in
groups by location, so after grids move every group needs a parent and every part of a
touched grid still needs a group.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from boundaries.validate import AREA_EPSILON_M2, LocalMetres, as_multipolygons, texts

from .frame import TOUCH_M, parts, polygonal, shared_length


def regroup(groups: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Ten-household groups after their grids changed: each re-parented to the grid that
    covers most of it and clipped to that grid; then what a grid touched by those changes
    has left without a group goes to its group sharing the longest border with it (a
    household there must still fall in a group). Returns only the groups whose
    parent_code or geometry changed; a group no grid touches is left as it is."""
    groups = groups.to_crs("EPSG:4326") if groups.crs is not None else groups
    grids = grids.to_crs("EPSG:4326") if grids.crs is not None else grids
    gcodes = texts(grids, "code")
    gshapes = as_multipolygons(grids.geometry.to_numpy())[0]
    old = as_multipolygons(groups.geometry.to_numpy())[0]
    old_parents = texts(groups, "parent_code")
    if not len(old) or not len(gshapes):
        return groups.iloc[:0].copy()
    measure = LocalMetres(old[~shapely.is_missing(old)], gshapes[~shapely.is_missing(gshapes)])
    usable = np.flatnonzero(~shapely.is_missing(gshapes))
    tree = shapely.STRtree(gshapes[usable])
    left, right = tree.query(old, predicate="intersects")
    right = usable[right]
    shared = measure.area(shapely.intersection(old[left], gshapes[right]))
    shapes, parents = old.copy(), list(old_parents)
    changed: set[int] = set()
    for g in np.unique(left):
        mine = np.flatnonzero(left == g)
        k = mine[int(np.argmax(shared[mine]))]
        if shared[k] <= AREA_EPSILON_M2:
            continue
        grid = gshapes[right[k]]
        if measure.area(np.array([shapely.difference(old[g], grid)]))[0] > AREA_EPSILON_M2:
            shapes[g] = polygonal(shapely.intersection(old[g], grid))
            changed.add(int(g))
        if gcodes[right[k]] != parents[g]:
            parents[g] = gcodes[right[k]]
            changed.add(int(g))
    touched = {old_parents[g] for g in changed} | {parents[g] for g in changed}
    if changed:
        at = np.array(sorted(changed))
        touched |= {gcodes[j] for j in usable[tree.query(old[at], predicate="intersects")[1]]}
    for j in usable:
        if gcodes[j] in touched:
            changed |= _fill_grid(gshapes[j], gcodes[j], shapes, parents, old, measure)
    rows = sorted(changed)
    out = groups.iloc[rows].copy()
    out["parent_code"] = [parents[g] for g in rows]
    return out.set_geometry(gpd.GeoSeries([shapes[g] for g in rows], index=out.index,
                                          crs="EPSG:4326"), crs="EPSG:4326")


def _fill_grid(grid: BaseGeometry, code: str | None, shapes: np.ndarray, parents: list,
               old: np.ndarray, measure: LocalMetres) -> set[int]:
    """The pieces of `grid` none of its groups covers (cut along the groups' old outlines,
    so a strip taken from two groups of a neighbour stays two pieces), each given to the
    group sharing the longest border with it (in `shapes`); returns the groups that grew."""
    kids = [g for g, p in enumerate(parents) if p == code and shapes[g] is not None]
    if not kids:
        return set()
    rest = polygonal(shapely.difference(grid, shapely.union_all(shapes[kids])))
    if rest.is_empty:
        return set()
    cutters = [o for o in old if o is not None and shapely.intersects(o, rest)]
    pieces = [p for o in cutters for p in parts(shapely.intersection(rest, o))]
    if cutters:
        pieces += parts(shapely.difference(rest, shapely.union_all(cutters)))
    else:
        pieces = parts(rest)
    grew: set[int] = set()
    for piece in pieces:
        if measure.area(np.array([piece]))[0] <= AREA_EPSILON_M2:
            continue
        lengths = shared_length(measure.flat(piece),
                                 list(measure.flat(np.array([shapes[k] for k in kids]))))
        if lengths.max() > TOUCH_M:
            k = kids[int(np.argmax(lengths))]
            shapes[k] = polygonal(shapely.union(shapes[k], piece))
            grew.add(k)
    return grew
