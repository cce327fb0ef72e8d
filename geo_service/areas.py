"""Areas as GeoJSON for maps and other systems, and households per area (PII per role)."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import shapely
import sqlalchemy as sa

from boundaries.crs import geometry_from_wgs84
from boundaries.levels import check_level
from boundaries.simplify import simplify_coverage

from .errors import NotFound
from .models import areas, households
from .privacy import household_view, person_view
from .registry import AreaInfo, VersionIndex, area_frame, valid_in

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


def _info(vi: VersionIndex, code: str) -> AreaInfo:
    info = vi.areas.get(code)
    if info is None:
        raise NotFound(f"no area {code!r} in version {vi.version}", "code")
    return info


def area_feature(conn: sa.Connection, vi: VersionIndex, code: str,
                 crs: str = "EPSG:4326") -> dict[str, Any]:
    """One area as a GeoJSON Feature with its chain and its children, in `crs`."""
    info = _info(vi, code)
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
    feats = [{"type": "Feature", "id": code,
              "properties": _props(vi.areas[code], vi.version),
              "geometry": shapely.geometry.mapping(g)}
             for code, g in zip(frame["code"], geoms, strict=True)]
    return _in_crs({"type": "FeatureCollection", "features": feats}, crs)


def household_page(conn: sa.Connection, vi: VersionIndex, code: str, role: str, *,
                   page: int = 1, per_page: int = 100) -> dict[str, Any]:
    """Households in an area (any level), paged; what each role may see of them is
    `privacy`'s decision."""
    info = _info(vi, code)
    if info.level in ("grid", "group"):
        where = households.c[f"{info.level}_code"] == code
    else:  # every grid below this area
        grids = [c for c, a in vi.areas.items() if a.level == "grid"
                 and any(x.code == code for x in vi.chain(c))]
        where = households.c.grid_code.in_(grids)
    total = conn.execute(sa.select(sa.func.count()).select_from(households).where(where)
                         ).scalar()
    rows = conn.execute(sa.select(households).where(where).order_by(households.c.code)
                        .limit(per_page).offset((page - 1) * per_page)).all()
    items = [{"code": r.code, "grid_code": r.grid_code, "group_code": r.group_code,
              "members": r.members,
              **household_view(r.address, r.geom.x, r.geom.y, r.care_tags, role),
              "head": person_view(r.head_name, r.phone, role)} for r in rows]
    return {"area": code, "page": page, "per_page": per_page, "total": total,
            "households": items}
