from django.conf import settings
from django.db import models
from django.db.models import Q


class Team(models.Model):
    """A namespace. Every user has a personal one (a one-person team); teams are shared ones.

    The quota fields hold a team's own limits; null means the site default from settings
    (``FLOWDECK_QUOTA_*``), and 0 means no limit.
    """

    slug = models.SlugField(max_length=64, unique=True)
    display_name = models.CharField(max_length=128, blank=True)
    description = models.TextField(blank=True)
    personal_of = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="personal_team"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    max_concurrent_runs = models.PositiveIntegerField(null=True, blank=True)
    max_storage_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    max_run_duration_s = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return self.slug

    @property
    def is_personal(self) -> bool:
        return self.personal_of_id is not None


class Membership(models.Model):
    class Role(models.TextChoices):
        VIEWER = "viewer"
        EDITOR = "editor"
        ADMIN = "admin"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    # The membership of a team service token's own account: not a person, never listed
    # among members and never counted as the team's admin.
    service = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team_user")]


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 is stored; ``prefix`` is shown to tell tokens apart.

    A personal token acts as its ``user``. A team service token (``team`` set) acts as an
    account of its own (``user``), a member of that team only, whose role follows the
    token's scopes; ``created_by`` is the admin who made it. A token with ``run`` set is a
    short-lived run-scoped token: it may log to that run and nothing else.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="service_tokens")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.CASCADE, related_name="tokens")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user"], condition=Q(revoked_at__isnull=True), name="token_user_active")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_service(self) -> bool:
        return self.team_id is not None


class AuditEntry(models.Model):
    """Who did what to which target, when and from where. Written by accounts.services.audit
    only; never changed afterwards. ``actor_name`` keeps the name after the user is deleted."""

    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_entries")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=32)
    target = models.CharField(max_length=300)
    data = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["team", "-created_at"], name="audit_team_recent"),
            models.Index(fields=["team", "action", "-created_at"], name="audit_team_action"),
        ]
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.actor_name or 'system'} {self.action} {self.target}"
