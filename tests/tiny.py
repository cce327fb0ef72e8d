"""A tiny prefecture built by hand: squares near 103°E 35°N you can reason about.

    35.02 +---------+---------+-------------------+
          |         |         |   G3  +-----+     |
          |   G1    |   G2    |       | G4  |     |   G4 is an enclave: a hole in G3
          |         |         |       +-----+     |
    35.00 +---------+---------+-------------------+
        103.00    103.01    103.02              103.04
          <------ county 900001 ---><-- county 900002 -->

Each county has one township and one village; each grid holds one ten-household group
with the grid's own outline. Codes: grid = village + 3 digits, group = grid + 3 digits.
"""

from __future__ import annotations

import geopandas as gpd
import shapely

X0, X1, X2, X4 = 103.00, 103.01, 103.02, 103.04
Y0, Y1 = 35.00, 35.02
HOLE = shapely.box(103.025, 35.005, 103.035, 35.015)

G1, G2, G3, G4 = "900001001001001", "900001001001002", "900002001001001", "900002001001002"

GRIDS = {
    G1: ("第一网格", "urban", shapely.box(X0, Y0, X1, Y1)),
    G2: ("第二网格", "urban", shapely.box(X1, Y0, X2, Y1)),
    G3: ("第三网格", "pastoral", shapely.box(X2, Y0, X4, Y1).difference(HOLE)),
    G4: ("第四网格", "urban", HOLE),
}


def tiny_areas() -> gpd.GeoDataFrame:
    rows = [
        ("900000", "测试州", "prefecture", None, None, shapely.box(X0, Y0, X4, Y1)),
        ("900001", "甲县", "county", None, "900000", shapely.box(X0, Y0, X2, Y1)),
        ("900002", "乙县", "county", None, "900000", shapely.box(X2, Y0, X4, Y1)),
        ("900001001", "甲镇", "township", "镇", "900001", shapely.box(X0, Y0, X2, Y1)),
        ("900002001", "乙乡", "township", "乡", "900002", shapely.box(X2, Y0, X4, Y1)),
        ("900001001001", "甲村", "village", "village", "900001001",
         shapely.box(X0, Y0, X2, Y1)),
        ("900002001001", "乙村", "village", "village", "900002001",
         shapely.box(X2, Y0, X4, Y1)),
    ]
    for code, (name, kind, geom) in GRIDS.items():
        rows.append((code, name, "grid", kind, code[:12], geom))
        rows.append((code + "001", f"{name}第1联防组", "group", None, code, geom))
    gdf = gpd.GeoDataFrame(
        [r[:5] for r in rows], columns=["code", "name", "level", "kind", "parent_code"],
        geometry=[shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g
                  for *_, g in rows], crs="EPSG:4326")
    return gdf
