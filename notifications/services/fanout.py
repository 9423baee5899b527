"""One event to many users: pick each user's channels, record it once, then hand email and
webhooks to their own tasks (dispatched on commit).

Everything here runs inside a Celery task, never in a request or the engine's hot path.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from registry.models import Asset, AssetVersion
from runs.models import Run

from ..models import Channel, Notification, WebhookDelivery, WebhookEndpoint
from .preferences import preferences_effective

User = get_user_model()


@dataclass
class Message:
    """What to tell: the same words on every channel, and a JSON payload for webhooks."""

    event: str
    key: str  # unique per user: a retried task never tells anyone twice
    title: str
    body: str = ""
    url: str = ""  # a path on this server
    data: dict[str, Any] = field(default_factory=dict)
    asset: Asset | None = None  # whose workflow preferences apply
    run: Run | None = None
    version: AssetVersion | None = None


def webhook_payload(message: Message, notification: Notification) -> dict[str, Any]:
    from .links import absolute_url

    return {
        "id": notification.pk,
        "event": message.event,
        "created_at": notification.created_at.isoformat(),
        "title": message.title,
        "body": message.body,
        "url": absolute_url(message.url) if message.url else "",
        "data": message.data,
    }


def notify_users(*, message: Message, user_ids: Iterable[int], need_choice: Iterable[int] = ()) -> int:
    """Tell each of ``user_ids`` about ``message`` on the channels they chose for its event.

    ``need_choice``: users told only if a saved preference of theirs names the event (others'
    runs of a workflow they follow). Returns how many users were newly notified."""
    user_ids = list(dict.fromkeys(user_ids))
    if not user_ids:
        return 0
    need_choice = set(need_choice)
    preferences = preferences_effective(user_ids=user_ids, asset=message.asset)
    created = 0
    for user_id in user_ids:
        chosen = preferences[user_id]
        if message.event not in chosen.events or not chosen.channels:
            continue
        if user_id in need_choice and not chosen.explicit:
            continue
        created += _notify_one(message, user_id, list(chosen.channels))
    return created


def _notify_one(message: Message, user_id: int, channels: list[str]) -> int:
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: a concurrent duplicate must not spoil the outer block
                notification = Notification.objects.create(
                    user_id=user_id,
                    kind=message.event,
                    key=message.key,
                    title=message.title[:300],
                    body=message.body,
                    url=message.url[:500],
                    run=message.run,
                    version=message.version,
                    channels=channels,
                    in_app=Channel.IN_APP in channels,
                )
        except IntegrityError:
            return 0  # already told (a retried or duplicated task)
        if Channel.EMAIL in channels:
            from ..tasks import notification_email_task

            notification_email_task.delay_on_commit(notification.pk)
        if Channel.WEBHOOK in channels:
            _queue_webhooks(message, notification)
    return 1


def _queue_webhooks(message: Message, notification: Notification) -> None:
    from ..tasks import webhook_deliver_task

    payload = webhook_payload(message, notification)
    now = timezone.now()
    for endpoint in WebhookEndpoint.objects.filter(user_id=notification.user_id, active=True):
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, notification=notification, event=message.event, payload=payload, next_attempt_at=now
        )
        webhook_deliver_task.delay_on_commit(delivery.pk)
