"""Reads for the gallery: browse and search, scoped to what the user may see."""
from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import BooleanField, Count, Exists, FloatField, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone

from registry.models import Asset
from registry.selectors import assets_visible
from runs.models import Run

from . import search
from .models import Star, Subscription

SORTS = {
    "updated": ("-updated_at", "pk"),
    "subscribers": ("-n_subscribers", "namespace__slug", "name"),
    "stars": ("-n_stars", "namespace__slug", "name"),
    "name": ("namespace__slug", "name"),
}
USAGE_WINDOW = timedelta(days=30)


def _count_per_asset(queryset: QuerySet, asset_field: str) -> Coalesce:
    """A correlated COUNT subquery: one query for the page, and no join fan-out between counts."""
    counted = (
        queryset.filter(**{asset_field: OuterRef("pk")})
        .order_by()
        .values(asset_field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def with_counts(assets: QuerySet[Asset]) -> QuerySet[Asset]:
    """Annotate subscribers, stars and runs in the last 30 days (``n_runs_30d``)."""
    since = timezone.now() - USAGE_WINDOW
    return assets.annotate(
        n_subscribers=_count_per_asset(Subscription.objects.all(), "asset"),
        n_stars=_count_per_asset(Star.objects.all(), "asset"),
        n_runs_30d=_count_per_asset(Run.objects.filter(created_at__gte=since), "asset_version__asset"),
    )


def _text_search(assets: QuerySet[Asset], q: str) -> QuerySet[Asset]:
    if search.enabled():
        # The stored, GIN-indexed document (gallery/search.py), with websearch syntax.
        query = "websearch_to_tsquery('english', %s)"
        return assets.filter(
            RawSQL(f"registry_asset.search_document @@ {query}", (q,), output_field=BooleanField())
        ).annotate(rank=RawSQL(f"ts_rank(registry_asset.search_document, {query})", (q,), output_field=FloatField()))
    # SQLite (embedded default): substring match, no ranking.
    return assets.filter(
        Q(name__icontains=q) | Q(description__icontains=q) | Q(latest_version__readme__icontains=q)
        | Q(namespace__slug__icontains=q)
    )


def _has_tag(assets: QuerySet[Asset], tag: str) -> QuerySet[Asset]:
    if connection.features.supports_json_field_contains:  # PostgreSQL: jsonb @> '["tag"]'
        return assets.filter(tags__contains=[tag])
    # SQLite: match a whole element of the JSON list, not a substring of another tag.
    from django.db.models.expressions import RawSQL

    return assets.filter(pk__in=RawSQL(
        "SELECT a.id FROM registry_asset a, json_each(a.tags) t WHERE t.value = %s", (tag,)
    ))


def gallery_search(
    *,
    user: AbstractBaseUser | AnonymousUser,
    q: str = "",
    tag: str = "",
    namespace: str = "",
    subscribed: bool = False,
    sort: str = "updated",
) -> QuerySet[Asset]:
    """Visible, published assets matching the filters, with counts; by relevance when ``q`` is given
    on PostgreSQL (full-text search with websearch syntax), else by ``sort``."""
    assets = assets_visible(user=user).filter(latest_version__isnull=False)
    q = (q or "").strip()
    if q:
        assets = _text_search(assets, q)
    if tag:
        assets = _has_tag(assets, tag.lower())
    if namespace:
        assets = assets.filter(namespace__slug=namespace)
    if subscribed:
        if not user.is_authenticated:
            return assets.none()
        assets = assets.filter(Exists(Subscription.objects.filter(user=user, asset=OuterRef("pk"))))
    assets = with_counts(assets)
    order = SORTS.get(sort, SORTS["updated"])
    if q and search.enabled() and sort in ("", "relevance", "updated"):
        order = ("-rank", *order)
    return assets.order_by(*order)


def star_count(*, asset: Asset) -> int:
    return Star.objects.filter(asset=asset).count()


def star_for(*, user: AbstractBaseUser | AnonymousUser, asset: Asset) -> bool:
    return user.is_authenticated and Star.objects.filter(user=user, asset=asset).exists()


def subscription_for(*, user: AbstractBaseUser | AnonymousUser, asset: Asset) -> Subscription | None:
    if not user.is_authenticated:
        return None
    return Subscription.objects.filter(user=user, asset=asset).select_related("pinned_version").first()


def subscriptions_of(*, user: AbstractBaseUser) -> QuerySet[Subscription]:
    return Subscription.objects.filter(user=user).select_related(
        "asset__namespace", "asset__latest_version", "pinned_version"
    )
