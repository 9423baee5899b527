from django.conf import settings
from django.db import models
from django.db.models import Q


class Notification(models.Model):
    """An in-app message for one user, e.g. a new version of a workflow they follow."""

    class Kind(models.TextChoices):
        NEW_VERSION = "new_version"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    # What the notification is about, so a retried task does not notify twice.
    version = models.ForeignKey(
        "registry.AssetVersion", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user"], condition=Q(read_at__isnull=True), name="notification_unread")]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "version"], condition=Q(version__isnull=False), name="one_notification_per_user_version"
            )
        ]
