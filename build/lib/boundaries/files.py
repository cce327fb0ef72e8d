"""Boundary files in and out: GeoJSON, GeoPackage and Shapefile, through pyogrio.

`read_areas` turns whatever a planner uploads into one shape of frame (code, name,
parent_code, kind, index, geometry in WGS84) and a list of Problems; it never raises for a
bad file, so the import core can report everything wrong with an upload at once.
"""

from __future__ import annotations

import warnings
from os import PathLike
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from boundaries.crs import WGS84, UnknownCRS, geometry_to_wgs84, normalize_crs
from boundaries.validate import Problem, texts

AREA_COLUMNS = ("code", "name", "parent_code", "kind", "index", "geometry")
DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".shp": "ESRI Shapefile"}
SHAPEFILE_FIELD_LEN = 10  # dBase field names; GDAL truncates longer ones ("parent_cod")
_DEFAULT_FIELDS = {"code": "code", "name": "name", "parent_code": "parent_code", "kind": "kind"}


def read_areas(
    path: str | PathLike[str],
    *,
    crs: str | None = None,
    layer: str | None = None,
    code_field: str = "code",
    name_field: str = "name",
    parent_field: str = "parent_code",
    kind_field: str = "kind",
) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    """Read areas from a boundary file into WGS84, with every problem found on the way.

    `crs` overrides the CRS the file declares (say "gcj02" for an AMap export); without
    it the file's own CRS is used, and a file without one is a `missing_crs` problem.
    Fields are matched exactly, then ignoring case, then as a Shapefile would truncate
    them. The code field must exist; a missing name/parent/kind field under its default
    name reads as None, under a name the caller chose it is a `missing_field` problem.
    When the CRS is unknown or missing the geometries are returned unconverted with no
    CRS on the frame (the problem is fatal either way).
    """
    problems: list[Problem] = []
    declared = None
    if crs is not None:
        try:
            declared = normalize_crs(crs)
        except UnknownCRS as exc:
            problems.append(Problem("unknown_crs", str(exc), detail={"crs": str(crs)}))

    try:
        raw, driver = _read(path, layer, problems)
    except Exception as exc:  # pyogrio raises several types; any of them means "unreadable"
        reason = str(exc) or type(exc).__name__
        problems.append(Problem("unreadable_file", f"cannot read {Path(path).name}: {reason}",
                                detail={"reason": reason}))
        return empty_areas(), problems

    columns = {}
    for key, wanted in (("code", code_field), ("name", name_field),
                        ("parent_code", parent_field), ("kind", kind_field)):
        found = _find_field(list(raw.columns.drop(raw.geometry.name)), wanted)
        if found is None and (key == "code" or wanted != _DEFAULT_FIELDS[key]):
            have = ", ".join(str(c) for c in raw.columns if c != raw.geometry.name) or "none"
            problems.append(Problem("missing_field", f"no field {wanted!r} for the area {key} "
                                    f"(fields: {have})", detail={"field": wanted, "role": key}))
        columns[key] = texts(raw, found) if found is not None else [None] * len(raw)

    source = declared
    if crs is None:
        source = _file_crs(raw, driver, problems)
    geoms = np.asarray(raw.geometry.to_numpy(), dtype=object)
    if source is not None:
        try:
            geoms = np.asarray(geometry_to_wgs84(geoms, source), dtype=object)
        except Exception as exc:  # a CRS PROJ parsed but cannot apply: report, do not raise
            problems.append(Problem("unknown_crs", f"cannot convert from {source}: {exc}",
                                    detail={"crs": source}))
            source = None

    data = {k: pd.Series(v, dtype=object) for k, v in columns.items()}
    data["index"] = pd.Series(np.arange(len(raw)), dtype="int64")
    frame = gpd.GeoDataFrame(
        data, geometry=gpd.GeoSeries(list(geoms)), crs=WGS84 if source else None
    )
    return frame[list(AREA_COLUMNS)], problems


