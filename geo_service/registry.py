"""The area registry: boundary versions and the areas valid in each.

One import core serves the CLI, the API and the editor: read, validate everything, and
write nothing unless asked — then all of it in one transaction, or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
import sqlalchemy as sa

from boundaries.files import read_areas
from boundaries.levels import LEVELS, check_level, parent_level
from boundaries.validate import Report, validate_areas

from . import events
from .audit import audit
from .errors import Conflict, NotFound, Unavailable, Unprocessable
from .events import BoundaryPublished
from .households import reassign_households
from .index import GridIndex
from .models import areas, boundary_versions, households, version_removals

AREA_COLUMNS = ("code", "name", "level", "kind", "parent_code", "synthetic")


class UnknownVersion(NotFound):
    """A boundary version that does not exist (or, asked for by `version=`, is a draft:
    drafts answer as if they did not exist)."""

    default_code = "unknown_version"

    def __init__(self, message: str) -> None:
        super().__init__(message, "version")


def now() -> datetime:
    return datetime.now(UTC)


# -- versions ---------------------------------------------------------------------------
def live_version(conn: sa.Connection) -> int | None:
    """Id of the live boundary version, or None before anything was published."""
    return conn.execute(sa.select(boundary_versions.c.id)
                        .where(boundary_versions.c.state == "live")).scalar()


def versions(conn: sa.Connection, *, drafts: bool = True) -> list[dict[str, Any]]:
    """Every boundary version, oldest first; without `drafts`, the published ones only."""
    q = sa.select(boundary_versions).order_by(boundary_versions.c.id)
    if not drafts:
        q = q.where(boundary_versions.c.state != "draft")
    return [dict(r._mapping) for r in conn.execute(q)]


def resolve_version(conn: sa.Connection, version: int | None, *,
                    drafts: bool = False) -> int:
    """`version` if it was published (or the live one when None); with `drafts`, a draft
    too. Drafts are private to their planners: `version=` in the API never reaches one, and
    an unknown version and a draft get the same answer."""
    if version is None:
        live = live_version(conn)
        if live is None:
            raise Unavailable("no boundary version has been published yet", code="no_boundaries")
        return live
    state = conn.execute(sa.select(boundary_versions.c.state)
                         .where(boundary_versions.c.id == version)).scalar()
    if state is None or (state == "draft" and not drafts):
        raise UnknownVersion(f"boundary version {version} does not exist or is not published")
    return version


def create_draft(conn: sa.Connection, author: str, note: str = "") -> int:
    """A new draft based on the live version: it sees that version plus its own changes."""
    return conn.execute(boundary_versions.insert().values(
        state="draft", author=author, note=note, created_at=now(),
        base_version=live_version(conn))).inserted_primary_key[0]


def publish(conn: sa.Connection, version: int, actor: str) -> int:
    """Make a draft live: the previous live version retires, every household moves to its
    grid and group in the new one, and `BoundaryPublished` goes out. Refuses a draft that
    was not based on the version live now (someone published in between). Returns how
    many households changed grid or group."""
    row = conn.execute(sa.select(boundary_versions.c.state, boundary_versions.c.base_version)
                       .where(boundary_versions.c.id == version)).first()
    if row is None or row.state != "draft":
        raise Conflict(f"version {version} is {row.state if row else 'missing'}, not a draft",
                       "version", code="not_a_draft")
    live = live_version(conn)
    if row.base_version != live:
        raise Conflict(f"draft {version} was based on version {row.base_version}, but "
                       f"version {live} is live now; import again on top of it", "version",
                       code="stale_draft")
    conn.execute(areas.update().where(areas.c.id.in_(
        sa.select(version_removals.c.area_id).where(version_removals.c.version_id == version)
    )).values(version_to=version))
    conn.execute(version_removals.delete().where(version_removals.c.version_id == version))
    conn.execute(boundary_versions.update().where(boundary_versions.c.state == "live")
                 .values(state="retired"))
    conn.execute(boundary_versions.update().where(boundary_versions.c.id == version)
                 .values(state="live", published_at=now()))
    moved = 0
    if conn.execute(sa.select(households.c.id).limit(1)).first():
        built = build_indexes(conn, version)
        moved = reassign_households(conn, built.grids, built.groups)
    audit(conn, actor, "publish_version", str(version), households_moved=moved)
    events.publish(conn, BoundaryPublished(version=version, previous=live,
                                           households_moved=moved))
    return moved


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


# -- reading ----------------------------------------------------------------------------
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


# -- importing --------------------------------------------------------------------------
@dataclass
class ImportResult:
    """What an import found and (unless dry-run or failed) did."""

    report: Report
    level: str
    features: int = 0
    version: int | None = None
    written: bool = False
    replaced: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "features": self.features, "version": self.version,
                "written": self.written, "replaced": len(self.replaced),
                **self.report.to_dict()}


def stage_level(conn: sa.Connection, draft: int, gdf: gpd.GeoDataFrame, level: str, *,
                tolerance_m: float, repair: bool = False) -> ImportResult:
    """Validate one level against its parents as seen in `draft`; if clean, write it there.

    The layer replaces, in the draft, the areas with the same codes and every area of the
    level whose parent the file mentions (a planner redraws a village's grids as a whole).
    """
    check_level(level)
    up = parent_level(level)
    parents = area_frame(conn, draft, up) if up else None
    cleaned, report = validate_areas(gdf, level=level, parents=parents,
                                     tolerance_m=tolerance_m, repair=repair)
    result = ImportResult(report=report, level=level, features=len(gdf), version=draft)
    if not report.ok:
        return result
    codes = [str(c) for c in cleaned["code"]]
    parent_codes = sorted({p for p in cleaned["parent_code"].dropna().astype(str)})
    old = sa.and_(rows_in(conn, draft), areas.c.level == level, areas.c.version_from < draft,
                  sa.or_(areas.c.code.in_(codes), areas.c.parent_code.in_(parent_codes)))
    replaced = conn.execute(sa.select(areas.c.id, areas.c.code).where(old)).all()
    result.replaced = [r.code for r in replaced]
    if replaced:
        conn.execute(version_removals.insert(),
                     [{"version_id": draft, "area_id": r.id} for r in replaced])
    conn.execute(areas.delete().where(areas.c.version_from == draft, areas.c.level == level,
                                      areas.c.code.in_(codes)))
    synthetic = cleaned["synthetic"] if "synthetic" in cleaned else [False] * len(cleaned)
    rows = [
        {"code": code, "name": str(name or code), "level": level,
         "kind": None if pd.isna(kind) else str(kind),
         "parent_code": None if pd.isna(parent) else str(parent),
         "synthetic": bool(syn), "version_from": draft, "version_to": None,
         "geom": shapely.to_wkb(geom)}
        for code, name, kind, parent, syn, geom in zip(
            codes, cleaned["name"], cleaned["kind"], cleaned["parent_code"], synthetic,
            cleaned.geometry, strict=True)
    ]
    if rows:
        conn.execute(areas.insert(), rows)
    result.written = True
    return result


class ImportRefused(Unprocessable):
    """An import whose report has problems: nothing of it may be written (raising rolls
    the unit of work back). Carries the whole report."""

    def __init__(self, result: ImportResult) -> None:
        super().__init__(result.report.summary() or "import refused", code="import_refused",
                         detail=result.to_dict())
        self.result = result


def import_areas(conn: sa.Connection, source: str | gpd.GeoDataFrame, level: str, *,
                 author: str, crs: str | None = None, repair: bool = False,
                 publish_now: bool = True, tolerance_m: float = 5.0, note: str = "",
                 fields: dict[str, str] | None = None) -> ImportResult:
    """Import one level from a file (or frame) as a new boundary version, in the caller's
    unit of work: a draft, published at once unless `publish_now` is false. Raises
    `ImportRefused` (so the unit of work writes nothing) when the report has problems; a
    dry run is a unit of work that is not committed, so its report is the real one.
    """
    check_level(level)
    if isinstance(source, gpd.GeoDataFrame):
        gdf, read_problems = source, []
    else:
        gdf, read_problems = read_areas(source, crs=crs, **(fields or {}))
    if read_problems and any(p.fatal for p in read_problems):
        raise ImportRefused(ImportResult(report=Report(list(read_problems)), level=level,
                                         features=len(gdf)))
    draft = create_draft(conn, author, note or f"import {level}")
    result = stage_level(conn, draft, gdf, level, tolerance_m=tolerance_m, repair=repair)
    result.report.problems[:0] = read_problems
    if not result.report.ok:
        result.version = None
        raise ImportRefused(result)
    audit(conn, author, "import_areas", level, features=len(gdf), version=draft,
          replaced=len(result.replaced))
    if publish_now:
        publish(conn, draft, author)
    return result
