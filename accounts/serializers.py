"""API shapes for teams, tokens and the audit log."""
from __future__ import annotations

from rest_framework import serializers

from .models import ApiToken, Membership, Team
from .services import ALL_SCOPES
from .services.quotas import quota_limits, team_usage


class MemberOut(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    role = serializers.CharField()
    since = serializers.DateTimeField(source="created_at")


class QuotaOut(serializers.Serializer):
    """Each limit as the team set it (null: the site default) and as it applies (0: none)."""

    max_concurrent_runs = serializers.IntegerField(allow_null=True)
    max_storage_bytes = serializers.IntegerField(allow_null=True)
    max_run_duration_s = serializers.IntegerField(allow_null=True)
    effective = serializers.DictField(child=serializers.IntegerField())


def quota_data(team: Team) -> dict:
    limits = quota_limits(team)
    return {
        "max_concurrent_runs": team.max_concurrent_runs,
        "max_storage_bytes": team.max_storage_bytes,
        "max_run_duration_s": team.max_run_duration_s,
        "effective": vars(limits),
    }


def usage_data(team: Team) -> dict:
    return vars(team_usage(team=team))


class TeamOut(serializers.Serializer):
    slug = serializers.CharField()
    display_name = serializers.CharField()
    description = serializers.CharField()
    personal = serializers.BooleanField(source="is_personal")
    created_at = serializers.DateTimeField()


class TeamDetailOut(TeamOut):
    role = serializers.CharField(allow_null=True)
    members = MemberOut(many=True)
    quota = QuotaOut()
    usage = serializers.DictField(child=serializers.IntegerField())


class TeamIn(serializers.Serializer):
    slug = serializers.CharField(max_length=64)
    display_name = serializers.CharField(required=False, allow_blank=True, default="", max_length=128)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class TeamUpdateIn(serializers.Serializer):
    display_name = serializers.CharField(required=False, allow_blank=True, max_length=128)
    description = serializers.CharField(required=False, allow_blank=True)


class MemberIn(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Membership.Role.values, default=Membership.Role.VIEWER)


class RoleIn(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.values)


class QuotaIn(serializers.Serializer):
    max_concurrent_runs = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    max_storage_bytes = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    max_run_duration_s = serializers.IntegerField(required=False, allow_null=True, min_value=0)


class TokenOut(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    prefix = serializers.SerializerMethodField()
    active = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "scopes", "team", "created_by", "created_at", "expires_at",
                  "last_used_at", "revoked_at", "active"]

    def get_prefix(self, token: ApiToken) -> str:
        return f"{token.prefix}…"

    def get_active(self, token: ApiToken) -> bool:
        from django.utils import timezone

        return token.revoked_at is None and (token.expires_at is None or token.expires_at > timezone.now())


class TokenCreateIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=ALL_SCOPES), required=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    expires_in_days = serializers.IntegerField(required=False, min_value=1, max_value=3650)
    team = serializers.CharField(required=False, allow_blank=True, help_text="A team slug: a team service token.")


class TokenCreatedOut(TokenOut):
    token = serializers.CharField(help_text="The plaintext: shown once, never again.")

    class Meta(TokenOut.Meta):
        fields = [*TokenOut.Meta.fields, "token"]


class AuditEntryOut(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.CharField()
    actor = serializers.CharField()
    action = serializers.CharField()
    target_type = serializers.CharField()
    target = serializers.CharField()
    ip = serializers.CharField(allow_null=True)
    data = serializers.DictField()
