"""New versions of followed workflows, and marking notifications read."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.urls import reverse
from django.utils import timezone

from accounts.access import asset_audience_filter
from gallery.models import Subscription
from registry.models import AssetVersion

from ..models import Event, Notification
from .fanout import Message, notify_users

User = get_user_model()


def notify_new_version(*, version: AssetVersion) -> int:
    """Tell each subscriber following the latest version of ``version.asset`` (pinned
    subscribers chose not to move) who may still see it, on the channels they chose.
    Idempotent: a retry creates no duplicates. Returns how many were notified."""
    asset = version.asset
    followers = (
        # Those following when it was published: a later subscriber already sees it as the latest.
        Subscription.objects.filter(asset=asset, pinned_version__isnull=True, created_at__lte=version.published_at)
        .exclude(user_id=version.published_by_id)
        .filter(user_id__in=User.objects.filter(asset_audience_filter(asset)).values("pk"))
        .values_list("user_id", flat=True)
    )
    url = reverse("registry:workflow", kwargs={"namespace": asset.namespace.slug, "name": asset.name})
    message = Message(
        event=Event.NEW_VERSION,
        key=f"version:{version.pk}",
        title=f"{asset.full_name} {version.version} was published",
        body=version.changelog,
        url=f"{url}?version={version.version}",
        data={"workflow": asset.full_name, "version": version.version, "changelog": version.changelog,
              "published_by": version.published_by.username},
        asset=asset,
        version=version,
    )
    return notify_users(message=message, user_ids=list(followers))


def notifications_mark_read(*, user: AbstractBaseUser, ids: list[int] | None = None) -> int:
    """Mark the user's unread notifications read (only ``ids`` when given). Returns how many."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True, in_app=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())
