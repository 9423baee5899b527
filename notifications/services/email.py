"""Notifications by email, through Django's email backend (SMTP in production)."""
from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import timezone

from ..models import Notification
from .links import absolute_url


def notification_email_render(notification: Notification) -> tuple[str, str]:
    """The subject and plain-text body of the email for ``notification``."""
    lines = [notification.title, ""]
    if notification.body:
        lines += [notification.body, ""]
    if notification.url:
        lines += [f"Open: {absolute_url(notification.url)}", ""]
    lines += [
        "--",
        "You get this email because your Flowdeck notification settings ask for it.",
        f"Change them at {absolute_url(reverse('notification-settings'))}",
    ]
    return f"{settings.FLOWDECK_EMAIL_SUBJECT_PREFIX}{notification.title}", "\n".join(lines)


def notification_email_send(*, notification_id: int) -> bool:
    """Send the email for one notification, once. Returns whether it was sent now.

    ``emailed_at`` is set after the backend accepted the message: a worker killed in between
    sends it again rather than never (at least once)."""
    notification = Notification.objects.select_related("user").filter(pk=notification_id).first()
    if notification is None or notification.emailed_at is not None or not notification.user.email:
        return False
    subject, body = notification_email_render(notification)
    EmailMessage(subject, body, settings.FLOWDECK_EMAIL_FROM, [notification.user.email]).send()
    updated = Notification.objects.filter(pk=notification.pk, emailed_at__isnull=True).update(emailed_at=timezone.now())
    return bool(updated)

