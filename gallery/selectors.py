"""Reads for the gallery: browse and search, scoped to what the user may see."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet

from registry.models import Asset
from registry.selectors import assets_visible

from .models import Subscription

SORTS = {
    "subscribers": ("-n_subscribers", "name"),
    "updated": ("-updated_at",),
    "name": ("namespace__slug", "name"),
}


def gallery_search(
    *,
    user: AbstractBaseUser | AnonymousUser,
    q: str = "",
    tag: str = "",
    namespace: str = "",
    subscribed: bool = False,
    sort: str = "updated",
) -> QuerySet[Asset]:
    assets = assets_visible(user=user).filter(latest_version__isnull=False)
    if q:
        assets = assets.filter(
            Q(name__icontains=q) | Q(description__icontains=q) | Q(latest_version__readme__icontains=q)
            | Q(namespace__slug__icontains=q)
        )
    if tag:
        assets = assets.filter(tags__contains=[tag.lower()]) if _json_contains_supported() else assets.filter(tags__icontains=f'"{tag.lower()}"')
    if namespace:
        assets = assets.filter(namespace__slug=namespace)
    if subscribed and user.is_authenticated:
        assets = assets.filter(subscriptions__user=user)
    assets = assets.annotate(n_subscribers=Count("subscriptions", distinct=True))
    return assets.order_by(*SORTS.get(sort, SORTS["updated"]))


def _json_contains_supported() -> bool:
    from django.db import connection

    return connection.features.supports_json_field_contains


def subscription_for(*, user: AbstractBaseUser | AnonymousUser, asset: Asset) -> Subscription | None:
    if not user.is_authenticated:
        return None
    return Subscription.objects.filter(user=user, asset=asset).select_related("pinned_version").first()


def subscriptions_of(*, user: AbstractBaseUser) -> QuerySet[Subscription]:
    return Subscription.objects.filter(user=user).select_related(
        "asset__namespace", "asset__latest_version", "pinned_version"
    )
