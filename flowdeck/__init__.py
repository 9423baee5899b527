"""Flowdeck SDK: define, debug, publish and run ML workflows.

Never imports Django: it needs only the standard library and an HTTP client. ``Client``,
``start_run`` and ``TrackedRun`` (and so httpx) are imported on first use: a step started
by a worker's fork server, which imports this package, does not pay for them.
"""
from typing import TYPE_CHECKING

from .errors import APIError, ConfigError, FlowdeckError, WorkflowError
from .tracking import (
    TrackingError,
    log_artifact,
    log_artifacts,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    set_tag,
    set_tags,
)
from .workflow import Param, Step, Workflow

if TYPE_CHECKING:
    from .client import Client
    from .tracked import TrackedRun, start_run

__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "Client":
        from .client import Client

        return Client
    if name in ("TrackedRun", "start_run"):
        from . import tracked

        return getattr(tracked, name)
    raise AttributeError(f"module 'flowdeck' has no attribute {name!r}")


__all__ = [
    "APIError", "Client", "ConfigError", "FlowdeckError", "Param", "Step", "TrackingError", "Workflow",
    "WorkflowError", "log_artifact", "log_artifacts", "log_metric", "log_metrics", "log_param",
    "log_params", "set_tag", "set_tags", "start_run", "TrackedRun",
]
