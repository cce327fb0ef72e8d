"""Metres and degrees, checked against geodesic distances on WGS84."""

from __future__ import annotations

import numpy as np
import pytest

from boundaries.crs import distance_m
from boundaries.units import metres_per_degree, metres_to_degrees, min_metres_per_degree


@pytest.mark.parametrize("lat", [0.0, 20.0, 35.0, 55.0, 80.0])
def test_a_degree_is_as_long_as_the_geodesic_says(lat) -> None:
    m_lon, m_lat = metres_per_degree(lat)
    assert m_lon == pytest.approx(distance_m(100.0, lat, 101.0, lat), rel=1e-4)
    assert m_lat == pytest.approx(distance_m(100.0, lat - 0.5, 100.0, lat + 0.5), rel=1e-4)


@pytest.mark.parametrize("max_lat", [0.0, 35.0, 60.0])
def test_degrees_from_metres_always_cover_the_metres(max_lat) -> None:
    deg = metres_to_degrees(30.0, max_lat)
    lats = np.linspace(-max_lat, max_lat, 13)
    assert (distance_m(100.0, lats, 100.0 + deg, lats) >= 30.0).all()  # east–west
    assert (distance_m(100.0, lats, 100.0, lats + deg) >= 30.0).all()  # north–south
    assert min_metres_per_degree(0.0) == pytest.approx(110_574, abs=15)
