from django.conf import settings
from django.db import models
from django.db.models import Q


class Event(models.TextChoices):
    """What a user can be told about. The values are also the webhook ``event`` field."""

    RUN_SUCCEEDED = "run_succeeded", "Run succeeded"
    RUN_FAILED = "run_failed", "Run failed"
    RUN_STOPPED = "run_stopped", "Run stopped"
    GATE_BLOCKED = "gate_blocked", "A quality gate blocked a step"
    NEW_VERSION = "new_version", "New version of a subscribed workflow"
    QUOTA_NEARLY_REACHED = "quota_nearly_reached", "Quota nearly reached"


# What a webhook delivery can carry: the events, and the test delivery sent from the settings.
DELIVERY_EVENTS = [*Event.choices, ("ping", "Test delivery")]


class Channel(models.TextChoices):
    IN_APP = "in_app", "In-app"
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"


class Notification(models.Model):
    """One event for one user. The row exists for every channel chosen, and is what makes
    fan-out idempotent (``key`` is unique per user); it shows in the inbox only when the
    in-app channel was chosen."""

    Kind = Event  # the historical name

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32, choices=Event.choices)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    # What the notification is about, so a retried task does not notify twice.
    version = models.ForeignKey(
        "registry.AssetVersion", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # "run:<id>:<event>", "quota:<team>:<quota>:<day>", ...: one notification per user and key.
    key = models.CharField(max_length=200, blank=True, default="")
    channels = models.JSONField(default=list, blank=True)
    in_app = models.BooleanField(default=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user"], condition=Q(read_at__isnull=True, in_app=True), name="notification_unread_inapp"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "version"], condition=Q(version__isnull=False), name="one_notification_per_user_version"
            ),
            models.UniqueConstraint(fields=["user", "key"], condition=~Q(key=""), name="one_notification_per_user_key"),
        ]


class NotificationPreference(models.Model):
    """Which events reach a user, and through which channels: for one workflow (``asset``),
    or the user's default (``asset`` null). The most specific preference wins."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences")
    asset = models.ForeignKey("registry.Asset", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    events = models.JSONField(default=list)
    channels = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "asset"], name="one_preference_per_user_asset"),
            models.UniqueConstraint(fields=["user"], condition=Q(asset__isnull=True), name="one_default_preference_per_user"),
        ]


class WebhookEndpoint(models.Model):
    """A URL of the user's that receives their notifications as signed JSON.

    The secret is kept (it signs every delivery) but shown only once, when created."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=1000)
    secret = models.CharField(max_length=100)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"


class WebhookDelivery(models.Model):
    """One notification to send to one endpoint, tried until it succeeds or retries run out."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    # None for a test delivery ("ping"), which no notification stands behind.
    notification = models.ForeignKey(Notification, null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="deliveries")
    event = models.CharField(max_length=32, choices=DELIVERY_EVENTS)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)  # claimed so far (the last may be under way)
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "notification"], name="one_delivery_per_endpoint_notification")
        ]


class WebhookAttempt(models.Model):
    """One POST of a delivery: what came back and how long it took."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    status_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="one_attempt_per_number")]
