"""What an edit returns (`Edit`) and how it refuses (`EditRefused`).

Why: the draft store applies an edit's changed, removed and added areas in one unit of
work and answers a refusal with its status and field; both only need these two shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd
from shapely.geometry.base import BaseGeometry

from boundaries.errors import Unprocessable
from boundaries.validate import texts


@dataclass
class Edit:
    """The outcome of one edit: new geometries (MultiPolygon, EPSG:4326) by code, including
    neighbours that followed (or only gained a vertex: a changed area's corner that now
    lies on their edge, so the edge stays shared); codes that no longer exist; name and
    parent of new areas."""

    changed: dict[str, BaseGeometry] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    added: dict[str, dict] = field(default_factory=dict)

    def apply(self, layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """`layer` after this edit (new areas last, with the layer's level), e.g. to
        validate it or to make the next edit on it."""
        codes = texts(layer, "code")
        keep = [c not in self.removed for c in codes]
        out = layer[keep].copy()
        kept = [c for c, k in zip(codes, keep, strict=True) if k]
        geoms = [self.changed.get(c, g) for c, g in zip(kept, out.geometry, strict=True)]
        out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=layer.crs))
        level = layer["level"].iloc[0] if "level" in layer.columns and len(layer) else None
        new = [{"code": c, "level": level, **self.added[c], out.geometry.name: g}
               for c, g in self.changed.items() if c in self.added]
        if not new:
            return out
        rows = gpd.GeoDataFrame(new, geometry=out.geometry.name, crs=layer.crs)
        return gpd.GeoDataFrame(pd.concat([out, rows], ignore_index=True),
                                geometry=out.geometry.name, crs=layer.crs)


class EditRefused(Unprocessable):
    """An edit that cannot be made as asked (unknown code, a line that does not cut the
    area in two, areas that do not touch); `field` names the input at fault."""

    default_code = "edit_refused"
