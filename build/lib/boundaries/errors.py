"""One family of errors for the boundary library and the service built on it.

Each kind carries the HTTP status a caller would get as a class attribute, a stable code
(the kind's default, or a more specific one per raise: `unknown_crs`, `out_of_range`...),
a message a person can act on, and the input it is about (`field`). The library raises
them without knowing about HTTP; the service's one handler turns any of them into
`{"error": {"code", "message", "field"}}` with that status. The README lists the codes.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ServiceError(Exception):
    """The root of the family: something the caller can act on."""

    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "error"

    def __init__(self, message: str, field: str | None = None, *, code: str | None = None,
                 detail: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code or self.default_code
        self.detail = detail
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message,
                                "field": self.field}
        if self.detail is not None:
            body["detail"] = self.detail
        return {"error": body}


class Invalid(ServiceError):
    """Malformed input: missing, unreadable, of the wrong type or format."""

    status, default_code = 400, "invalid"


class Unauthorized(ServiceError):
    status, default_code = 401, "unauthorized"


class Forbidden(ServiceError):
    status, default_code = 403, "forbidden"


class NotFound(ServiceError):
    status, default_code = 404, "not_found"


class Conflict(ServiceError):
    """Well-formed, but the state of things refuses it (a stale draft, a reused id)."""

    status, default_code = 409, "conflict"


class TooLarge(ServiceError):
    status, default_code = 413, "too_large"


class UriTooLong(ServiceError):
    status, default_code = 414, "uri_too_long"


class UnsupportedMediaType(ServiceError):
    status, default_code = 415, "unsupported_media_type"


class Unprocessable(ServiceError):
    """Well-formed input that cannot be right: out of range, swapped axes, a refused
    import."""

    status, default_code = 422, "unprocessable"


class HeaderTooLarge(ServiceError):
    status, default_code = 431, "header_too_large"


class Unavailable(ServiceError):
    """Not now: nothing published yet, or still being loaded (see `Retry-After`)."""

    status, default_code = 503, "unavailable"


KINDS: tuple[type[ServiceError], ...] = (
    Invalid, Unauthorized, Forbidden, NotFound, Conflict, TooLarge, UriTooLong,
    UnsupportedMediaType, Unprocessable, HeaderTooLarge, Unavailable)
BY_STATUS = {kind.status: kind for kind in KINDS}
