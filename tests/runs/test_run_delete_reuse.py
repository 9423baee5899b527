"""A run whose outputs another run reuses (a cache hit, a partial run) is not deleted
from under it: the answer is 409 naming the reusing runs, and nothing is removed."""
from __future__ import annotations

import pytest

from runs.models import Run, RunStatus, StepRun
from runs.services.lifecycle import run_start
from tests.factories import assert_error, publish

pytestmark = pytest.mark.django_db


def test_a_reused_run_cannot_be_deleted_until_its_reusers_are(user, auth_client):
    version = publish(user)
    source, reuser = run_start(user=user, version=version), run_start(user=user, version=version)
    Run.objects.filter(pk__in=[source.pk, reuser.pk]).update(status=RunStatus.SUCCEEDED)
    StepRun.objects.filter(run=reuser, name="a").update(cached_from=source.steps.get(name="a"))
    api = auth_client(user)

    error = assert_error(api.delete(f"/api/v1/runs/{source.pk}"), 409, "conflict")
    assert str(reuser.pk) in error["message"]
    assert Run.objects.filter(pk=source.pk).exists()

    assert api.delete(f"/api/v1/runs/{reuser.pk}").status_code == 200
    assert api.delete(f"/api/v1/runs/{source.pk}").status_code == 200
    assert not Run.objects.filter(pk__in=[source.pk, reuser.pk]).exists()
