"""The concurrent-run quota with a real Celery worker: of two runs started together in a team
that may run one at a time, the second waits and starts only once the first has ended."""
from __future__ import annotations

import pytest

from accounts.services import quota_set, team_create
from runs.models import Run, RunStatus
from runs.services.lifecycle import run_start
from tests.factories import make_user, publish

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SLOW = '''\
import time


def a():
    time.sleep(1.5)
    return {"x": 2}


def b(x, n):
    return {"y": x * n}


def c(y):
    print(f"y={y}")
'''


def test_a_waiting_run_starts_when_the_running_one_ends(celery_worker):
    alice = make_user("alice")
    team = team_create(slug="acme", owner=alice)
    quota_set(actor=alice, team=team, max_concurrent_runs=1)
    version = publish(alice, namespace="acme", files={"workflow.py": SLOW})
    first = run_start(user=alice, version=version, namespace=team)
    second = run_start(user=alice, version=version, namespace=team)
    assert (first.status, second.status) == (RunStatus.QUEUED, RunStatus.WAITING)

    first = celery_worker.wait_for_run(first.pk, timeout=90)
    second = celery_worker.wait_for_run(second.pk, timeout=90)
    assert (first.status, second.status) == (RunStatus.SUCCEEDED, RunStatus.SUCCEEDED), (first.error, second.error)
    # The second run's first step started only after the first run had ended.
    started = second.steps.order_by("started_at").first().started_at
    assert started >= first.finished_at
    assert Run.objects.filter(status=RunStatus.WAITING).count() == 0
