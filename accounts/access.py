"""Who may see and do what. Every view, API endpoint and task asks here, and nowhere else.

Rules:
- A public asset is visible to everyone, signed in or not.
- A team or private asset is visible to members of its namespace.
- Publishing into a namespace, and running, needs the editor or admin role there.
- Yanking, unyanking and deprecating an asset's versions needs the editor or admin role in
  the asset's namespace. Whoever cannot see the asset gets 404 from ``asset_get`` first;
  whoever can see it but may not change it gets 403.
- A run (and so its steps, logs, metrics and artifacts) is visible to the members of its
  namespace, and only them: a member who leaves loses sight of the runs they made there.
  Editors and admins start, stop and retry runs there; editors delete their own runs,
  admins any. An experiment is visible to members of its namespace; tracking runs
  into one needs the editor or admin role there.
- A team (and its members, usage and quotas) is visible to its members and site admins
  (``is_staff``). Its admins manage members, service tokens and settings, and read its
  audit log; quotas are changed by its admins and by site admins. A personal namespace
  is a one-person team: its owner is its admin, and it takes no other members.
- A run-scoped token (given to step subprocesses) may log to its own run and nothing else.
- Schedules and triggers are seen by the members of the namespace their runs go to, and
  managed by those who may start runs there (editors and admins).
"""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q

from core.errors import Forbidden

from .models import ApiToken, Membership, Team

WRITE_ROLES = (Membership.Role.EDITOR, Membership.Role.ADMIN)


def role_in(user: AbstractBaseUser | AnonymousUser, team: Team) -> str | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(team=team, user=user).values_list("role", flat=True).first()


def _member_team_ids(user: AbstractBaseUser):
    # A subquery rather than a join, so filtered lists need no DISTINCT.
    return Membership.objects.filter(user=user).values("team_id")


def writable_teams(user: AbstractBaseUser) -> list[Team]:
    if not user.is_authenticated:
        return []
    return list(Team.objects.filter(memberships__user=user, memberships__role__in=WRITE_ROLES).order_by("slug"))


def asset_filter(user: AbstractBaseUser | AnonymousUser) -> Q:
    """A filter on Asset for what ``user`` may see."""
    visible = Q(visibility="public")
    if user.is_authenticated:
        visible |= Q(namespace_id__in=_member_team_ids(user))
    return visible


def run_filter(user: AbstractBaseUser | AnonymousUser) -> Q:
    if not user.is_authenticated:
        return Q(pk__in=[])
    return Q(namespace_id__in=_member_team_ids(user))


def experiment_filter(user: AbstractBaseUser | AnonymousUser) -> Q:
    """A filter on Experiment: those in namespaces ``user`` is a member of."""
    if not user.is_authenticated:
        return Q(pk__in=[])
    return Q(namespace_id__in=_member_team_ids(user))


def require_write(user: AbstractBaseUser, team: Team, *, what: str = "publish") -> None:
    if role_in(user, team) not in WRITE_ROLES:
        raise Forbidden(f"You need the editor or admin role in '{team.slug}' to {what}.", field="namespace")


def can_change_asset(user: AbstractBaseUser | AnonymousUser, asset) -> bool:
    return role_in(user, asset.namespace) in WRITE_ROLES


def require_asset_write(user: AbstractBaseUser | AnonymousUser, asset, *, what: str) -> None:
    """Forbidden unless ``user`` may change ``asset``'s versions (the caller already checked
    that the user can see it, so a hidden asset is a 404 before this is asked)."""
    if not can_change_asset(user, asset):
        raise Forbidden(
            f"You need the editor or admin role in '{asset.namespace.slug}' to {what} {asset.full_name}.",
            field="namespace",
        )


def can_change_run(user: AbstractBaseUser, run) -> bool:
    """Stop, retry, end or log to a run: editors and admins of its namespace (a creator who
    has become a viewer, or left, no longer may)."""
    return role_in(user, run.namespace) in WRITE_ROLES


def can_delete_run(user: AbstractBaseUser, run) -> bool:
    """Deleting loses data: editors delete their own runs, admins any run of the namespace."""
    role = role_in(user, run.namespace)
    return role == Membership.Role.ADMIN or (role == Membership.Role.EDITOR and run.created_by_id == user.pk)


def is_site_admin(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(user.is_authenticated and (user.is_staff or user.is_superuser))


def team_filter(user: AbstractBaseUser | AnonymousUser) -> Q:
    """A filter on Team: those ``user`` belongs to (site admins see every team)."""
    if is_site_admin(user):
        return Q()
    if not user.is_authenticated:
        return Q(pk__in=[])
    return Q(pk__in=_member_team_ids(user))


def can_manage_team(user: AbstractBaseUser | AnonymousUser, team: Team) -> bool:
    """Members, service tokens, settings and the audit log: the team's admins."""
    return role_in(user, team) == Membership.Role.ADMIN


def require_team_admin(user: AbstractBaseUser | AnonymousUser, team: Team, *, what: str) -> None:
    if not can_manage_team(user, team):
        raise Forbidden(f"You need the admin role in '{team.slug}' to {what}.", field="team")


def can_manage_quota(user: AbstractBaseUser | AnonymousUser, team: Team) -> bool:
    return can_manage_team(user, team) or is_site_admin(user)


def can_read_audit(user: AbstractBaseUser | AnonymousUser, team: Team) -> bool:
    return can_manage_team(user, team) or is_site_admin(user)


def automation_filter(user: AbstractBaseUser | AnonymousUser) -> Q:
    """A filter on Schedule and Trigger: every member of their namespace sees them, viewers too."""
    if not user.is_authenticated:
        return Q(pk__in=[])
    return Q(namespace_id__in=_member_team_ids(user))


def can_manage_automation(user: AbstractBaseUser | AnonymousUser, obj) -> bool:
    """A schedule or trigger starts runs in its namespace, so changing one takes the role
    that starting runs there takes."""
    return role_in(user, obj.namespace) in WRITE_ROLES


def token_is_run_scoped(token: ApiToken | None) -> bool:
    return token is not None and token.run_id is not None


def require_token_scope(token: ApiToken | None, scope: str) -> None:
    """Session users have every scope; tokens need the one asked for."""
    if token is not None and scope not in token.scopes:
        raise Forbidden(f"This token lacks the '{scope}' scope.")
