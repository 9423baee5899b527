"""The request's client address, for the audit log and the rate limiter.

A middleware puts it in a context variable for the duration of the request, so services
deep below a view (``run_start``, ``version_publish``) can record where an action came from
without every signature growing an ``ip`` argument. Celery tasks and management commands
have no request: their entries record no address.
"""
from __future__ import annotations

import ipaddress
from contextvars import ContextVar

from django.conf import settings
from django.http import HttpRequest

_ip: ContextVar[str | None] = ContextVar("flowdeck_request_ip", default=None)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or with FLOWDECK_TRUSTED_PROXIES = N > 0, the
    address the N-th proxy from us saw in X-Forwarded-For (a client can prepend any
    address it likes, so only hops our own proxies appended are believed)."""
    address = request.META.get("REMOTE_ADDR") or None
    hops = settings.FLOWDECK_TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops > 0 and forwarded:
        chain = [part.strip() for part in forwarded.split(",") if part.strip()]
        if chain:
            address = chain[-hops] if len(chain) >= hops else chain[0]
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


def current_ip() -> str | None:
    """The address of the request being served, or None outside a request."""
    return _ip.get()


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        token = _ip.set(client_ip(request))
        try:
            return self.get_response(request)
        finally:
            _ip.reset(token)
