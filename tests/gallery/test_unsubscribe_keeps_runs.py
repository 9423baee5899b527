"""Unsubscribing removes the subscription only: the user's past runs stay, readable as before."""
from __future__ import annotations

import pytest

from runs.models import Run
from runs.services.lifecycle import run_start
from tests.factories import publish

pytestmark = pytest.mark.django_db


def test_unsubscribing_keeps_past_runs(user, other_user, auth_client):
    version = publish(user)
    bob = auth_client(other_user)
    assert bob.put("/api/v1/workflows/alice/demo/subscription", {}, format="json").json()["subscribed"] is True
    run = run_start(user=other_user, version=version, params={"n": 5}, name="before")

    assert bob.delete("/api/v1/workflows/alice/demo/subscription").json()["subscribed"] is False
    assert Run.objects.filter(pk=run.pk, created_by=other_user).exists()
    detail = bob.get(f"/api/v1/runs/{run.pk}")
    assert detail.status_code == 200 and detail.json()["params"] == {"n": 5}
    assert [r["id"] for r in bob.get("/api/v1/runs", {"workflow": "alice/demo"}).json()["results"]] == [run.pk]
