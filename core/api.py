"""The API's single error shape, for DRF views and for Django's own 404/500 handlers."""
from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from .errors import FlowdeckError, error_body

log = logging.getLogger(__name__)


def _first_detail(detail, path: str = "") -> tuple[str | None, str]:
    """Walk DRF's nested error detail to the first message and the field it belongs to."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            field, message = _first_detail(value, f"{path}.{name}" if path and name else (name or path))
            return field, message
    if isinstance(detail, list) and detail:
        return _first_detail(detail[0], path)
    return (path or None), str(detail)


def exception_handler(exc, context):
    if isinstance(exc, FlowdeckError):
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        return Response(exc.as_dict(), status=exc.status, headers=headers)
    if isinstance(exc, RequestDataTooBig):
        # A JSON body over DATA_UPLOAD_MAX_MEMORY_SIZE: the client should send smaller batches.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        message = (f"The request body is over the server's limit of {limit:,} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE); "
                   "send it in smaller parts.") if limit else "The request body is too large; send it in smaller parts."
        return Response(error_body("too_large", message), status=413)
    if isinstance(exc, Http404):
        return Response(error_body("not_found", "Not found."), status=404)
    if isinstance(exc, DjangoPermissionDenied):
        return Response(error_body("forbidden", "You do not have permission to do this."), status=403)
    if isinstance(exc, drf.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if isinstance(exc, drf.ValidationError):
            field, message = _first_detail(exc.detail)
            message = f"{field}: {message}" if field else message
            return Response(error_body("invalid", message, field), status=400)
        if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
            return Response(error_body("not_authenticated", str(exc.detail)), status=401, headers=headers)
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        return Response(error_body(code, str(exc.detail)), status=exc.status_code, headers=headers)
    log.exception("unhandled API error")
    return Response(error_body("server_error", "Internal server error."), status=500)


def json_404(request, exception=None):
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def json_500(request):
    return JsonResponse(error_body("server_error", "Internal server error."), status=500)