def empty_areas() -> gpd.GeoDataFrame:
    """A frame with the area columns and no rows."""
    data = {c: pd.Series([], dtype=object) for c in AREA_COLUMNS[:4]}
    data["index"] = pd.Series([], dtype="int64")
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([]), crs=WGS84)


def write_areas(
    gdf: gpd.GeoDataFrame, path: str | PathLike[str], *, layer: str | None = None
) -> Path:
    """Write any GeoDataFrame (areas, household points) by extension: .gpkg, .geojson, .shp.

    Text is UTF-8 everywhere; a Shapefile gets a .cpg saying so and field names cut to 10
    characters (kept unique), the same cut `read_areas` undoes when it looks for a field.
    A GeoPackage layer of the same name (default: the file's stem) is replaced.
    """
    path = Path(path)
    driver = DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise ValueError(f"cannot write {path.name}: expected one of {', '.join(DRIVERS)}")
    frame = gdf
    options: dict[str, Any] = {}
    if driver == "ESRI Shapefile":
        frame = gdf.rename(columns=_shapefile_names(gdf.columns, gdf.geometry.name))
        options["encoding"] = "UTF-8"
    frame.to_file(path, driver=driver, engine="pyogrio", layer=layer, index=False, **options)
    return path


# --------------------------------------------------------------------------- helpers


def _read(
    path: str | PathLike[str], layer: str | None, problems: list[Problem]
) -> tuple[gpd.GeoDataFrame, str]:
    """Open one layer; several layers and no choice is a problem (the first is read)."""
    if layer is None:
        layers = pyogrio.list_layers(path)
        if len(layers) > 1:
            names = [str(name) for name, _ in layers]
            problems.append(Problem(
                "ambiguous_layer", f"the file has {len(names)} layers ({', '.join(names)}); "
                "choose one (read the first for now)", detail={"layers": names},
            ))
        layer = str(layers[0][0]) if len(layers) else None
    driver = pyogrio.read_info(path, layer=layer)["driver"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw = gpd.read_file(path, engine="pyogrio", layer=layer)
    for w in caught:
        problems.append(Problem("reader_warning", str(w.message), fatal=False))
    return raw, driver


def _file_crs(raw: gpd.GeoDataFrame, driver: str, problems: list[Problem]) -> str | None:
    """The CRS the file declares, as a canonical name; GeoJSON without one is WGS84."""
    if raw.crs is None:
        if driver == "GeoJSON":
            return WGS84
        problems.append(Problem("missing_crs", "the file declares no CRS; say which one it "
                                "uses (e.g. 'EPSG:4490', 'EPSG:4326', 'gcj02')"))
        return None
    try:
        return normalize_crs(raw.crs.to_string())
    except UnknownCRS as exc:
        problems.append(Problem("unknown_crs", f"the file's own CRS: {exc}",
                                detail={"crs": raw.crs.to_string()}))
        return None


def _find_field(columns: list[Any], wanted: str) -> Any:
    """`wanted` among the columns: exact, then any case, then Shapefile-truncated."""
    if wanted in columns:
        return wanted
    for candidate in (wanted.lower(), wanted[:SHAPEFILE_FIELD_LEN].lower()):
        for c in columns:
            if str(c).lower() == candidate:
                return c
    return None


def _shapefile_names(columns: pd.Index, geometry: str) -> dict[str, str]:
    """Unique field names of at most 10 characters: the plain cut, then a numbered one."""
    renames: dict[str, str] = {}
    taken = {str(c) for c in columns if len(str(c)) <= SHAPEFILE_FIELD_LEN}
    for c in columns:
        name = str(c)
        if c == geometry or len(name) <= SHAPEFILE_FIELD_LEN:
            continue
        short = name[:SHAPEFILE_FIELD_LEN]
        n = 1
        while short in taken:
            suffix = f"_{n}"
            short = name[: SHAPEFILE_FIELD_LEN - len(suffix)] + suffix
            n += 1
        taken.add(short)
        renames[c] = short
    return renames
