"""Webhook endpoints and their deliveries: signed JSON POSTs, retried with backoff.

Every request carries
    X-Flowdeck-Timestamp: <unix seconds>
    X-Flowdeck-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>
    X-Flowdeck-Event, X-Flowdeck-Delivery (the same on every attempt, for deduplication)
A receiver recomputes the HMAC over the timestamp, a dot and the exact bytes it received,
compares in constant time, and refuses timestamps too far from its clock (replays).
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from core.errors import InvalidInput, NotFound

from ..models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

SECRET_PREFIX = "whsec_"
MAX_ENDPOINTS_PER_USER = 20
USER_AGENT = "Flowdeck-Webhooks/1"


def webhook_signature(*, secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Flowdeck-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def _check_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("The webhook URL must be an http:// or https:// URL.", field="url")
    if parts.username or parts.password:
        raise InvalidInput("Put no credentials in the webhook URL; verify the signature instead.", field="url")
    if len(url) > 1000:
        raise InvalidInput("The webhook URL is longer than 1000 characters.", field="url")
    return url


def webhook_create(*, user: AbstractBaseUser, name: str, url: str) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint. Returns it and its secret, which is shown to the user this once."""
    name = (name or "").strip()[:100] or "webhook"
    url = _check_url(url)
    if WebhookEndpoint.objects.filter(user=user).count() >= MAX_ENDPOINTS_PER_USER:
        raise InvalidInput(f"You already have {MAX_ENDPOINTS_PER_USER} webhook endpoints; delete one first.")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint.objects.create(user=user, name=name, url=url, secret=secret)
    return endpoint, secret


def webhook_list(*, user: AbstractBaseUser) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(user=user)


