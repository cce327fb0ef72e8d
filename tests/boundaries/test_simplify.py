"""`simplify=N` means what it says: no boundary moves more than N metres, and neighbours
still meet. Measured with the Hausdorff distance in a projection of its own (UTM 48N),
not the one the simplification works in."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from boundaries.crs import geometry_from_wgs84
from boundaries.simplify import largest_displacement_m, simplify_coverage


@pytest.mark.parametrize("level", ["county", "township", "grid"])
@pytest.mark.parametrize("tolerance_m", [20, 200, 2000])
def test_no_boundary_moves_more_than_the_tolerance(full_demo, level, tolerance_m) -> None:
    geoms = full_demo.areas[full_demo.areas.level == level].geometry.to_numpy()
    out = simplify_coverage(geoms, tolerance_m)
    utm = geometry_from_wgs84(geoms, "EPSG:32648"), geometry_from_wgs84(out, "EPSG:32648")
    moved = largest_displacement_m(*utm)
    assert 0 < moved <= tolerance_m * 1.01  # UTM's own scale error across Gannan < 1 %
    assert shapely.get_num_coordinates(out).sum() < shapely.get_num_coordinates(geoms).sum()
    # No edge that neighbours shared stops matching. (The synthetic township, village and
    # grid layers already have some edges whose vertices do not match: counted, not added.)
    assert _mismatched(out) <= _mismatched(geoms)
    assert shapely.is_valid(out).all()


def _mismatched(geoms: np.ndarray) -> int:
    return int((~shapely.is_empty(shapely.coverage_invalid_edges(geoms))).sum())


def test_a_zero_tolerance_changes_nothing(full_demo) -> None:
    geoms = full_demo.areas[full_demo.areas.level == "county"].geometry.to_numpy()
    assert all(a is b for a, b in zip(simplify_coverage(geoms, 0), geoms, strict=True))


def test_the_old_conversion_moved_counties_by_more_than_a_kilometre(full_demo) -> None:
    """Why this module exists: Visvalingam–Whyatt's tolerance, in degrees at the equator's
    metres per degree, is not a distance."""
    geoms = full_demo.areas[full_demo.areas.level == "county"].geometry.to_numpy()
    naive = shapely.coverage_simplify(geoms, 500 / 111_320.0)
    utm = [geometry_from_wgs84(g, "EPSG:32648") for g in (geoms, naive,
                                                            simplify_coverage(geoms, 500))]
    assert largest_displacement_m(utm[0], utm[1]) > 1000
    assert largest_displacement_m(utm[0], utm[2]) <= 505
    assert shapely.coverage_is_valid(utm[2])
