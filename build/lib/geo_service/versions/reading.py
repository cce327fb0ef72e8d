"""Which rows of `areas` belong to a version, and reading them.

Areas follow MapIt's generations: a row is valid from the published version that
introduced it until the one that replaced it. A draft sees its base version's rows less
the ones it removes, plus its own; rows of a draft never published belong to no other
version.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa

from boundaries.levels import check_level
from geo_service.errors import NotFound
from geo_service.store.tables import areas, boundary_versions, version_removals

AREA_COLUMNS = ("code", "name", "level", "kind", "parent_code", "synthetic")


class UnknownVersion(NotFound):
    """A boundary version that does not exist (or, asked for by `version=`, is a draft:
    drafts answer as if they did not exist)."""

    default_code = "unknown_version"

    def __init__(self, message: str) -> None:
        super().__init__(message, "version")


_PUBLISHED = sa.select(boundary_versions.c.id).where(boundary_versions.c.state != "draft")


def valid_in(version: int | None) -> sa.ColumnElement[bool]:
    """Rows of `areas` valid in a published `version` (MapIt-style generation range).
    Rows of drafts never published are valid in no other version."""
    if version is None:
        return sa.false()
    return sa.and_(areas.c.version_from <= version, areas.c.version_from.in_(_PUBLISHED),
                   sa.or_(areas.c.version_to.is_(None), areas.c.version_to > version))


def valid_in_draft(draft: int, base: int | None) -> sa.ColumnElement[bool]:
    """Rows of a draft: its base version's rows less its removals, plus its own rows."""
    removed = sa.select(version_removals.c.area_id).where(
        version_removals.c.version_id == draft)
    return sa.or_(areas.c.version_from == draft,
                  sa.and_(valid_in(base), areas.c.id.not_in(removed)))


def rows_in(conn: sa.Connection, version: int) -> sa.ColumnElement[bool]:
    """The rows of any version, draft or published, as the store records it."""
    row = conn.execute(sa.select(boundary_versions.c.state, boundary_versions.c.base_version)
                       .where(boundary_versions.c.id == version)).first()
    if row is None:
        raise UnknownVersion(f"boundary version {version} does not exist")
    return valid_in_draft(version, row.base_version) if row.state == "draft" \
        else valid_in(version)


def area_frame(conn: sa.Connection, version: int, level: str | None = None,
               codes: list[str] | None = None) -> gpd.GeoDataFrame:
    """Areas valid in `version` as a GeoDataFrame (EPSG:4326), optionally one level."""
    q = sa.select(*(areas.c[c] for c in AREA_COLUMNS), areas.c.geom).where(
        rows_in(conn, version))
    if level is not None:
        q = q.where(areas.c.level == check_level(level))
    if codes is not None:
        q = q.where(areas.c.code.in_(codes))
    rows = conn.execute(q.order_by(areas.c.code)).all()
    df = pd.DataFrame([r[:-1] for r in rows], columns=list(AREA_COLUMNS))
    return gpd.GeoDataFrame(df, geometry=[r[-1] for r in rows], crs="EPSG:4326")


def layer(conn: sa.Connection, version: int, level: str) -> tuple[list[str], list[Any]]:
    """Codes and geometries of one level, for building an index."""
    rows = conn.execute(sa.select(areas.c.code, areas.c.geom)
                        .where(rows_in(conn, version), areas.c.level == level)).all()
    return [r[0] for r in rows], [r[1] for r in rows]
