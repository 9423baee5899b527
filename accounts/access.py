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
  into one needs the editor or admin role there. MLflow registered models (mlflow_compat)
  follow the experiments' rule.
- A team (and its members, usage and quotas) is visible to its members and site admins
  (``is_staff``). Its admins manage members, service tokens and settings, and read its
  audit log; quotas are changed by its admins and by site admins. A personal namespace
  is a one-person team: its owner is its admin, and it takes no other members.
- A run-scoped token (given to step subprocesses) may log to its own run and nothing else.
- Schedules and triggers are seen by the members of the namespace their runs go to, and
  managed by those who may start runs there (editors and admins).
- Notifications go only to those who may see what they are about: the ``*_audience_filter``
  functions below are the same rules, turned round to pick users.
- A saved comparison is seen by its owner and, when shared with its team, by the members of
  its namespace; only its owner changes or deletes it. Opening one shows only the runs that
  ``run_filter`` lets the viewer see.
"""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import CharField, OuterRef, Q, Subquery, Value

from core.errors import Forbidden

from .models import ApiToken, Membership, Team

WRITE_ROLES = (Membership.Role.EDITOR, Membership.Role.ADMIN)


def role_in(user: AbstractBaseUser | AnonymousUser, team: Team) -> str | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(team=team, user=user).values_list("role", flat=True).first()


def member_role(user: AbstractBaseUser | AnonymousUser):
    """An annotation for a queryset of objects that have a namespace: ``user``'s role there,
    None where they are not a member. A run annotated with it is checked by the rules below
    in the query that fetches it (the hot logging path), with no lookup of its own."""
    if not user.is_authenticated:
        return Value(None, output_field=CharField())
    return Subquery(Membership.objects.filter(team_id=OuterRef("namespace_id"), user=user).values("role")[:1])


def _role_of(user: AbstractBaseUser | AnonymousUser, obj) -> str | None:
    """The role on ``obj``'s namespace: the ``member_role`` annotation when it has one."""
    if "member_role" in obj.__dict__:
        return obj.member_role
    return role_in(user, obj.namespace)


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


def run_visible_by_role(run) -> bool:
    """``run_filter`` for one run annotated with ``member_role``: its namespace's members see it."""
    return run.member_role is not None


def experiment_filter(user: AbstractBaseUser | AnonymousUser) -> Q:
    """A filter on Experiment: those in namespaces ``user`` is a member of."""
    if not user.is_authenticated:
        return Q(pk__in=[])
    return Q(namespace_id__in=_member_team_ids(user))


def comparison_filter(user: AbstractBaseUser | AnonymousUser) -> Q:
    """A filter on SavedComparison: the user's own, and those shared with a team they are in."""
    if not user.is_authenticated:
        return Q(pk__in=[])
    return Q(owner=user) | Q(visibility="team", namespace_id__in=_member_team_ids(user))


def can_change_comparison(user: AbstractBaseUser | AnonymousUser, comparison) -> bool:
    return user.is_authenticated and comparison.owner_id == user.pk


def require_member(user: AbstractBaseUser | AnonymousUser, team: Team | None, *, slug: str, what: str) -> None:
    """Forbidden unless ``user`` has any role in ``team`` (sharing something with a team)."""
    if team is None or role_in(user, team) is None:
        raise Forbidden(f"You are not a member of '{slug}', so you cannot {what} it.", field="namespace")


def registered_model_filter(user: AbstractBaseUser | AnonymousUser) -> Q:
    """A filter on MLflow registered models (mlflow_compat): seen by the members of their
    namespace, like experiments; changed by its editors and admins (``require_write``)."""
    return experiment_filter(user)


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
    return _role_of(user, run) in WRITE_ROLES


def run_change_sql(run: str, user_param: str) -> str:
    """``can_change_run`` as an SQL condition on the run row aliased ``run``, the user's id
    bound as ``user_param``: for a statement that checks and writes in one round trip (the
    log-batch hot path). The same rule, so the two cannot drift apart."""
    table = Membership._meta.db_table
    roles = ", ".join(f"'{role}'" for role in WRITE_ROLES)
    return (f"EXISTS (SELECT 1 FROM {table} m WHERE m.team_id = {run}.namespace_id "
            f"AND m.user_id = {user_param} AND m.role IN ({roles}))")


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


# --- audiences: who may be told about an object (the mirror of the filters above) -------------
def asset_audience_filter(asset) -> Q:
    """A filter on User: those who may see ``asset`` (used to pick who is notified of it)."""
    if asset.visibility == "public":
        return Q(is_active=True)
    return Q(is_active=True, memberships__team_id=asset.namespace_id)


def run_audience_filter(run) -> Q:
    """A filter on User: those who may see ``run``, as ``run_filter`` decides."""
    return Q(is_active=True) & (Q(memberships__team_id=run.namespace_id) | Q(pk=run.created_by_id))


def team_admin_filter(team: Team) -> Q:
    """A filter on User: the admins of ``team`` (for a personal namespace, its owner)."""
    return Q(is_active=True, memberships__team=team, memberships__role=Membership.Role.ADMIN)
