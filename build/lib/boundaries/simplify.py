"""Simplify a coverage for display, with the tolerance as a distance that holds.

`simplify_coverage(geoms, 500)` returns the polygons with fewer vertices such that no
boundary moves more than 500 m (the Hausdorff distance of each boundary to the original)
and neighbours still share their edges exactly (no gaps, no overlaps between them).

GEOS's coverage simplification keeps the coverage intact, but its tolerance is
Visvalingam–Whyatt's (about the square root of the area of a removed triangle), not a
distance: with tolerance 500 a county boundary moved by 1.4 km. So the work is done in
metres (a transverse Mercator centred on the layer) and the tolerance is halved until the
largest displacement, measured, is within the distance asked for.
"""

from __future__ import annotations

import numpy as np
import shapely

from .crs import metric_transformer, to_metres

_SAFETY = 0.995  # the local transverse Mercator's scale error stays far below 0.5 %
_MAX_HALVINGS = 12


def largest_displacement_m(a: np.ndarray, b: np.ndarray) -> float:
    """The largest Hausdorff distance between the boundaries of a[i] and b[i] (metric
    coordinates). Exact for a simplification: its vertices are the original's."""
    if not len(a):
        return 0.0
    return float(np.max(shapely.hausdorff_distance(shapely.boundary(a), shapely.boundary(b))))


def simplify_coverage(geoms: np.ndarray, tolerance_m: float) -> np.ndarray:
    """WGS84 polygons of a coverage, simplified so that no boundary moves more than
    `tolerance_m` metres and neighbours still meet."""
    geoms = np.asarray(geoms, dtype=object)
    if tolerance_m <= 0 or not len(geoms):
        return geoms
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    lon0, lat0 = (x0 + x1) / 2, (y0 + y1) / 2
    metric = to_metres(geoms, lon0, lat0)
    vw = tolerance_m / 2  # measured on the Gannan demo: moves about 0.75 × the distance
    for _ in range(_MAX_HALVINGS):
        out = shapely.coverage_simplify(metric, vw)
        if largest_displacement_m(out, metric) <= tolerance_m * _SAFETY:
            break
        vw /= 2
    else:
        return geoms
    inverse = metric_transformer(float(lon0), float(lat0))

    def back(xy: np.ndarray) -> np.ndarray:
        lon, lat = inverse.transform(xy[:, 0], xy[:, 1], direction="INVERSE")
        return np.column_stack([lon, lat])

    return shapely.transform(out, back)
