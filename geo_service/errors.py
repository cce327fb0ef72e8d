"""One error type and one JSON shape for every error the service returns.

`{"error": {"code": "...", "message": "...", "field": "..."}}` — `field` names the input
that was wrong (a query parameter, a JSON path, a feature index) or is null.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A failure the caller can act on: carries the HTTP status, a stable code, a message."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 detail: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = headers or {}
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.detail = detail

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message,
                                "field": self.field}
        if self.detail is not None:
            body["detail"] = self.detail
        return {"error": body}

