"""Features as validation reads them: shapes as MultiPolygons, codes as text.

Why: files arrive with Polygons, MultiPolygons, collections holding stray points or lines,
nulls, and codes that a reader turned into floats (623001.0); the checks, the file reader
and the diff all need the same normal form, so they get it from here, vectorised.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import shapely

_POLYGON, _MULTI_TYPES = 3, (4, 5, 6, 7)  # shapely type ids: Polygon; Multi*/collections

def as_multipolygons(geoms: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each geometry's non-empty polygons as one MultiPolygon (None where it has none).

    Returns (multipolygons, has_polygons, has_other_parts): the last marks geometries with
    points or lines among their parts (inside collections, too).
    """
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    parts, idx = shapely.get_parts(geoms, return_index=True)
    types = shapely.get_type_id(parts)
    while np.isin(types, _MULTI_TYPES).any():  # collections may nest multi-geometries
        multi = np.isin(types, _MULTI_TYPES)
        sub, sub_idx = shapely.get_parts(parts[multi], return_index=True)
        parts = np.concatenate([parts[~multi], sub])
        idx = np.concatenate([idx[~multi], idx[multi][sub_idx]])
        types = shapely.get_type_id(parts)
    nonempty = ~shapely.is_empty(parts)
    poly = (types == _POLYGON) & nonempty
    other = np.zeros(n, dtype=bool)
    other[idx[~poly & nonempty]] = True
    order = np.argsort(idx[poly], kind="stable")
    out = np.full(n, None, dtype=object)
    if poly.any():
        shapely.multipolygons(parts[poly][order], indices=idx[poly][order], out=out)
    return out, ~shapely.is_missing(out), other



def texts(frame: pd.DataFrame, column: str) -> list[str | None]:
    """A column as stripped text: None for missing or blank values (or no such column),
    and no ".0" on codes a reader turned into floats (623001.0 -> "623001")."""
    if column not in frame.columns:
        return [None] * len(frame)
    out: list[str | None] = []
    for v in frame[column].tolist():
        if v is None or v is pd.NA or v is pd.NaT:
            out.append(None)
            continue
        if isinstance(v, float | np.floating):
            if np.isnan(v):
                out.append(None)
                continue
            if float(v).is_integer():
                v = int(v)
        text = str(v).strip()
        out.append(text or None)
    return out


def nonfinite_rows(geoms: np.ndarray) -> np.ndarray:
    """Rows with a NaN or infinite coordinate (e.g. a point the CRS could not convert)."""
    bad = np.zeros(len(geoms), dtype=bool)
    coords, idx = shapely.get_coordinates(geoms, return_index=True)
    bad[idx[~np.isfinite(coords).all(axis=1)]] = True
    return bad

