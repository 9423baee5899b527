"""Flowdeck SDK: define, debug, publish and run ML workflows.

Never imports Django: it needs only the standard library and an HTTP client.
"""
from .client import Client
from .errors import APIError, ConfigError, FlowdeckError, WorkflowError
from .tracked import TrackedRun, start_run
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

__version__ = "0.1.0"

__all__ = [
    "APIError", "Client", "ConfigError", "FlowdeckError", "Param", "Step", "TrackingError", "Workflow",
    "WorkflowError", "log_artifact", "log_artifacts", "log_metric", "log_metrics", "log_param",
    "log_params", "set_tag", "set_tags", "start_run", "TrackedRun",
]
