"""Schedules through their services: firing, skip-if-running, redelivered messages, and
what beat's DatabaseScheduler reads (the PeriodicTask row, beside static entries)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from automation.cron import cron_next
from automation.models import ScheduleFiring
from automation.selectors import schedule_next_fire
from automation.services import schedule_create, schedule_delete, schedule_fire, schedule_pause, schedule_resume
from config.celery import app
from core.errors import Forbidden, InvalidInput
from registry.services import version_yank
from runs.models import Run
from tests.factories import publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(user):
    return publish(user)


def test_it_fires_a_run_with_the_fixed_params(user, version):
    schedule = schedule_create(user=user, asset=version.asset, cron="0 3 * * *", params={"n": 7}, name="nightly")
    firing = schedule_fire(schedule_id=schedule.pk)
    assert firing.outcome == ScheduleFiring.Outcome.STARTED
    run = Run.objects.get(pk=firing.run_id)
    assert run.params == {"n": 7} and run.asset_version == version
    assert run.created_by == user and run.namespace.slug == "alice"
    assert run.name.startswith("nightly ")


def test_latest_means_the_newest_version_at_firing_time(user, version):
    schedule = schedule_create(user=user, asset=version.asset, cron="*/5 * * * *")
    newer = publish(user, version="1.1.0")
    assert Run.objects.get(pk=schedule_fire(schedule_id=schedule.pk).run_id).asset_version == newer


def test_it_skips_and_records_a_firing_while_the_previous_run_is_going(user, version):
    schedule = schedule_create(user=user, asset=version.asset, cron="* * * * *")
    first = schedule_fire(schedule_id=schedule.pk)  # no worker: the run stays queued
    second = schedule_fire(schedule_id=schedule.pk)
    assert second.outcome == ScheduleFiring.Outcome.SKIPPED and second.run_id is None
    assert f"Run {first.run_id}" in second.reason and "still queued" in second.reason
    assert Run.objects.count() == 1
    assert list(schedule.firings.values_list("outcome", flat=True)) == ["skipped", "started"]

    Run.objects.filter(pk=first.run_id).update(status="succeeded")
    assert schedule_fire(schedule_id=schedule.pk).outcome == ScheduleFiring.Outcome.STARTED
    assert Run.objects.count() == 2


def test_without_the_policy_runs_overlap(user, version):
    schedule = schedule_create(user=user, asset=version.asset, cron="* * * * *", skip_if_running=False)
    schedule_fire(schedule_id=schedule.pk)
    assert schedule_fire(schedule_id=schedule.pk).outcome == ScheduleFiring.Outcome.STARTED
    assert Run.objects.count() == 2


def test_a_redelivered_message_fires_once(user, version):
    schedule = schedule_create(user=user, asset=version.asset, cron="* * * * *", skip_if_running=False)
    one = schedule_fire(schedule_id=schedule.pk, message_id="abc")
    again = schedule_fire(schedule_id=schedule.pk, message_id="abc")
    assert one.pk == again.pk and Run.objects.count() == 1


def test_a_run_that_cannot_start_is_a_failed_firing(user, version):
    schedule = schedule_create(user=user, asset=version.asset, version=version, cron="* * * * *")
    version_yank(user=user, version=version, reason="bad data")
    firing = schedule_fire(schedule_id=schedule.pk)
    assert firing.outcome == ScheduleFiring.Outcome.FAILED and "yanked" in firing.reason
    assert Run.objects.count() == 0


def test_create_checks_cron_timezone_params_and_role(user, other_user, version):
    for kwargs, field in [
        ({"cron": "0 3 * *"}, "cron"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "0 3 * * *", "tz": "Mars/Base"}, "timezone"),
        ({"cron": "0 3 * * *", "params": {"n": "many"}}, "params.n"),
        ({"cron": "0 3 * * *", "params": {"zz": 1}}, "params.zz"),
        ({"cron": "0 3 * * *", "max_retries": 11}, "max_retries"),
    ]:
        with pytest.raises(InvalidInput) as exc:
            schedule_create(user=user, asset=version.asset, **kwargs)
        assert exc.value.field == field, kwargs
    # bob may see alice's public workflow and schedule it in his namespace, not in hers.
    from accounts.models import Team

    with pytest.raises(Forbidden):
        schedule_create(user=other_user, asset=version.asset, cron="0 3 * * *", namespace=Team.objects.get(slug="alice"))
    assert schedule_create(user=other_user, asset=version.asset, cron="0 3 * * *").namespace.slug == "bob"


def test_pause_resume_and_delete_drive_the_beat_entry(user, other_user, version):
    schedule = schedule_create(user=user, asset=version.asset, cron="0 3 * * *")
    task_id = schedule.periodic_task_id
    schedule_pause(user=user, schedule=schedule)
    assert PeriodicTask.objects.get(pk=task_id).enabled is False
    assert schedule_fire(schedule_id=schedule.pk) is None  # a message sent before the pause
    assert schedule_next_fire(schedule=schedule) is None
    schedule_resume(user=user, schedule=schedule)
    assert PeriodicTask.objects.get(pk=task_id).enabled is True
    with pytest.raises(Forbidden):
        schedule_delete(user=other_user, schedule=schedule)
    schedule_delete(user=user, schedule=schedule)
    assert not PeriodicTask.objects.filter(pk=task_id).exists()


# The scheduler closes old connections as beat does, so the test needs real commits.
@pytest.mark.django_db(transaction=True)
def test_the_database_scheduler_reads_the_entry_beside_static_ones(user, version, monkeypatch):
    # The settings' own static entries (CELERY_BEAT_SCHEDULE), plus one of this test's.
    static = {**app.conf.beat_schedule, "static-heartbeat": {"task": "flowdeck.test_static", "schedule": 15.0}}
    monkeypatch.setitem(app.conf, "beat_schedule", static)
    schedule = schedule_create(user=user, asset=version.asset, cron="*/15 8-18 * * mon-fri", tz="Europe/Paris")
    paused = schedule_create(user=user, asset=version.asset, cron="*/5 * * * *")
    schedule_pause(user=user, schedule=paused)

    entries = DatabaseScheduler(app=app).schedule
    assert set(static) <= set(entries) and entries["static-heartbeat"].task == "flowdeck.test_static"
    entry = entries[f"flowdeck.schedule.{schedule.pk}"]
    assert entry.task == "flowdeck.automation.schedule_fire" and entry.kwargs == {"schedule_id": schedule.pk}
    cron = entry.schedule
    assert cron.minute == {0, 15, 30, 45} and cron.hour == set(range(8, 19))
    assert cron.day_of_week == {1, 2, 3, 4, 5} and str(cron.tz) == "Europe/Paris"
    assert f"flowdeck.schedule.{paused.pk}" not in entries


def test_next_fire_follows_the_time_zone():
    after = datetime(2026, 11, 22, 5, 30, tzinfo=timezone.utc)  # a Sunday
    paris = cron_next("0 3 * * mon-fri", "Europe/Paris", after)
    assert paris.isoformat() == "2026-11-23T03:00:00+01:00"
    assert cron_next("*/15 * * * *", "UTC", after).isoformat() == "2026-11-22T05:45:00+00:00"
    assert cron_next("0 0 29 2 *", "UTC", after).date().isoformat() == "2028-02-29"


def test_a_beat_entry_left_by_a_cascade_is_dropped_at_its_next_firing(user, version):
    schedule = schedule_create(user=user, asset=version.asset, cron="* * * * *")
    task_id, schedule_id = schedule.periodic_task_id, schedule.pk
    version.asset.delete()  # the workflow goes, and its schedules with it
    assert schedule_fire(schedule_id=schedule_id) is None
    assert not PeriodicTask.objects.filter(pk=task_id).exists()
