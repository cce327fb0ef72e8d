"""Areas as GeoJSON for maps and other systems, and households per area (PII per role)."""

from __future__ import annotations

from typing import Any

import shapely
import sqlalchemy as sa

from boundaries.crs import geometry_from_wgs84
from boundaries.levels import check_level

from .errors import ApiError
from .models import areas, households
from .privacy import household_view, person_view
from .registry import AreaInfo, VersionIndex, area_frame, valid_in

_M_PER_DEG = 111_320.0


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
        raise ApiError(404, "not_found", f"no area {code!r} in version {vi.version}", "code")
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
    """A level as a FeatureCollection in `crs`; simplification keeps neighbours meeting
    exactly (a coverage simplification, not one polygon at a time)."""
    check_level(level)
    frame = area_frame(conn, vi.version, level)
    if parent is not None:
        frame = frame[frame["parent_code"] == parent]
    if bbox is not None:
        frame = frame[frame.intersects(shapely.box(*bbox))]
    geoms = frame.geometry.to_numpy()
    if simplify_m > 0 and len(geoms):
        geoms = shapely.coverage_simplify(geoms, simplify_m / _M_PER_DEG)
    geoms = geometry_from_wgs84(geoms, crs)
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
