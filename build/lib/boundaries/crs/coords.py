"""Coordinate arrays as every converter in `boundaries.crs` takes and returns them.

Why: the lookup API converts batches, so all converters are vectorised over float64 numpy
arrays, longitude (x, easting) first; these two helpers give them one shape and one dtype
without copying what already fits, so the converters never repeat that bookkeeping.
"""

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def float_pair(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Two float64 arrays of one shape; no copy when the inputs already are."""
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.shape != ya.shape:
        shape = np.broadcast_shapes(xa.shape, ya.shape)
        if xa.shape != shape:
            xa = np.broadcast_to(xa, shape).copy()
        if ya.shape != shape:
            ya = np.broadcast_to(ya, shape).copy()
    return xa, ya


def float_arrays(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """float64 ndarrays, also for scalar input (numpy turns 0-d results into scalars)."""
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
