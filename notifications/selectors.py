"""Reads for notifications: always the user's own."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from .models import Notification


def notification_list(*, user: AbstractBaseUser, unread_only: bool = False) -> QuerySet[Notification]:
    """The user's inbox: notifications for which they chose the in-app channel."""
    notifications = Notification.objects.filter(user=user, in_app=True)
    return notifications.filter(read_at__isnull=True) if unread_only else notifications


def unread_count(*, user: AbstractBaseUser) -> int:
    return Notification.objects.filter(user=user, in_app=True, read_at__isnull=True).count()
