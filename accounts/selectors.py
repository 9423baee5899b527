"""Reads for teams, tokens and the audit log, always scoped through accounts.access."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import F, Q, QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from core.errors import Forbidden, InvalidInput, NotFound

from .access import can_manage_team, can_read_audit, role_in, team_filter
from .models import ApiToken, AuditEntry, Membership, Team


def team_list(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Team]:
    """The teams ``user`` belongs to (shared teams first, then the personal namespace)."""
    return Team.objects.filter(team_filter(user)).order_by(F("personal_of_id").asc(nulls_first=True), "slug")


def namespace_get(*, slug: str | None) -> Team | None:
    """The namespace a write names (None when none is named); NotFound for an unknown one.
    The write's own service then checks the role there."""
    if not slug:
        return None
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise NotFound(f"Namespace '{slug}' does not exist.", field="namespace")
    return team


def team_get(*, user: AbstractBaseUser | AnonymousUser, slug: str) -> Team:
    """The team, or NotFound when it does not exist or ``user`` is not in it (no leak)."""
    team = Team.objects.filter(team_filter(user), slug=slug).first()
    if team is None:
        raise NotFound(f"Team '{slug}' was not found.", field="team")
    return team


def team_members(*, team: Team) -> list[Membership]:
    """The people in the team (service-token accounts left out), admins first."""
    order = {"admin": 0, "editor": 1, "viewer": 2}
    members = list(team.memberships.filter(service=False).select_related("user").order_by("user__username"))
    return sorted(members, key=lambda m: (order.get(m.role, 9), m.user.username))


def my_role(*, user: AbstractBaseUser | AnonymousUser, team: Team) -> str | None:
    return role_in(user, team)


def tokens_of(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    """The user's personal tokens (run-scoped ones left out), newest first."""
    return ApiToken.objects.filter(user=user, run__isnull=True, team__isnull=True).order_by("-created_at", "-pk")


def service_tokens_of(*, user: AbstractBaseUser, team: Team) -> QuerySet[ApiToken]:
    if not can_manage_team(user, team):
        raise Forbidden(f"You need the admin role in '{team.slug}' to see its service tokens.", field="team")
    return ApiToken.objects.filter(team=team).select_related("created_by").order_by("-created_at", "-pk")


def token_get(*, user: AbstractBaseUser, token_id: int) -> ApiToken:
    """A token ``user`` may manage: their own, or a service token of a team they administer."""
    admin_of = Membership.objects.filter(user=user, role=Membership.Role.ADMIN, service=False).values("team_id")
    token = (
        ApiToken.objects.filter(Q(user=user, team__isnull=True) | Q(team_id__in=admin_of), run__isnull=True,
                                pk=token_id)
        .select_related("team", "user").first()
    )
    if token is None:
        raise NotFound(f"Token {token_id} was not found.", field="token")
    return token


# --- audit ------------------------------------------------------------------------------------
def _when(value: str, *, field: str, end: bool = False) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise InvalidInput(f"'{value}' is not a date or an ISO 8601 time.", field=field)
        parsed = datetime.combine(day, datetime.max.time() if end else datetime.min.time())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def audit_list(
    *, user: AbstractBaseUser | AnonymousUser, team: Team, action: str = "", actor: str = "", target: str = "",
    since: str = "", until: str = "",
) -> QuerySet[AuditEntry]:
    """The team's audit log, newest first, for its admins and site admins. ``action`` matches
    an action or a family (``run`` matches ``run.start`` and ``run.stop``)."""
    if not can_read_audit(user, team):
        raise Forbidden(f"You need the admin role in '{team.slug}' to read its audit log.", field="team")
    entries = AuditEntry.objects.filter(team=team)
    if action:
        entries = entries.filter(Q(action=action) | Q(action__startswith=f"{action}."))
    if actor:
        entries = entries.filter(actor_name=actor.strip().lower())
    if target:
        entries = entries.filter(target__icontains=target.strip())
    if since:
        entries = entries.filter(created_at__gte=_when(since, field="since"))
    if until:
        entries = entries.filter(created_at__lte=_when(until, field="until", end=True))
    return entries.order_by("-created_at", "-pk")


def audit_row(entry: AuditEntry) -> dict:
    return {
        "id": entry.pk, "at": entry.created_at.isoformat(), "actor": entry.actor_name, "action": entry.action,
        "target_type": entry.target_type, "target": entry.target, "ip": entry.ip, "data": entry.data,
    }


EXPORT_COLUMNS = ("id", "at", "actor", "action", "target_type", "target", "ip", "data")
EXPORT_FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


def audit_export(entries: QuerySet[AuditEntry], fmt: str) -> Iterator[str]:
    """The entries as CSV (a header row first) or JSON lines, produced a chunk at a time."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"Export format must be one of {', '.join(EXPORT_FORMATS)}.", field="format")
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(EXPORT_COLUMNS)
        yield buffer.getvalue()
    for entry in entries.iterator(chunk_size=2000):
        row = audit_row(entry)
        if fmt == "jsonl":
            yield json.dumps(row, sort_keys=True) + "\n"
            continue
        buffer = io.StringIO()
        csv.writer(buffer).writerow(
            [json.dumps(row["data"], sort_keys=True) if k == "data" else ("" if row[k] is None else row[k])
             for k in EXPORT_COLUMNS]
        )
        yield buffer.getvalue()
