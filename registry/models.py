from django.conf import settings
from django.db import models


class Visibility(models.TextChoices):
    PRIVATE = "private"
    TEAM = "team"
    PUBLIC = "public"


class Asset(models.Model):
    """A published workflow, addressed as ``namespace/name``."""

    namespace = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="assets")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    visibility = models.CharField(max_length=16, choices=Visibility.choices, default=Visibility.PRIVATE)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    latest_version = models.ForeignKey(
        "AssetVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "name"], name="unique_asset_per_namespace")]
        ordering = ["namespace__slug", "name"]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.namespace.slug}/{self.name}"


class AssetVersion(models.Model):
    """One immutable published version: spec, bundle digest, README and changelog."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=64)
    major = models.PositiveIntegerField()
    minor = models.PositiveIntegerField()
    patch = models.PositiveIntegerField()
    spec = models.JSONField()
    bundle_digest = models.CharField(max_length=64)
    bundle_size = models.BigIntegerField()
    readme = models.TextField(blank=True)
    changelog = models.TextField(blank=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    published_at = models.DateTimeField(auto_now_add=True)
    yanked_at = models.DateTimeField(null=True, blank=True)
    yank_reason = models.TextField(blank=True)
    forked_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="forks"
    )
    deprecated_at = models.DateTimeField(null=True, blank=True)
    deprecation_message = models.TextField(blank=True)
    successor = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["asset", "version"], name="unique_version_per_asset")]
        ordering = ["-major", "-minor", "-patch"]

    def __str__(self) -> str:
        return f"{self.asset.full_name}@{self.version}"

    @property
    def is_yanked(self) -> bool:
        return self.yanked_at is not None

    @property
    def is_deprecated(self) -> bool:
        return self.deprecated_at is not None
