from django.conf import settings
from django.db import models


class Subscription(models.Model):
    """A user following an asset: the latest version, or pinned to one."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscriptions")
    asset = models.ForeignKey("registry.Asset", on_delete=models.CASCADE, related_name="subscriptions")
    pinned_version = models.ForeignKey(
        "registry.AssetVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "asset"], name="one_subscription_per_user_asset")]


class Star(models.Model):
    """A user's star on an asset: a cheap 'I like this', counted on cards and the detail page."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stars")
    asset = models.ForeignKey("registry.Asset", on_delete=models.CASCADE, related_name="stars")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "asset"], name="one_star_per_user_asset")]
