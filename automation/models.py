"""Schedules (recurring runs) and triggers (webhooks that start a run), with their history."""
from django.conf import settings
from django.db import models


class Schedule(models.Model):
    """Runs ``asset`` (``version``, or the newest version that is not yanked when it is
    null) with ``params`` on a cron expression, as ``created_by`` in ``namespace``.

    Beat fires it through ``periodic_task`` (django-celery-beat's row, one per schedule)."""

    asset = models.ForeignKey("registry.Asset", on_delete=models.CASCADE, related_name="schedules")
    version = models.ForeignKey("registry.AssetVersion", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="+")
    namespace = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="schedules")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField(max_length=200, blank=True)
    cron = models.CharField(max_length=200)  # five fields: minute hour day-of-month month day-of-week
    timezone = models.CharField(max_length=64, default="UTC")
    params = models.JSONField(default=dict, blank=True)
    skip_if_running = models.BooleanField(default=True)
    max_retries = models.PositiveSmallIntegerField(default=0)
    paused = models.BooleanField(default=False)
    periodic_task = models.OneToOneField("django_celery_beat.PeriodicTask", null=True, blank=True,
                                         on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name or f"schedule {self.pk}"


class ScheduleFiring(models.Model):
    """One time the schedule came due: a run started, or why none did."""

    class Outcome(models.TextChoices):
        STARTED = "started"
        SKIPPED = "skipped"  # the previous run was still going
        FAILED = "failed"  # the run could not be started (yanked version, bad params, lost rights)

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="firings")
    fired_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField(blank=True)
    # Retries given to the run so far (run_retry on the same run, at most max_retries).
    retries = models.PositiveSmallIntegerField(default=0)
    # The Celery message id: a redelivered message (acks_late) fires once.
    message_id = models.CharField(max_length=64, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-fired_at", "-pk"]
        indexes = [models.Index(fields=["schedule", "-fired_at"], name="firing_by_schedule")]


class Trigger(models.Model):
    """A webhook: a POST to ``/api/v1/hooks/<key>`` carrying the secret (or an HMAC of the
    body made with it) starts a run, its parameters mapped from the posted JSON.

    The secret is never stored: it is derived from DJANGO_SECRET_KEY and ``secret_salt``
    (as Django derives password-reset tokens), so signatures can be checked, and only its
    SHA-256 is kept to check a secret sent as is."""

    asset = models.ForeignKey("registry.Asset", on_delete=models.CASCADE, related_name="triggers")
    version = models.ForeignKey("registry.AssetVersion", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="+")
    namespace = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="triggers")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="triggers")
    name = models.CharField(max_length=200, blank=True)
    key = models.CharField(max_length=32, unique=True)  # the public part of the URL
    secret_salt = models.CharField(max_length=64)
    secret_hash = models.CharField(max_length=64)
    secret_prefix = models.CharField(max_length=16)
    params = models.JSONField(default=dict, blank=True)  # fixed values
    mapping = models.JSONField(default=dict, blank=True)  # parameter -> path into the posted JSON
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name or f"trigger {self.pk}"


class TriggerDelivery(models.Model):
    """One POST to a trigger's URL: when, the status answered, the run it started or why not."""

    trigger = models.ForeignKey(Trigger, on_delete=models.CASCADE, related_name="deliveries")
    received_at = models.DateTimeField(auto_now_add=True)
    status = models.PositiveSmallIntegerField()
    run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    error = models.TextField(blank=True)
    auth = models.CharField(max_length=16, blank=True)  # "secret", "signature" or "" (none valid)

    class Meta:
        ordering = ["-received_at", "-pk"]
        indexes = [models.Index(fields=["trigger", "-received_at"], name="delivery_by_trigger")]
