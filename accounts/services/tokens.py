"""Writes for API tokens: personal tokens, team service tokens and run-scoped tokens.

Only a token's SHA-256 is stored. The plaintext is returned once, by the call that makes
it, and never logged.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from core import rows
from core.errors import Forbidden, InvalidInput

from ..access import require_team_admin
from ..models import ApiToken, Membership, Team
from .audit import Action, audit_record

User = get_user_model()
TOKEN_PREFIX = "fdk_"
ALL_SCOPES = ("read", "write", "run", "admin")
DEFAULT_SCOPES = ["read", "write", "run"]


def _hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _scopes_check(scopes: list[str] | None) -> list[str]:
    scopes = list(dict.fromkeys(scopes or DEFAULT_SCOPES))
    bad = [s for s in scopes if s not in ALL_SCOPES]
    if bad:
        raise InvalidInput(f"Unknown scope '{bad[0]}'; use {', '.join(ALL_SCOPES)}.", field="scopes")
    return [s for s in ALL_SCOPES if s in scopes]


def _new(*, user: AbstractBaseUser, name: str, scopes: list[str], expires_at: datetime | None,
         run_id: int | None = None, team: Team | None = None,
         created_by: AbstractBaseUser | None = None) -> tuple[ApiToken, str]:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("A token needs a name of at most 100 characters.", field="name")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, team=team, created_by=created_by or user, name=name, prefix=plaintext[:12],
        token_hash=_hash(plaintext), scopes=scopes, expires_at=expires_at, run_id=run_id,
    )
    return token, plaintext


def token_create(
    *,
    user: AbstractBaseUser,
    name: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    run_id: int | None = None,
) -> tuple[ApiToken, str]:
    """A personal token of ``user``. Returns it with its plaintext, which is never stored or shown again."""
    token, plaintext = _new(user=user, name=name, scopes=_scopes_check(scopes), expires_at=expires_at, run_id=run_id)
    if run_id is None:
        audit_record(actor=user, action=Action.TOKEN_CREATE, team=_personal(user), target_type="token",
                     target=f"{token.name} ({token.prefix}…)", data={"scopes": token.scopes, "kind": "personal"})
    return token, plaintext


def _personal(user: AbstractBaseUser) -> Team | None:
    return Team.objects.filter(personal_of=user).first()


def _service_role(scopes: list[str]) -> str:
    if "admin" in scopes:
        return Membership.Role.ADMIN
    if "write" in scopes or "run" in scopes:
        return Membership.Role.EDITOR
    return Membership.Role.VIEWER


@transaction.atomic
def service_token_create(
    *, actor: AbstractBaseUser, team: Team, name: str, scopes: list[str] | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A team service token (team admins only). It acts as an account of its own that is a
    member of ``team`` alone, with the role its scopes need (admin, else editor for write
    or run, else viewer), so it keeps working when the admin who made it leaves, and can
    never reach another namespace."""
    require_team_admin(actor, team, what="create its service tokens")
    if team.is_personal:
        raise InvalidInput("Service tokens belong to teams; use a personal token for your own namespace.",
                           field="team")
    scopes = _scopes_check(scopes)
    account = User(username=f"{team.slug}+svc-{secrets.token_hex(4)}", is_active=True)
    account.set_unusable_password()
    account.save()
    Membership.objects.create(team=team, user=account, role=_service_role(scopes), service=True)
    token, plaintext = _new(user=account, name=name, scopes=scopes, expires_at=expires_at, team=team,
                            created_by=actor)
    audit_record(actor=actor, action=Action.TOKEN_CREATE, team=team, target_type="token",
                 target=f"{token.name} ({token.prefix}…)", data={"scopes": scopes, "kind": "service"})
    return token, plaintext


def token_create_for_run(*, user: AbstractBaseUser, run_id: int, hours: int = 24) -> tuple[ApiToken, str]:
    """A short-lived token that can log to ``run_id`` only. (Step subprocesses get a
    signed step token instead: accounts/step_tokens.py.)"""
    return token_create(
        user=user, name=f"run {run_id}", scopes=["write"],
        expires_at=timezone.now() + timedelta(hours=hours), run_id=run_id,
    )


_TOKEN_SQL: str | None = None


def _token_sql() -> str:
    global _TOKEN_SQL
    if _TOKEN_SQL is None:
        q = connection.ops.quote_name
        _TOKEN_SQL = (f"SELECT {rows.select_list(ApiToken, 't')}, {rows.select_list(User, 'u')} "
                      f"FROM {q(ApiToken._meta.db_table)} t JOIN {q(User._meta.db_table)} u ON u.id = t.user_id "
                      f"WHERE t.token_hash = %s AND t.revoked_at IS NULL")
    return _TOKEN_SQL


def token_authenticate(plaintext: str) -> ApiToken | None:
    if not plaintext or not plaintext.startswith(TOKEN_PREFIX):
        return None
    # Every API request comes here: one row (the hash is unique) by SQL written once, with
    # its user, rather than a select_related queryset compiled per request (core/rows.py).
    row = rows.fetch_one(_token_sql(), [_hash(plaintext)])
    if row is None:
        return None
    n = rows.width(ApiToken)
    token, token.user = rows.instance(ApiToken, row[:n]), rows.instance(User, row[n:])
    if not token.user.is_active:
        return None
    now = timezone.now()
    if token.expires_at and token.expires_at <= now:
        return None
    # Write last_used_at at most once a minute: hot logging paths stay read-only.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def can_revoke(user: AbstractBaseUser, token: ApiToken) -> bool:
    from ..access import can_manage_team

    if token.team_id is not None:
        return can_manage_team(user, token.team)
    return token.user_id == user.pk


@transaction.atomic
def token_revoke(*, token: ApiToken, actor: AbstractBaseUser | None = None) -> bool:
    """Revoke ``token`` at once: the next request with it is refused. With ``actor`` the
    actor must own it (or administer its team). Returns False when it was already revoked."""
    if actor is not None and not can_revoke(actor, token):
        raise Forbidden("You may not revoke this token.")
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if changed and token.team_id is not None:
        # The service account goes with its token: it can never act again.
        Membership.objects.filter(user_id=token.user_id, service=True).delete()
        User.objects.filter(pk=token.user_id).update(is_active=False)
    if changed and token.run_id is None:
        team = token.team if token.team_id else _personal(token.user)
        audit_record(actor=actor or token.user, action=Action.TOKEN_REVOKE, team=team, target_type="token",
                     target=f"{token.name} ({token.prefix}…)")
    return bool(changed)


def tokens_revoke_for_run(*, run_id: int) -> int:
    return ApiToken.objects.filter(run_id=run_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
