"""Writes for users, teams, tokens, quotas and the audit log (one module per topic)."""
from .audit import Action, audit_record
from .quotas import quota_set, quota_storage_check, team_usage
from .teams import membership_remove, membership_set, team_create, team_update
from .tokens import (
    ALL_SCOPES,
    DEFAULT_SCOPES,
    TOKEN_PREFIX,
    service_token_create,
    token_authenticate,
    token_create,
    token_create_for_run,
    token_revoke,
    tokens_revoke_for_run,
)
from .users import user_create

__all__ = [
    "ALL_SCOPES", "DEFAULT_SCOPES", "TOKEN_PREFIX", "Action", "audit_record", "membership_remove", "membership_set",
    "quota_set", "quota_storage_check", "service_token_create", "team_create", "team_update", "team_usage",
    "token_authenticate", "token_create", "token_create_for_run", "token_revoke", "tokens_revoke_for_run",
    "user_create",
]
