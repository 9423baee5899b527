"""Which events reach a user, and through which channels.

A preference for one workflow beats the user's default, which beats the built-in default
(every event, in-app only). Events about other people's runs of a subscribed workflow are
sent only to those who chose them in a saved preference: the built-in default would
otherwise tell every subscriber of a busy team workflow about every run.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, QuerySet

from core.errors import InvalidInput
from registry.models import Asset

from ..models import Channel, Event, NotificationPreference

BUILTIN_EVENTS: tuple[str, ...] = tuple(Event.values)
BUILTIN_CHANNELS: tuple[str, ...] = (Channel.IN_APP,)


@dataclass(frozen=True)
class Effective:
    events: tuple[str, ...]
    channels: tuple[str, ...]
    explicit: bool  # from a saved preference, not the built-in default
    source: str  # "workflow", "default" or "builtin"


def _clean(values, allowed: list[str], *, field: str) -> list[str]:
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
        raise InvalidInput(f"{field} must be a list of names.", field=field)
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise InvalidInput(f"Unknown {field}: {', '.join(unknown)} (choose from {', '.join(allowed)}).", field=field)
    return [v for v in allowed if v in set(values)]  # canonical order, no duplicates


def preference_set(
    *, user: AbstractBaseUser, events: list[str], channels: list[str], asset: Asset | None = None
) -> NotificationPreference:
    """Save the user's preference for ``asset`` (or their default when None). The caller has
    checked that the user may see ``asset``. An empty list of channels means "tell me nothing"."""
    cleaned_events = _clean(events, Event.values, field="events")
    cleaned_channels = _clean(channels, Channel.values, field="channels")
    preference, _ = NotificationPreference.objects.update_or_create(
        user=user, asset=asset, defaults={"events": cleaned_events, "channels": cleaned_channels}
    )
    return preference


def preference_clear(*, user: AbstractBaseUser, asset: Asset | None = None) -> bool:
    """Forget a saved preference, so the next one up applies. Returns whether there was one."""
    deleted, _ = NotificationPreference.objects.filter(user=user, asset=asset).delete()
    return deleted > 0


def preference_list(*, user: AbstractBaseUser) -> QuerySet[NotificationPreference]:
    """The user's saved preferences: the default first, then by workflow."""
    return (
        NotificationPreference.objects.filter(user=user)
        .select_related("asset__namespace")
        .order_by(F("asset").asc(nulls_first=True), "asset__namespace__slug", "asset__name")
    )


def preferences_effective(*, user_ids: list[int], asset: Asset | None) -> dict[int, Effective]:
    """The preference that applies to each user for events about ``asset``: two queries for
    any number of users."""
    saved = NotificationPreference.objects.filter(user_id__in=user_ids)
    saved = saved.filter(asset=asset) | saved.filter(asset__isnull=True) if asset is not None else saved.filter(
        asset__isnull=True
    )
    by_user: dict[int, dict[str, NotificationPreference]] = {}
    for preference in saved:
        by_user.setdefault(preference.user_id, {})["workflow" if preference.asset_id else "default"] = preference
    found: dict[int, Effective] = {}
    for user_id in user_ids:
        mine = by_user.get(user_id, {})
        chosen = mine.get("workflow") or mine.get("default")
        if chosen is None:
            found[user_id] = Effective(BUILTIN_EVENTS, BUILTIN_CHANNELS, explicit=False, source="builtin")
        else:
            source = "workflow" if chosen.asset_id else "default"
            found[user_id] = Effective(tuple(chosen.events), tuple(chosen.channels), explicit=True, source=source)
    return found


def preference_effective(*, user: AbstractBaseUser, asset: Asset | None = None) -> Effective:
    return preferences_effective(user_ids=[user.pk], asset=asset)[user.pk]
