"""Writes for teams and memberships. Every change is checked here (through accounts.access)
and recorded in the audit log."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from core.errors import Conflict, InvalidInput, NotFound

from ..access import require_team_admin
from ..models import Membership, Team
from .audit import Action, audit_record
from .users import slug_check

User = get_user_model()
MAX_DISPLAY_NAME = 128


@transaction.atomic
def team_create(*, slug: str, owner: AbstractBaseUser, display_name: str = "", description: str = "") -> Team:
    """A new team namespace, with ``owner`` as its first admin."""
    slug = (slug or "").strip().lower()
    slug_check(slug, field="slug")
    if len(display_name or "") > MAX_DISPLAY_NAME:
        raise InvalidInput(f"The display name is over {MAX_DISPLAY_NAME} characters.", field="display_name")
    team = Team.objects.create(slug=slug, display_name=display_name or slug, description=description or "")
    Membership.objects.create(team=team, user=owner, role=Membership.Role.ADMIN)
    audit_record(actor=owner, action=Action.TEAM_CREATE, team=team, target_type="team", target=slug)
    return team


def team_update(*, actor: AbstractBaseUser, team: Team, display_name: str | None = None,
                description: str | None = None) -> Team:
    """Change a team's settings (admins only)."""
    require_team_admin(actor, team, what="change its settings")
    changes = {}
    if display_name is not None:
        if len(display_name) > MAX_DISPLAY_NAME:
            raise InvalidInput(f"The display name is over {MAX_DISPLAY_NAME} characters.", field="display_name")
        changes["display_name"] = display_name.strip() or team.slug
    if description is not None:
        changes["description"] = description.strip()
    changes = {k: v for k, v in changes.items() if getattr(team, k) != v}
    if changes:
        Team.objects.filter(pk=team.pk).update(**changes)
        for key, value in changes.items():
            setattr(team, key, value)
        audit_record(actor=actor, action=Action.TEAM_UPDATE, team=team, target_type="team", target=team.slug,
                     data=changes)
    return team


def _user_named(username: str) -> AbstractBaseUser:
    user = User.objects.filter(username=(username or "").strip().lower(), is_active=True).first()
    if user is None or Membership.objects.filter(user=user, service=True).exists():
        raise NotFound(f"There is no user '{username}'.", field="username")
    return user


def _other_admins(team: Team, user: AbstractBaseUser) -> bool:
    return (
        Membership.objects.filter(team=team, role=Membership.Role.ADMIN, service=False)
        .exclude(user=user).exists()
    )


@transaction.atomic
def membership_set(
    *, team: Team, user: AbstractBaseUser | str, role: str, actor: AbstractBaseUser | None = None
) -> Membership:
    """Add ``user`` to ``team`` with ``role``, or change their role.

    With ``actor`` (every interface passes one) the actor must be the team's admin; without
    it the call is trusted (fixtures, management commands). Either way a personal namespace
    takes no members and the last admin cannot be demoted.
    """
    if role not in Membership.Role.values:
        raise InvalidInput(f"Unknown role '{role}'; use viewer, editor or admin.", field="role")
    if actor is not None:
        require_team_admin(actor, team, what="manage its members")
    if isinstance(user, str):
        user = _user_named(user)
    Team.objects.select_for_update().filter(pk=team.pk).first()  # serialises the last-admin check
    current = Membership.objects.filter(team=team, user=user).first()
    if team.is_personal and team.personal_of_id != user.pk:
        raise InvalidInput(f"'{team.slug}' is a personal namespace; create a team to share work.", field="team")
    if current and current.service:
        raise InvalidInput("That is a service token's account; revoke the token instead.", field="username")
    if current and current.role == role:
        return current
    if current and current.role == Membership.Role.ADMIN and not _other_admins(team, user):
        raise Conflict(f"{user.get_username()} is the last admin of '{team.slug}'; make someone else admin first.",
                       field="role")
    if current:
        old = current.role
        current.role = role
        current.save(update_fields=["role"])
        audit_record(actor=actor, action=Action.MEMBER_ROLE, team=team, target_type="user",
                     target=user.get_username(), data={"from": old, "to": role})
        return current
    membership = Membership.objects.create(team=team, user=user, role=role)
    audit_record(actor=actor, action=Action.MEMBER_ADD, team=team, target_type="user",
                 target=user.get_username(), data={"role": role})
    return membership


@transaction.atomic
def membership_remove(*, team: Team, user: AbstractBaseUser | str, actor: AbstractBaseUser) -> None:
    """Take ``user`` out of ``team`` (its admins may remove anyone, a member may leave);
    the last admin stays."""
    if isinstance(user, str):
        user = _user_named(user)
    if actor.pk != user.pk:
        require_team_admin(actor, team, what="manage its members")
    Team.objects.select_for_update().filter(pk=team.pk).first()
    current = Membership.objects.filter(team=team, user=user, service=False).first()
    if current is None:
        raise NotFound(f"{user.get_username()} is not a member of '{team.slug}'.", field="username")
    if team.is_personal:
        raise InvalidInput(f"'{team.slug}' is a personal namespace; its owner cannot leave it.", field="team")
    if current.role == Membership.Role.ADMIN and not _other_admins(team, user):
        raise Conflict(f"{user.get_username()} is the last admin of '{team.slug}'; make someone else admin first.",
                       field="username")
    current.delete()
    audit_record(actor=actor, action=Action.MEMBER_REMOVE, team=team, target_type="user",
                 target=user.get_username(), data={"role": current.role})
