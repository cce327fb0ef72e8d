"""Boundary versions: drafts and publishing (`drafts`), which rows a version holds and
reading them (`reading`), a version in memory for lookups (`snapshot`), the one import
core (`importing`), and areas as GeoJSON (`areas`)."""

from geo_service.versions.drafts import (
    create_draft,
    live_version,
    publish,
    resolve_version,
    versions,
)
from geo_service.versions.importing import (
    ImportRefused,
    ImportResult,
    import_areas,
    stage_level,
)
from geo_service.versions.reading import UnknownVersion, area_frame, valid_in
from geo_service.versions.snapshot import VersionIndex, build_indexes

__all__ = ["ImportRefused", "ImportResult", "UnknownVersion", "VersionIndex", "area_frame",
           "build_indexes", "create_draft", "import_areas", "live_version", "publish",
           "resolve_version", "stage_level", "valid_in", "versions"]