def webhook_get(*, user: AbstractBaseUser, endpoint_id: int) -> WebhookEndpoint:
    """The user's own endpoint; anyone else's is "not found" (no leak)."""
    endpoint = WebhookEndpoint.objects.filter(user=user, pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound(f"Webhook {endpoint_id} was not found.", field="webhook")
    return endpoint


def webhook_delete(*, user: AbstractBaseUser, endpoint_id: int) -> None:
    webhook_get(user=user, endpoint_id=endpoint_id).delete()


def webhook_deliveries(*, endpoint: WebhookEndpoint, limit: int = 50) -> list[WebhookDelivery]:
    """The endpoint's latest deliveries, newest first, each with its attempts."""
    return list(endpoint.deliveries.prefetch_related("attempt_log")[:limit])


def webhook_ping(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send the endpoint a test delivery (event ``ping``), signed and retried like any other."""
    from ..tasks import webhook_deliver_task
    from .links import absolute_url

    now = timezone.now()
    payload = {"id": None, "event": "ping", "created_at": now.isoformat(), "title": "Test delivery from Flowdeck",
               "body": f"Webhook '{endpoint.name}' is set up.", "url": absolute_url("/notifications/settings/"),
               "data": {"webhook": endpoint.pk}}
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="ping", payload=payload, next_attempt_at=now)
    webhook_deliver_task.delay_on_commit(delivery.pk)
    return delivery


def backoff_s(attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, ...): doubling, capped."""
    return min(settings.FLOWDECK_WEBHOOK_BACKOFF_S * 2 ** (attempt - 1), settings.FLOWDECK_WEBHOOK_BACKOFF_MAX_S)


def _private_address(host: str, port: int) -> str | None:
    """The first loopback/private/link-local address ``host`` resolves to, if any."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise ConnectionError(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return str(address)
    return None


@dataclass(frozen=True)
class AttemptResult:
    number: int
    succeeded: bool
    status_code: int | None
    error: str
    retry_in_s: float | None  # None: no further attempt


def _post(endpoint: WebhookEndpoint, delivery: WebhookDelivery, number: int) -> tuple[int | None, str]:
    parts = urlsplit(endpoint.url)
    if not settings.FLOWDECK_WEBHOOK_ALLOW_PRIVATE:
        private = _private_address(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        if private:
            return None, f"refused: {parts.hostname} resolves to the non-public address {private}"
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Flowdeck-Event": delivery.event,
        "X-Flowdeck-Delivery": str(delivery.pk),
        "X-Flowdeck-Attempt": str(number),
        "X-Flowdeck-Timestamp": str(timestamp),
        "X-Flowdeck-Signature": webhook_signature(secret=endpoint.secret, timestamp=timestamp, body=body),
    }
    response = httpx.post(
        endpoint.url, content=body, headers=headers, timeout=settings.FLOWDECK_WEBHOOK_TIMEOUT_S, follow_redirects=False
    )
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code}: {response.text[:200]}"


CLAIM_GRACE_S = 30


def _claim(delivery: WebhookDelivery, number: int) -> tuple[bool, float | None]:
    """Claim attempt ``number`` of ``delivery``. Returns (claimed, recheck_in_s).

    Each message names the attempt it is for, so a duplicate or late message finds the
    attempt made and does nothing. A message redelivered because its worker died mid-attempt
    (late acks) finds the attempt claimed but never recorded: once the claim is older than a
    request could take, it claims it again; before that, it asks to look again later."""
    recorded = delivery.attempt_log.count()
    if recorded >= number or delivery.attempts > number or delivery.attempts < number - 1:
        return False, None  # done already, or not this message's turn
    now = timezone.now()
    pending = WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.PENDING)
    if delivery.attempts == number - 1:
        return bool(pending.filter(attempts=number - 1).update(attempts=number, claimed_at=now)), None
    held_for = (now - delivery.claimed_at).total_seconds() if delivery.claimed_at else float("inf")
    stale_after = settings.FLOWDECK_WEBHOOK_TIMEOUT_S + CLAIM_GRACE_S
    if held_for < stale_after:
        return False, stale_after - held_for
    return bool(pending.filter(attempts=number, claimed_at=delivery.claimed_at).update(claimed_at=now)), None


def webhook_attempt(*, delivery_id: int, number: int = 1) -> AttemptResult | None:
    """Make attempt ``number`` of a pending delivery and record it. Returns None when there
    is nothing to do (the delivery ended, the attempt was made, or another worker holds it);
    a result with ``number`` 0 asks to look again after ``retry_in_s``."""
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return None
    claimed, recheck_in = _claim(delivery, number)
    if recheck_in is not None:
        return AttemptResult(0, False, None, "", recheck_in)
    if not claimed:
        return None
    started = time.perf_counter()
    permanent = False
    if not delivery.endpoint.active:
        status_code, error, permanent = None, "the endpoint was turned off", True
    else:
        try:
            status_code, error = _post(delivery.endpoint, delivery, number)
            permanent = error.startswith("refused:")
        except (httpx.HTTPError, OSError) as exc:
            status_code, error = None, f"{type(exc).__name__}: {exc}"[:500]
    duration_ms = (time.perf_counter() - started) * 1000
    succeeded = status_code is not None and not error
    last = permanent or number >= settings.FLOWDECK_WEBHOOK_MAX_ATTEMPTS
    retry_in = None if succeeded or last else backoff_s(number)
    now = timezone.now()
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery, number=number, status_code=status_code, error=error, duration_ms=duration_ms
        )
        if succeeded or last:
            status = WebhookDelivery.Status.SUCCEEDED if succeeded else WebhookDelivery.Status.FAILED
            WebhookDelivery.objects.filter(pk=delivery.pk).update(status=status, finished_at=now, next_attempt_at=None)
        else:
            WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=now + timedelta(seconds=retry_in))
    return AttemptResult(number, succeeded, status_code, error, retry_in)


def webhooks_sweep(*, overdue_s: float = 300) -> int:
    """Send again the message of every pending delivery whose next attempt is ``overdue_s``
    late (a broker that lost it, a worker that died holding it). Duplicates do nothing: each
    message names its attempt. Returns how many were sent."""
    from ..tasks import webhook_deliver_task

    late = timezone.now() - timedelta(seconds=overdue_s)
    overdue = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lt=late)
    sent = 0
    for delivery_id, attempts, recorded in overdue.annotate(recorded=Count("attempt_log")).values_list(
        "pk", "attempts", "recorded"
    )[:1000]:
        # A claimed attempt never recorded is that attempt again; else the next one.
        webhook_deliver_task.delay(delivery_id, attempts if attempts > recorded else attempts + 1)
        sent += 1
    return sent
