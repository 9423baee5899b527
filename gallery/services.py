"""Writes for the gallery: subscriptions and stars."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from registry.models import Asset
from registry.selectors import version_get

from .models import Star, Subscription


def subscription_set(*, user: AbstractBaseUser, asset: Asset, pin: str | None = None) -> Subscription:
    """Subscribe to ``asset``, following the latest version or pinned to ``pin``. Idempotent."""
    pinned = version_get(asset=asset, version=pin) if pin else None
    subscription, _ = Subscription.objects.update_or_create(
        user=user, asset=asset, defaults={"pinned_version": pinned}
    )
    return subscription


def subscription_delete(*, user: AbstractBaseUser, asset: Asset) -> bool:
    """Unsubscribe. Past runs are kept. Returns whether a subscription existed."""
    deleted, _ = Subscription.objects.filter(user=user, asset=asset).delete()
    return deleted > 0


def star_set(*, user: AbstractBaseUser, asset: Asset) -> Star:
    """Star ``asset``. Idempotent: starring twice keeps one star."""
    star, _ = Star.objects.get_or_create(user=user, asset=asset)
    return star


def star_delete(*, user: AbstractBaseUser, asset: Asset) -> bool:
    """Remove the star. Idempotent; returns whether there was one."""
    deleted, _ = Star.objects.filter(user=user, asset=asset).delete()
    return deleted > 0
