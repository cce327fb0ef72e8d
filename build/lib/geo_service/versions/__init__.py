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
from geo_service.versions.reading import (
    UnknownVersion,
    area_frame,
    layer,
    rows_in,
    valid_in,
    valid_in_draft,
)
from geo_service.versions.snapshot import AreaInfo, VersionIndex, build_indexes

__all__ = ["AreaInfo", "ImportRefused", "ImportResult", "UnknownVersion", "VersionIndex",
           "area_frame", "build_indexes", "create_draft", "import_areas", "layer",
           "live_version", "publish", "resolve_version", "rows_in", "stage_level",
           "valid_in", "valid_in_draft", "versions"]
