"""Step tokens: what a step subprocess authenticates with.

A step token names one attempt of one step (``fds_<step id>.<attempt>.<signature>``) and
is signed with the server's secret, so issuing one writes nothing. It is valid exactly
while that attempt runs: once the step ends, is retried or is taken over after its worker
died, the same token is refused. It acts as the run's creator, may write (log metrics,
params, tags, artifacts) to that run only, and what it logs is attributed to the step.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.utils.crypto import salted_hmac

from core import rows

PREFIX = "fds_"
_SALT = "flowdeck.step-token"


@dataclass(frozen=True)
class StepToken:
    user: AbstractBaseUser
    run_id: int
    step_run_id: int
    scopes: tuple[str, ...] = ("write",)


def _signature(body: str) -> str:
    return salted_hmac(_SALT, body, algorithm="sha256").hexdigest()


def step_token_issue(*, step_run_id: int, attempt: int) -> str:
    body = f"{int(step_run_id)}.{int(attempt)}"
    return f"{PREFIX}{body}.{_signature(body)}"


def step_token_authenticate(plaintext: str) -> StepToken | None:
    from runs.models import StepStatus

    if not plaintext.startswith(PREFIX):
        return None
    step_id, _, rest = plaintext[len(PREFIX):].partition(".")
    attempt, _, signature = rest.partition(".")
    if not (step_id.isdigit() and attempt.isdigit()):
        return None
    if not hmac.compare_digest(signature, _signature(f"{step_id}.{attempt}")):
        return None
    # Every call a step makes comes here: SQL written once, not a queryset compiled per
    # request (core/rows.py).
    row = rows.fetch_one(_step_sql(), [int(step_id), int(attempt), StepStatus.RUNNING.value])
    if row is None:
        return None
    user = rows.instance(get_user_model(), row[2:])
    if not user.is_active:
        return None
    return StepToken(user=user, run_id=row[1], step_run_id=row[0])


_STEP_SQL: str | None = None


def _step_sql() -> str:
    from runs.models import Run, StepRun

    global _STEP_SQL
    if _STEP_SQL is None:
        q = connection.ops.quote_name
        user = get_user_model()
        _STEP_SQL = (f"SELECT s.id, s.run_id, {rows.select_list(user, 'u')} FROM {q(StepRun._meta.db_table)} s "
                     f"JOIN {q(Run._meta.db_table)} r ON r.id = s.run_id JOIN {q(user._meta.db_table)} u "
                     f"ON u.id = r.created_by_id WHERE s.id = %s AND s.attempt = %s AND s.status = %s")
    return _STEP_SQL
