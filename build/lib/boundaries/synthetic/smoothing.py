"""Smoothing a county's group coverage, and keeping every household strictly inside one
group while the edges move."""

from __future__ import annotations

import numpy as np
import shapely
from scipy.sparse import csr_matrix

from .regions import Unlucky

MARGIN = 3e-6  # degrees (~0.3 m): households keep this far from their group's edge


def smooth_groups(groups: np.ndarray, lon, lat, group_of, passes: int = 3):
    """Round off the cell-edge zigzags of a county's group coverage; returns the new groups
    and the households (lon, lat, group), moved to the group they now lie in.

    Laplacian smoothing of the shared edges' inner vertices (junctions and the county border
    stay put); a vertex moves identically for every polygon that uses it, so the coverage
    stays edge-matched. Polygons that turn invalid, overlap, or lose all their households
    keep their vertices, and the smoothing is redone.
    """
    parts, part_of = shapely.get_parts(groups, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords = shapely.get_coordinates(groups)
    ring_of = np.repeat(np.arange(len(rings)), shapely.get_num_coordinates(rings))
    poly_of = part_of[ring_part][ring_of]
    vertex, vid = np.unique(coords, axis=0, return_inverse=True)
    nv = len(vertex)
    i = np.flatnonzero(ring_of[:-1] == ring_of[1:])
    seg, uses = np.unique(np.sort(np.column_stack([vid[i], vid[i + 1]]), axis=1), axis=0,
                          return_counts=True)
    deg = np.bincount(seg.ravel(), minlength=nv)
    movable = deg == 2
    movable[seg[uses == 1].ravel()] = False
    adj = csr_matrix((np.ones(2 * len(seg)), (np.r_[seg[:, 0], seg[:, 1]],
                                              np.r_[seg[:, 1], seg[:, 0]])), shape=(nv, nv))
    for _ in range(5):
        xy = vertex.copy()
        for _ in range(passes):
            mean = (adj @ xy) / np.maximum(deg, 1)[:, None]
            xy[movable] += 0.5 * (mean[movable] - xy[movable])
        out = groups.copy()
        shapely.set_coordinates(out, xy[vid])
        bad = ~shapely.is_valid(out) | ~shapely.is_empty(shapely.coverage_invalid_edges(out))
        if not bad.any():
            hlon, hlat, hgroup = _settle_households(out, lon.copy(), lat.copy(), group_of.copy())
            bad = np.bincount(hgroup, minlength=len(out)) == 0
            if not bad.any():
                return out, hlon, hlat, hgroup
        movable[vid[bad[poly_of]]] = False
    return (groups, *_settle_households(groups, lon, lat, group_of))


def _settle_households(groups, lon, lat, group_of):
    """Put each household in the group it lies in, at least MARGIN inside its edge; updates
    and returns lon, lat and group_of."""
    out = ~shapely.contains_xy(groups[group_of], lon, lat)
    if out.any():
        pts = shapely.points(lon[out], lat[out])
        hit, poly = shapely.STRtree(groups).query(pts, predicate="within")
        moved = np.flatnonzero(out)
        group_of[moved[hit]] = poly
    centre = shapely.point_on_surface(groups)
    cx, cy = shapely.get_x(centre), shapely.get_y(centre)
    for step in range(8):
        home = groups[group_of]
        near = ~shapely.contains_xy(home, lon, lat) | shapely.dwithin(
            shapely.boundary(home), shapely.points(lon, lat), MARGIN)
        if not near.any():
            return lon, lat, group_of
        g = group_of[near]
        t = 1.0 if step == 6 else 0.25  # towards a point inside; at worst onto it
        lon[near] = np.round(lon[near] + t * (cx[g] - lon[near]), 7)
        lat[near] = np.round(lat[near] + t * (cy[g] - lat[near]), 7)
    raise Unlucky(f"{near.sum()} households stay on their group's edge")
