"""The service's errors: the one family of `boundaries.errors`, and the one JSON shape.

`{"error": {"code": "...", "message": "...", "field": "..."}}` — `field` names the input
that was wrong (a query parameter, a JSON path, a feature index) or is null. The web
layer's one handler turns every `ServiceError` into it, with the kind's status.
"""

from boundaries.errors import (
    BY_STATUS,
    Conflict,
    Forbidden,
    HeaderTooLarge,
    Invalid,
    NotFound,
    ServiceError,
    TooLarge,
    Unauthorized,
    Unavailable,
    Unprocessable,
    UnsupportedMediaType,
    UriTooLong,
)

__all__ = ["BY_STATUS", "Conflict", "Forbidden", "HeaderTooLarge", "Invalid", "NotFound",
           "ServiceError", "TooLarge", "Unauthorized", "Unavailable", "Unprocessable",
           "UnsupportedMediaType", "UriTooLong"]
