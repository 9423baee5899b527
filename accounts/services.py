"""Writes for users, teams and API tokens."""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, InvalidInput

from .models import ApiToken, Membership, Team

User = get_user_model()
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
TOKEN_PREFIX = "fdk_"
ALL_SCOPES = ("read", "write", "run", "admin")
DEFAULT_SCOPES = ["read", "write", "run"]


def _check_slug(slug: str, *, field: str) -> None:
    if not SLUG.match(slug or ""):
        raise InvalidInput(f"'{slug}' is not a valid name: use lowercase letters, digits and '-'.", field=field)
    if Team.objects.filter(slug=slug).exists():
        raise Conflict(f"The name '{slug}' is taken.", field=field)


@transaction.atomic
def user_create(*, username: str, password: str, email: str = "", validate: bool = True) -> AbstractBaseUser:
    """Create a user and their personal namespace (a one-person team they administer)."""
    username = (username or "").strip().lower()
    _check_slug(username, field="username")
    if User.objects.filter(username=username).exists():
        raise Conflict(f"The name '{username}' is taken.", field="username")
    if validate:
        try:
            validate_password(password)
        except DjangoValidationError as exc:
            raise InvalidInput(" ".join(exc.messages), field="password") from None
    user = User.objects.create_user(username=username, password=password, email=email)
    team = Team.objects.create(slug=username, display_name=username, personal_of=user)
    Membership.objects.create(team=team, user=user, role=Membership.Role.ADMIN)
    return user


@transaction.atomic
def team_create(*, slug: str, owner: AbstractBaseUser, display_name: str = "") -> Team:
    slug = (slug or "").strip().lower()
    _check_slug(slug, field="slug")
    team = Team.objects.create(slug=slug, display_name=display_name or slug)
    Membership.objects.create(team=team, user=owner, role=Membership.Role.ADMIN)
    return team


def membership_set(*, team: Team, user: AbstractBaseUser, role: str) -> Membership:
    if role not in Membership.Role.values:
        raise InvalidInput(f"Unknown role '{role}'.", field="role")
    membership, _ = Membership.objects.update_or_create(team=team, user=user, defaults={"role": role})
    return membership


def _hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def token_create(
    *,
    user: AbstractBaseUser,
    name: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    run_id: int | None = None,
) -> tuple[ApiToken, str]:
    """Create a token and return it with its plaintext, which is never stored or shown again."""
    scopes = list(scopes or DEFAULT_SCOPES)
    bad = [s for s in scopes if s not in ALL_SCOPES]
    if bad:
        raise InvalidInput(f"Unknown scope '{bad[0]}'; use {', '.join(ALL_SCOPES)}.", field="scopes")
    if not name or len(name) > 100:
        raise InvalidInput("A token needs a name of at most 100 characters.", field="name")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=plaintext[:12],
        token_hash=_hash(plaintext),
        scopes=scopes,
        expires_at=expires_at,
        run_id=run_id,
    )
    return token, plaintext


def token_create_for_run(*, user: AbstractBaseUser, run_id: int, hours: int = 24) -> tuple[ApiToken, str]:
    """A short-lived token that can log to ``run_id`` only. (Step subprocesses get a
    signed step token instead: accounts/step_tokens.py.)"""
    return token_create(
        user=user,
        name=f"run {run_id}",
        scopes=["write"],
        expires_at=timezone.now() + timedelta(hours=hours),
        run_id=run_id,
    )


def token_authenticate(plaintext: str) -> ApiToken | None:
    if not plaintext or not plaintext.startswith(TOKEN_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=_hash(plaintext), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.expires_at and token.expires_at <= now:
        return None
    # Write last_used_at at most once a minute: hot logging paths stay read-only.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def tokens_revoke_for_run(*, run_id: int) -> int:
    return ApiToken.objects.filter(run_id=run_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
