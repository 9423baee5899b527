"""A real run on a real worker ends, and its owner hears of it in-app and by webhook."""
from __future__ import annotations

import pytest

from notifications.models import Notification
from notifications.services.preferences import preference_set
from notifications.services.webhooks import webhook_create
from runs.models import RunStatus
from runs.services.lifecycle import run_start
from tests.factories import FAILING_WORKFLOW_SOURCE, make_user, publish

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_failed_run_notifies_its_owner(celery_worker_factory, receiver_factory, client):
    receiver = receiver_factory([200])
    worker = celery_worker_factory(extra_env={"FLOWDECK_WEBHOOK_ALLOW_PRIVATE": "true"})
    alice = make_user("alice", email="alice@example.com")
    preference_set(user=alice, events=["run_failed", "run_succeeded"], channels=["in_app", "webhook"])
    _, receiver.secret = webhook_create(user=alice, name="pager", url=receiver.url)
    version = publish(alice, files={"workflow.py": FAILING_WORKFLOW_SOURCE})

    run = worker.wait_for_run(run_start(user=alice, version=version, params={"n": 2}, name="nightly").pk)
    assert run.status == RunStatus.FAILED
    note = worker.wait_for(lambda: Notification.objects.filter(user=alice, run=run).first(), what="the notification")
    assert note.kind == "run_failed" and note.title == f"Run {run.pk} (nightly) of alice/demo@1.0.0 failed"

    (got,) = receiver.wait_for(1)
    assert got.verified["event"] == "run_failed"
    data = got.verified["data"]["run"]
    assert data["id"] == run.pk and data["status"] == "failed" and data["error"] == "Step 'b' failed."
    assert data["workflow"] == "alice/demo" and data["params"] == {"n": 2} and data["duration_s"] > 0

    client.force_login(alice)
    assert '<span class="badge unread-badge">1</span>' in client.get("/").content.decode()
