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

from django.contrib.auth.models import AbstractBaseUser
from django.utils.crypto import salted_hmac

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
    from runs.models import StepRun, StepStatus

    if not plaintext.startswith(PREFIX):
        return None
    step_id, _, rest = plaintext[len(PREFIX):].partition(".")
    attempt, _, signature = rest.partition(".")
    if not (step_id.isdigit() and attempt.isdigit()):
        return None
    if not hmac.compare_digest(signature, _signature(f"{step_id}.{attempt}")):
        return None
    step = (
        StepRun.objects.select_related("run__created_by")
        .filter(pk=int(step_id), attempt=int(attempt), status=StepStatus.RUNNING)
        .first()
    )
    if step is None or not step.run.created_by.is_active:
        return None
    return StepToken(user=step.run.created_by, run_id=step.run_id, step_run_id=step.pk)
