"""Areas of a version as GeoJSON for maps and other systems: one area with its chain and
children, or a level, simplified for the zoom in use."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely
import sqlalchemy as sa

from boundaries.crs import geometry_from_wgs84
from boundaries.crs.names import valid_bounds
from boundaries.levels import check_level
from boundaries.simplify import simplify_coverage
from geo_service.store.tables import areas
from geo_service.versions.reading import area_frame, valid_in
from geo_service.versions.snapshot import AreaInfo, VersionIndex

_SIMPLIFIED_KEPT = 8  # per version: a few zoom levels of a few layers


def _simplified(vi: VersionIndex, level: str, tolerance_m: float, frame: Any) -> Any:
    """The level's geometry simplified as one coverage, kept with the version."""
    key = ("simplified", level, tolerance_m)
    hit = vi.memo.get(key)
    if hit is None:
        hit = gpd.GeoSeries(simplify_coverage(frame.geometry.to_numpy(), tolerance_m),
                            index=frame.index, crs=frame.crs)
        kept = [k for k in vi.memo if k[0] == "simplified"]
        for old in kept[:max(len(kept) + 1 - _SIMPLIFIED_KEPT, 0)]:
            vi.memo.pop(old, None)
        vi.memo[key] = hit
    return hit


def _props(info: AreaInfo, version: int) -> dict[str, Any]:
    return {"code": info.code, "name": info.name, "level": info.level, "kind": info.kind,
            "parent_code": info.parent_code, "version": version}


def _in_crs(out: dict[str, Any], crs: str) -> dict[str, Any]:
    if crs != "EPSG:4326":
        out["crs"] = crs
    return out


def area_feature(conn: sa.Connection, vi: VersionIndex, code: str,
                 crs: str = "EPSG:4326") -> dict[str, Any]:
    """One area as a GeoJSON Feature with its chain and its children, in `crs`."""
    info = vi.area(code)
    geom = conn.execute(sa.select(areas.c.geom).where(
        valid_in(vi.version), areas.c.code == code)).scalar_one()
    children = sorted((a for a in vi.areas.values() if a.parent_code == code),
                      key=lambda a: a.code)
    props = _props(info, vi.version)
    props["chain"] = [{"level": a.level, "code": a.code, "name": a.name}
                      for a in vi.chain(code)[1:]]
    props["children"] = [{"code": a.code, "name": a.name, "level": a.level}
                         for a in children]
    return _in_crs({"type": "Feature", "id": code, "properties": props,
                    "geometry": shapely.geometry.mapping(geometry_from_wgs84(geom, crs))}, crs)


def area_collection(conn: sa.Connection, vi: VersionIndex, *, level: str,
                    parent: str | None = None, bbox: tuple[float, ...] | None = None,
                    simplify_m: float = 0.0, crs: str = "EPSG:4326") -> dict[str, Any]:
    """A level as a FeatureCollection in `crs`. With `simplify_m`, no boundary moves more
    than that many metres and neighbours still meet: the whole level is simplified as one
    coverage (cached per version and tolerance), then filtered, so two requests for
    neighbouring parents draw their shared edge the same way."""
    check_level(level)
    frame = area_frame(conn, vi.version, level)
    if simplify_m > 0:
        frame = frame.set_geometry(_simplified(vi, level, simplify_m, frame))
    if parent is not None:
        frame = frame[frame["parent_code"] == parent]
    if bbox is not None:
        frame = frame[frame.intersects(shapely.box(*bbox))]
    geoms = geometry_from_wgs84(frame.geometry.to_numpy(), crs)
    if simplify_m > 0:  # digits below a tenth of a metre say nothing after simplifying
        digits = 6 if valid_bounds(crs)[2] <= 180 else 1  # degrees: 0.11 m; metres: 0.1 m
        geoms = shapely.transform(geoms, lambda xy: np.round(xy, digits))
    feats = [{"type": "Feature", "id": code,
              "properties": _props(vi.areas[code], vi.version),
              "geometry": shapely.geometry.mapping(g)}
             for code, g in zip(frame["code"], geoms, strict=True)]
    return _in_crs({"type": "FeatureCollection", "features": feats}, crs)
