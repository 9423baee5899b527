"""What the mlflow client asks a server before it logs: /health, /version, server-info."""
from __future__ import annotations

from django.http import HttpResponse

from core import storage

from ..http import Request, endpoint

# The MLflow REST API release this server follows (the client only prints it).
MLFLOW_API_VERSION = "3.17.2"


@endpoint("GET", public=True)
def health(request: Request) -> HttpResponse:
    return HttpResponse("OK", content_type="text/plain")


@endpoint("GET", public=True)
def version(request: Request) -> HttpResponse:
    return HttpResponse(MLFLOW_API_VERSION, content_type="text/plain")


@endpoint("GET", public=True)
def server_info(request: Request) -> dict:
    # Asked before logging in (no credentials), as MLflow's own: nothing here is private.
    return {
        "store_type": "SqlStore",
        "workspaces_enabled": False,
        "trace_archival_enabled": False,
        "multipart_uploads_enabled": storage.multipart_supported(),
        "multipart_downloads_enabled": False,
    }


@endpoint("GET", "POST", "PUT", "PATCH", "DELETE", public=True)
def not_found(request: Request) -> HttpResponse:
    from ..errors import ENDPOINT_NOT_FOUND, MlflowError, error_response

    return error_response(MlflowError(ENDPOINT_NOT_FOUND, f"No MLflow endpoint at {request.http.path}."))
