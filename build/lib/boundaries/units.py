"""Metres and degrees: the one place that says how long a degree is.

Lengths of a degree on the WGS84 ellipsoid at latitude φ (the standard series, good to
centimetres): north–south `m_lat`, east–west `m_lon`. Code that needs a distance turned
into degrees asks here, with the latitude it works at, instead of keeping a constant.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# The longest a degree of latitude or longitude ever is (a degree of latitude at a pole,
# 111,694 m), rounded up: a tolerance in metres divided by it is a safe tolerance in degrees.
M_PER_DEG_MAX = 111_700.0


def metres_per_degree(lat: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(east–west, north–south) metres in one degree at latitude `lat` (degrees)."""
    phi = np.radians(np.nan_to_num(np.asarray(lat, dtype=np.float64)))
    m_lat = 111_132.954 - 559.822 * np.cos(2 * phi) + 1.175 * np.cos(4 * phi)
    m_lon = 111_412.84 * np.cos(phi) - 93.5 * np.cos(3 * phi) + 0.118 * np.cos(5 * phi)
    return m_lon, m_lat


def min_metres_per_degree(max_abs_lat: float) -> float:
    """The shortest a degree (in either direction) gets between the equator and latitude
    ±`max_abs_lat`, less 0.01 %: metres divided by it give degrees that cover at least
    those metres, whatever the rounding."""
    m_lon, _ = metres_per_degree(min(abs(max_abs_lat), 89.9))
    _, m_lat_equator = metres_per_degree(0.0)
    return float(min(m_lon, m_lat_equator)) * (1 - 1e-4)


def metres_to_degrees(metres: float, max_abs_lat: float) -> float:
    """Degrees that span at least `metres` in any direction up to latitude ±max_abs_lat."""
    return metres / min_metres_per_degree(max_abs_lat)


def square_metres_per_square_degree(lat: npt.ArrayLike) -> np.ndarray:
    """Square metres in one degree of longitude by one of latitude at `lat`."""
    m_lon, m_lat = metres_per_degree(lat)
    return m_lon * m_lat

