"""MLflow's error shape: ``{"error_code": ..., "message": ...}`` with MLflow's status codes.

Flowdeck's services raise its own domain errors (core/errors.py); they are translated here,
once, so every endpoint answers the way the mlflow client expects.
"""
from __future__ import annotations

import json

from django.http import HttpResponse

from core.errors import Conflict, FlowdeckError, Forbidden, InvalidInput, NotAuthenticated, NotFound, TooLarge

RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
INVALID_STATE = "INVALID_STATE"
PERMISSION_DENIED = "PERMISSION_DENIED"
UNAUTHENTICATED = "UNAUTHENTICATED"
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
INTERNAL_ERROR = "INTERNAL_ERROR"

STATUS = {
    RESOURCE_DOES_NOT_EXIST: 404,
    ENDPOINT_NOT_FOUND: 404,
    RESOURCE_ALREADY_EXISTS: 400,
    INVALID_PARAMETER_VALUE: 400,
    INVALID_STATE: 400,
    PERMISSION_DENIED: 403,
    UNAUTHENTICATED: 401,
    NOT_IMPLEMENTED: 501,
    INTERNAL_ERROR: 500,
}


class MlflowError(Exception):
    """An error answered in MLflow's shape; ``code`` is one of the constants above."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return STATUS.get(self.code, 400)


def invalid(message: str) -> MlflowError:
    return MlflowError(INVALID_PARAMETER_VALUE, message)


def missing(message: str) -> MlflowError:
    return MlflowError(RESOURCE_DOES_NOT_EXIST, message)


def from_flowdeck(exc: FlowdeckError) -> MlflowError:
    """The MLflow error for a Flowdeck domain error (a conflict is an invalid state)."""
    if isinstance(exc, NotFound):
        return MlflowError(RESOURCE_DOES_NOT_EXIST, exc.message)
    if isinstance(exc, Forbidden):
        return MlflowError(PERMISSION_DENIED, exc.message)
    if isinstance(exc, NotAuthenticated):
        return MlflowError(UNAUTHENTICATED, exc.message)
    if isinstance(exc, Conflict):
        return MlflowError(INVALID_STATE, exc.message)
    if isinstance(exc, InvalidInput | TooLarge):
        return MlflowError(INVALID_PARAMETER_VALUE, exc.message)
    return MlflowError(INVALID_PARAMETER_VALUE, exc.message)


def error_response(error: MlflowError) -> HttpResponse:
    response = HttpResponse(
        json.dumps({"error_code": error.code, "message": error.message}),
        status=error.status, content_type="application/json",
    )
    if error.code == UNAUTHENTICATED:
        response["WWW-Authenticate"] = 'Bearer realm="flowdeck", Basic realm="flowdeck"'
    return response
