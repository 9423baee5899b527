"""Writes for users: sign-up and the personal namespace that comes with it."""
from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from core.errors import Conflict, InvalidInput

from ..models import Membership, Team

User = get_user_model()
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def slug_check(slug: str, *, field: str) -> None:
    """InvalidInput unless ``slug`` is a well-formed namespace name; Conflict when it is taken."""
    if not SLUG.match(slug or ""):
        raise InvalidInput(f"'{slug}' is not a valid name: use lowercase letters, digits and '-'.", field=field)
    if Team.objects.filter(slug=slug).exists():
        raise Conflict(f"The name '{slug}' is taken.", field=field)


def password_check(password: str, *, user: AbstractBaseUser | None = None, field: str = "password") -> None:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), field=field) from None


@transaction.atomic
def user_create(*, username: str, password: str, email: str = "", validate: bool = True) -> AbstractBaseUser:
    """Create a user and their personal namespace (a one-person team they administer)."""
    username = (username or "").strip().lower()
    slug_check(username, field="username")
    if User.objects.filter(username=username).exists():
        raise Conflict(f"The name '{username}' is taken.", field="username")
    if validate:
        password_check(password)
    user = User.objects.create_user(username=username, password=password, email=email)
    team = Team.objects.create(slug=username, display_name=username, personal_of=user)
    Membership.objects.create(team=team, user=user, role=Membership.Role.ADMIN)
    return user
