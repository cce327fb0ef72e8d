"""A version in memory: the grid and group indexes and the area directory a lookup needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from boundaries.levels import LEVELS
from geo_service.errors import NotFound
from geo_service.index import GridIndex
from geo_service.store.tables import areas
from geo_service.versions.reading import layer, rows_in


@dataclass(frozen=True)
class AreaInfo:
    code: str
    name: str
    level: str
    kind: str | None
    parent_code: str | None


@dataclass(frozen=True)
class VersionIndex:
    """Everything a lookup needs about one boundary version, held in memory."""

    version: int
    grids: GridIndex
    groups: GridIndex
    areas: dict[str, AreaInfo]
    # Pre-encoded parts of lookup answers (orjson fragments by (grid, group)), filled when
    # the index is built (`lookup.encode_answers`): a single lookup then copies bytes
    # instead of building and encoding dicts.
    json: dict[tuple[str, str | None], Any] = field(default_factory=dict, compare=False,
                                                   repr=False)
    # What is derived from this version on demand and kept while it is held: which grids
    # a scope area covers, simplified layers for maps. Keys say what they are.
    memo: dict[tuple[Any, ...], Any] = field(default_factory=dict, compare=False,
                                             repr=False)

    def area(self, code: str) -> AreaInfo:
        """The area `code` of this version; 404 naming the code otherwise."""
        info = self.areas.get(code)
        if info is None:
            raise NotFound(f"no area {code!r} in version {self.version}", "code")
        return info

    def chain(self, code: str | None) -> list[AreaInfo]:
        """The area and its ancestors, up to the prefecture."""
        out: list[AreaInfo] = []
        while code and (info := self.areas.get(code)) and len(out) < len(LEVELS):
            out.append(info)
            code = info.parent_code
        return out


def build_indexes(conn: sa.Connection, version: int, *, raster: bool = True
                  ) -> VersionIndex:
    """The grid and ten-household-group indexes and the area directory of one version
    (`raster=False`: plain indexes, see GridIndex)."""
    grids, groups = (GridIndex(*layer(conn, version, lvl), version=version, level=lvl,
                               raster=raster)
                     for lvl in ("grid", "group"))
    rows = conn.execute(sa.select(areas.c.code, areas.c.name, areas.c.level, areas.c.kind,
                                  areas.c.parent_code).where(rows_in(conn, version)))
    return VersionIndex(version, grids, groups, {r[0]: AreaInfo(*r) for r in rows})
