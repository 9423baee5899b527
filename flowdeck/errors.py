"""Errors the SDK raises. Each says what went wrong in one line."""
from __future__ import annotations

from .spec import SpecError


class FlowdeckError(Exception):
    """Base class for SDK errors."""


class WorkflowError(SpecError):
    """A workflow definition or parameter value is invalid. ``field`` names the culprit."""


class APIError(FlowdeckError):
    """The server answered with an error."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status}, {self.code})"


class ConfigError(FlowdeckError):
    """The SDK is missing a server URL or token."""
