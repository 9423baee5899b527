"""Writes for notifications: telling followers about new versions, marking read."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.urls import reverse
from django.utils import timezone

from gallery.models import Subscription
from registry.models import AssetVersion

from .models import Notification


def notify_new_version(*, version: AssetVersion) -> int:
    """One notification per subscriber following the latest version of ``version.asset``
    (pinned subscribers chose not to move). Idempotent: a retry creates no duplicates.
    Returns how many were created."""
    asset = version.asset
    followers = (
        # Those following when it was published: a later subscriber already sees it as the latest.
        Subscription.objects.filter(asset=asset, pinned_version__isnull=True, created_at__lte=version.published_at)
        .exclude(user_id=version.published_by_id)
        .exclude(user_id__in=Notification.objects.filter(version=version).values("user_id"))
        .values_list("user_id", flat=True)
    )
    url = reverse("registry:workflow", kwargs={"namespace": asset.namespace.slug, "name": asset.name})
    rows = [
        Notification(
            user_id=user_id,
            kind=Notification.Kind.NEW_VERSION,
            title=f"{asset.full_name} {version.version} was published",
            body=version.changelog,
            url=f"{url}?version={version.version}",
            version=version,
        )
        for user_id in followers
    ]
    # ignore_conflicts: two deliveries of the same task at once still make one row per user.
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def notifications_mark_read(*, user: AbstractBaseUser, ids: list[int] | None = None) -> int:
    """Mark the user's unread notifications read (only ``ids`` when given). Returns how many."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())
