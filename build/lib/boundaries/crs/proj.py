"""PROJ objects (CRSs and transformers), each built once and shared.

Why: building a pyproj CRS or Transformer costs milliseconds, and the lookup API needs them
per request; every module of `boundaries.crs` that talks to PROJ gets them from these two
caches (pyproj >= 3.1 makes a transformer safe to share across threads).
"""

from functools import lru_cache

import pyproj


@lru_cache(maxsize=256)
def proj_crs(name: str) -> pyproj.CRS:
    """pyproj CRS for a canonical "EPSG:n" name, built once."""
    return pyproj.CRS.from_user_input(name)


@lru_cache(maxsize=256)
def proj_transformer(src: str, dst: str) -> pyproj.Transformer:
    """Cached lon/lat-ordered transformer (pyproj >= 3.1 makes it safe to share across threads)."""
    return pyproj.Transformer.from_crs(proj_crs(src), proj_crs(dst), always_xy=True)
