"""GET /api/v1/runs/<id>/steps/<step>/log: the tail as before, and ?offset= to follow a log."""
from __future__ import annotations

import pytest
from django.utils import timezone

from core import storage
from runs.models import StepLogChunk, StepRun, StepStatus
from runs.services.lifecycle import run_start
from tests.factories import assert_error, publish

pytestmark = pytest.mark.django_db


def url(run_id: int, step: str = "a") -> str:
    return f"/api/v1/runs/{run_id}/steps/{step}/log"


@pytest.fixture
def run(user):
    run = run_start(user=user, version=publish(user))
    now = timezone.now()
    key = storage.step_key(run.pk, "a", 1, "log.txt")
    size = storage.put(key, "loading data\nx=2 ✓\n".encode())
    StepRun.objects.filter(run=run, name="a").update(status=StepStatus.SUCCEEDED, attempt=1, started_at=now,
                                                     finished_at=now, log_key=key, log_size=size)
    b = StepRun.objects.get(run=run, name="b")
    StepRun.objects.filter(pk=b.pk).update(status=StepStatus.RUNNING, attempt=1, started_at=now)
    StepLogChunk.objects.create(step=b, attempt=1, offset=8, data="epoch 1\n")
    StepLogChunk.objects.create(step=b, attempt=1, offset=16, data="epoch 2\n")
    return run


def test_without_offset_it_answers_the_tail_as_before(auth_client, user, run):
    body = auth_client(user).get(url(run.pk)).json()
    assert body == {"step": "a", "log": "loading data\nx=2 ✓\n", "truncated": False}


def test_with_offset_it_follows_a_running_step(auth_client, user, run):
    client = auth_client(user)
    body = client.get(url(run.pk, "b"), {"offset": 0}).json()
    assert body == {"step": "b", "text": "epoch 1\nepoch 2\n", "next_offset": 16, "complete": False, "start": 0,
                    "truncated": False, "attempt": 1, "status": "running"}
    assert client.get(url(run.pk, "b"), {"offset": 8}).json()["text"] == "epoch 2\n"
    nothing = client.get(url(run.pk, "b"), {"offset": 16, "attempt": 1}).json()
    assert (nothing["text"], nothing["next_offset"], nothing["complete"]) == ("", 16, False)


def test_with_offset_it_reads_an_ended_step_from_storage(auth_client, user, run):
    client = auth_client(user)
    body = client.get(url(run.pk), {"offset": 0}).json()
    assert (body["text"], body["next_offset"], body["complete"]) == ("loading data\nx=2 ✓\n", 21, True)
    rest = client.get(url(run.pk), {"offset": 13}).json()
    assert (rest["text"], rest["start"], rest["complete"]) == ("x=2 ✓\n", 13, True)


@pytest.mark.parametrize(("query", "field"), [({"offset": "-1"}, "offset"), ({"offset": "abc"}, "offset"),
                                              ({"offset": "0", "attempt": "x"}, "attempt")])
def test_a_bad_offset_is_a_400_naming_it(auth_client, user, run, query, field):
    assert_error(auth_client(user).get(url(run.pk), query), 400, "invalid", field)


def test_others_cannot_read_it_and_a_missing_step_is_a_404(auth_client, user, other_user, run, api_client):
    assert_error(auth_client(other_user).get(url(run.pk, "b"), {"offset": 0}), 404, "not_found")
    assert_error(auth_client(user).get(url(run.pk, "nope"), {"offset": 0}), 404, "not_found", "step")
    assert api_client.get(url(run.pk), {"offset": 0}).status_code in (401, 403)


def test_without_offset_a_step_with_no_stored_log_answers_what_was_shipped_live(auth_client, user, run):
    """A running step, or one whose log could not be stored (S3 away): the live rows."""
    body = auth_client(user).get(url(run.pk, "b")).json()
    assert body == {"step": "b", "log": "epoch 1\nepoch 2\n", "truncated": False}


@pytest.mark.parametrize("offset", [None, 0])
def test_a_log_gone_from_storage_is_a_404_not_a_500(auth_client, user, run, offset):
    step = StepRun.objects.get(run=run, name="a")
    storage.delete(step.log_key)
    query = {} if offset is None else {"offset": offset}
    assert_error(auth_client(user).get(url(run.pk), query), 404, "not_found", "key")


def test_a_log_gone_from_local_storage_is_a_404_too(auth_client, user, run, local_storage):
    step = StepRun.objects.get(run=run, name="a")
    StepRun.objects.filter(pk=step.pk).update(log_size=0)  # make the selector ask the store
    assert_error(auth_client(user).get(url(run.pk), {"offset": 0}), 404, "not_found", "key")
