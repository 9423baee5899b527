"""Celery entry points for notifications: each takes ids and calls one service."""
from __future__ import annotations

import logging
import smtplib

from core.tasks import flowdeck_task
from registry.models import AssetVersion

from .services import notify_new_version, notify_run_finished
from .services.email import notification_email_send
from .services.quota import quota_notice
from .services.webhooks import webhook_attempt, webhooks_sweep

log = logging.getLogger(__name__)


@flowdeck_task("flowdeck.notifications.notify_new_version")
def notify_new_version_task(version_id: int) -> None:
    version = AssetVersion.objects.select_related("asset__namespace", "published_by").filter(pk=version_id).first()
    if version is not None:  # deleted since: nothing to announce
        notify_new_version(version=version)


@flowdeck_task("flowdeck.notifications.notify_run_finished")
def notify_run_finished_task(run_id: int) -> None:
    notify_run_finished(run_id=run_id)


@flowdeck_task("flowdeck.notifications.notify_quota")
def notify_quota_task(team_id: int, quota: str, used: float, limit: float, day: str) -> None:
    quota_notice(team_id=team_id, quota=quota, used=used, limit=limit, day=day)


@flowdeck_task("flowdeck.notifications.email", bind=True)
def notification_email_task(self, notification_id: int) -> None:
    try:
        notification_email_send(notification_id=notification_id)
    except (smtplib.SMTPException, OSError) as exc:  # the mail server is down or refused: later
        log.warning("email for notification %s not sent (%s); retrying", notification_id, type(exc).__name__)
        raise self.retry(exc=exc, countdown=min(60 * 2 ** self.request.retries, 3600)) from None


@flowdeck_task("flowdeck.notifications.webhook_deliver")
def webhook_deliver_task(delivery_id: int, attempt: int = 1) -> None:
    """One attempt; a failed one that may be retried queues the next after its backoff."""
    result = webhook_attempt(delivery_id=delivery_id, number=attempt)
    if result is not None and result.retry_in_s is not None:
        following = result.number + 1 if result.number else attempt  # 0: look at this attempt again
        webhook_deliver_task.apply_async((delivery_id, following), countdown=result.retry_in_s)


@flowdeck_task("flowdeck.notifications.webhooks_sweep")
def webhooks_sweep_task(overdue_s: float = 300) -> None:
    """Beat runs this every minute: deliveries whose message went missing are sent again."""
    webhooks_sweep(overdue_s=overdue_s)
