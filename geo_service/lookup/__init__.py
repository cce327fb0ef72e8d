"""The point-in-grid lookup: which grid holds a point, its chain, and who answers for it.

`parse` reads and checks the input (every caller gets the same errors), `answers` builds
the answers from a version's index, `roster` holds who answers for each area.
"""

from geo_service.lookup.answers import (
    area_brief,
    chain_of,
    encode_answers,
    lookup_batch,
    lookup_point,
    output_point,
)
from geo_service.lookup.parse import (
    SUPPORTED_CRS,
    check_point,
    feature_points,
    parse_crs,
    parse_number,
)
from geo_service.lookup.roster import PeopleDirectory

__all__ = ["SUPPORTED_CRS", "PeopleDirectory", "area_brief", "chain_of",
           "check_point", "encode_answers", "feature_points", "lookup_batch", "lookup_point",
           "output_point", "parse_crs", "parse_number"]
