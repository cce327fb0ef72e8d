"""Checking a set of areas before it may become a boundary version.

`validate_areas` reports every problem it finds in one pass, each naming the feature it is
about by its position in the file and its own code, never raises for bad data and writes
nothing; the CLI, the API and the editor share it and its `Report`. One job per module:
`report` (Problem, Report and how they serialise), `shapes` (features in normal form:
MultiPolygons, codes as text), `measure` (areas in metres around the data), `checks`
(validate_areas and the checks of each feature) and `coverage` (outside_parent, overlap,
gap: how the areas tile their parents). Callers import from `boundaries.validate`.
"""

from .checks import CHINA_BBOX, validate_areas
from .coverage import SLACK_DEG
from .measure import AREA_EPSILON_M2, SEGMENT_DEG, LocalMetres, data_centre
from .report import Problem, Report
from .shapes import as_multipolygons, texts

__all__ = [
    "AREA_EPSILON_M2",
    "CHINA_BBOX",
    "SEGMENT_DEG",
    "SLACK_DEG",
    "LocalMetres",
    "Problem",
    "Report",
    "as_multipolygons",
    "data_centre",
    "texts",
    "validate_areas",
]
