"""Export any level, or households as points, to a file QGIS and ogrinfo open."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa

from boundaries.files import write_areas
from geo_service.audit import audit
from geo_service.privacy import mask_name, mask_phone
from geo_service.store.tables import households
from geo_service.versions import area_frame, resolve_version


def household_frame(conn: sa.Connection, with_pii: bool) -> gpd.GeoDataFrame:
    cols = ("code", "address", "grid_code", "group_code", "head_name", "phone", "members",
            "care_tags")
    rows = conn.execute(sa.select(*(households.c[c] for c in cols), households.c.geom)
                        .order_by(households.c.code)).all()
    df = pd.DataFrame([r[:-1] for r in rows], columns=list(cols))
    if not with_pii:
        df["head_name"] = df["head_name"].map(mask_name)
        df["phone"] = df["phone"].map(mask_phone)
    return gpd.GeoDataFrame(df, geometry=[r[-1] for r in rows], crs="EPSG:4326")


def export_level(conn: sa.Connection, level: str, out: Path, *, version: int | None = None,
                 with_pii: bool = False, actor: str | None = None) -> int:
    """Write one level of one version (live by default); returns the feature count.
    Personal data leaves only with an audit line naming who took it, and where (in the
    caller's unit of work: no line, no file reported as written)."""
    if level == "household":
        gdf = household_frame(conn, with_pii)
    else:
        gdf = area_frame(conn, resolve_version(conn, version, drafts=True), level)
    write_areas(gdf, out)
    if with_pii and level == "household":
        audit(conn, actor or os.environ.get("USER", "cli"), "export_pii", str(out),
              households=len(gdf))
    return len(gdf)
