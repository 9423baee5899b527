"""The audit log: one writer for every recorded action."""
from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from ..models import AuditEntry, Team
from ..request_context import current_ip


class Action:
    """The recorded actions (``AuditEntry.action``)."""

    VERSION_PUBLISH = "version.publish"
    VERSION_YANK = "version.yank"
    VERSION_UNYANK = "version.unyank"
    RUN_START = "run.start"
    RUN_STOP = "run.stop"
    RUN_DELETE = "run.delete"
    TEAM_CREATE = "team.create"
    TEAM_UPDATE = "team.update"
    MEMBER_ADD = "member.add"
    MEMBER_ROLE = "member.role"
    MEMBER_REMOVE = "member.remove"
    TOKEN_CREATE = "token.create"
    TOKEN_REVOKE = "token.revoke"
    QUOTA_CHANGE = "quota.change"


ALL_ACTIONS = sorted(v for k, v in vars(Action).items() if k.isupper())


def audit_record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    team: Team | int | None,
    target_type: str,
    target: str,
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Record that ``actor`` (None: the system) did ``action`` to ``target`` in ``team``.

    The client address comes from the request being served (accounts.request_context).
    ``data`` holds the details (old and new role, quota values, a stop reason); never a secret.
    """
    person = actor if actor is not None and actor.is_authenticated else None
    return AuditEntry.objects.create(
        team_id=team.pk if isinstance(team, Team) else team,
        actor=person,
        actor_name=person.get_username() if person else "system",
        action=action,
        target_type=target_type,
        target=str(target)[:300],
        data=data or {},
        ip=current_ip(),
    )
