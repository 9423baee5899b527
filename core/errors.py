"""Domain exceptions. Services raise these; every interface maps them to one error shape.

The API answers ``{"error": {"code": ..., "message": ..., "field": ...}}`` with ``status``.
"""
from __future__ import annotations


class FlowdeckError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def as_dict(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


class InvalidInput(FlowdeckError):
    status = 400
    code = "invalid"


class NotAuthenticated(FlowdeckError):
    status = 401
    code = "not_authenticated"


class Forbidden(FlowdeckError):
    status = 403
    code = "forbidden"


class NotFound(FlowdeckError):
    status = 404
    code = "not_found"


class Conflict(FlowdeckError):
    status = 409
    code = "conflict"


class TooLarge(FlowdeckError):
    status = 413
    code = "too_large"


def error_body(code: str, message: str, field: str | None = None) -> dict:
    return {"error": {"code": code, "message": message, "field": field}}


class QuotaExceeded(FlowdeckError):
    """An upload or publish that would take a team past one of its quotas."""

    status = 413
    code = "quota_exceeded"


class RateLimited(FlowdeckError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int = 60, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after
