"""A run's end tells its owner, and the subscribers who chose the event and may see the run."""
from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Membership
from accounts.services import team_create
from gallery.services import subscription_set
from notifications.models import Notification
from notifications.services import notify_run_finished
from notifications.services.preferences import preference_set
from runs.models import RunStatus, StepRun, StepStatus
from runs.services.lifecycle import run_advance, run_start, run_stop
from tests.factories import make_spec, make_user, publish

pytestmark = pytest.mark.django_db


def finish(run, **statuses: str) -> None:
    """End the run's steps as given (the rest succeed) and let the engine conclude the run."""
    run_advance(run_id=run.pk)
    for step in StepRun.objects.filter(run=run):
        StepRun.objects.filter(pk=step.pk).update(
            status=statuses.get(step.name, StepStatus.SUCCEEDED), finished_at=timezone.now()
        )
    run_advance(run_id=run.pk)
    run.refresh_from_db()


@pytest.fixture
def team_world():
    """alice (admin) runs a team workflow; bob (viewer) and carol (outsider) subscribe to it."""
    alice, bob, carol = make_user("alice", email="alice@example.com"), make_user("bob", email="bob@example.com"), \
        make_user("carol", email="carol@example.com")
    team = team_create(slug="ml", owner=alice)
    Membership.objects.create(team=team, user=bob, role=Membership.Role.VIEWER)
    version = publish(alice, namespace="ml", visibility="public")
    for user in (bob, carol):
        subscription_set(user=user, asset=version.asset)
    return alice, bob, carol, team, version


def test_the_end_of_a_run_reaches_the_engine_signal_and_the_task(team_world, eager_tasks,
                                                                django_capture_on_commit_callbacks):
    alice, bob, carol, team, version = team_world
    run = run_start(user=alice, version=version, namespace=team)
    with django_capture_on_commit_callbacks(execute=True):
        finish(run, b=StepStatus.FAILED, c=StepStatus.SKIPPED)
    assert run.status == RunStatus.FAILED

    (note,) = Notification.objects.filter(user=alice)
    assert note.kind == "run_failed" and note.run_id == run.pk and note.in_app
    assert note.title == f"Run {run.pk} of ml/demo@1.0.0 failed"
    assert note.body == "Step 'b' failed."
    assert note.url == f"/runs/{run.pk}/"
    # bob and carol follow the workflow but chose no run events: nothing for them.
    assert not Notification.objects.filter(user__in=[bob, carol]).exists()
    assert mail.outbox == []  # alice's built-in default is in-app only


def test_subscribers_who_chose_the_event_get_it_on_their_channels_if_they_may_see_the_run(team_world, eager_tasks,
                                                                                           django_capture_on_commit_callbacks):
    alice, bob, carol, team, version = team_world
    for user in (bob, carol):  # both ask for failures by email, for this workflow
        preference_set(user=user, asset=version.asset, events=["run_failed"], channels=["email", "in_app"])
    preference_set(user=alice, events=["run_succeeded"], channels=["in_app"])  # alice: not failures

    run = run_start(user=alice, version=version, namespace=team, name="nightly")
    with django_capture_on_commit_callbacks(execute=True):
        finish(run, b=StepStatus.FAILED, c=StepStatus.SKIPPED)

    # carol may not see a run in ml (she is no member): the run stays hidden from her.
    assert list(Notification.objects.values_list("user__username", "kind")) == [("bob", "run_failed")]
    (email,) = mail.outbox
    assert email.to == ["bob@example.com"]
    assert email.from_email == "Flowdeck <flowdeck@localhost>"
    assert email.subject == f"[Flowdeck] Run {run.pk} (nightly) of ml/demo@1.0.0 failed"
    assert "Step 'b' failed." in email.body
    assert f"Open: http://127.0.0.1:8000/runs/{run.pk}/" in email.body
    assert "http://127.0.0.1:8000/notifications/settings/" in email.body
    assert Notification.objects.get(user=bob).emailed_at is not None

    # A retried task tells nobody twice, by no channel.
    assert notify_run_finished(run_id=run.pk) == 0
    assert len(mail.outbox) == 1 and Notification.objects.count() == 1


def test_a_stopped_run_and_a_succeeded_one(team_world, eager_tasks, django_capture_on_commit_callbacks):
    alice, *_ , team, version = team_world
    stopped = run_start(user=alice, version=version, namespace=team)
    with django_capture_on_commit_callbacks(execute=True):
        run_stop(user=alice, run=stopped)
    ok = run_start(user=alice, version=version, namespace=team)
    with django_capture_on_commit_callbacks(execute=True):
        finish(ok)
    assert list(Notification.objects.filter(user=alice).order_by("pk").values_list("kind", "run_id")) == [
        ("run_stopped", stopped.pk), ("run_succeeded", ok.pk)
    ]


GATED = make_spec(steps=[
    {"name": "a", "fn": "workflow:a", "outputs": ["x"]},
    {"name": "b", "fn": "workflow:b", "depends_on": ["a"], "inputs": {"x": "a.x", "n": "params.n"},
     "outputs": ["y"], "when": "params.n > 5"},
    {"name": "c", "fn": "workflow:c", "depends_on": ["b"], "inputs": {"y": "b.y"}},
])


def test_a_gate_that_blocks_a_step_is_told_when_the_run_ends(user):
    version = publish(user, spec=GATED)
    run = run_start(user=user, version=version, params={"n": 3})
    run_advance(run_id=run.pk)
    StepRun.objects.filter(run=run, name="a").update(status=StepStatus.SUCCEEDED, finished_at=timezone.now())
    run_advance(run_id=run.pk, finished="a")  # b's gate is false: b and c are skipped, the run succeeds
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED

    assert notify_run_finished(run_id=run.pk) == 2
    gate = Notification.objects.get(user=user, kind="gate_blocked")
    assert gate.title == f"Run {run.pk} of alice/demo@1.0.0: a quality gate blocked b"
    assert gate.body == "b: params.n > 5 was false with {'params.n': 3}"
    assert Notification.objects.filter(user=user, kind="run_succeeded").exists()


def test_an_unchosen_event_or_channel_sends_nothing(team_world, eager_tasks, django_capture_on_commit_callbacks):
    alice, bob, _carol, team, version = team_world
    preference_set(user=alice, events=["run_failed"], channels=[])  # no channel at all
    preference_set(user=bob, asset=version.asset, events=["run_succeeded"], channels=["email"])  # not failures
    run = run_start(user=alice, version=version, namespace=team)
    with django_capture_on_commit_callbacks(execute=True):
        finish(run, b=StepStatus.FAILED, c=StepStatus.SKIPPED)
    assert Notification.objects.count() == 0 and mail.outbox == []
