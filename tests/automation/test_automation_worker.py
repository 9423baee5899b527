"""Schedules and triggers end to end, with a real Celery worker running the steps: a
webhook's run completes, a failed scheduled run is retried, and beat's DatabaseScheduler
sends the firing that the worker turns into a run."""
from __future__ import annotations

import datetime as dt
import json
import time

import httpx
import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from automation.models import ScheduleFiring
from automation.services import schedule_create, schedule_fire, trigger_create
from config.celery import app
from runs.models import Run
from tests.factories import make_spec, publish

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Step b fails on its first attempt and succeeds on the next (a counter file, given as a param).
FLAKY = '''\
import os


def a():
    return {"x": 2}


def b(x, n, counter):
    with open(counter, "a") as fh:
        fh.write(".")
    if os.path.getsize(counter) < 2:
        raise RuntimeError("first attempt fails")
    return {"y": x * n}


def c(y):
    print(f"y={y}")
'''

ALWAYS_FAILS = FLAKY.replace("< 2", "< 1000")


def _spec(name: str):
    spec = make_spec(name=name)
    spec["params"].append({"name": "counter", "type": "str", "default": "/nonexistent"})
    spec["steps"][1]["inputs"]["counter"] = "params.counter"
    return spec


def _steps(run: Run) -> dict:
    return {s.name: (s.status, s.attempt) for s in run.steps.all()}


def test_a_webhook_starts_a_run_that_the_worker_completes(celery_worker, live_server, user):
    publish(user)
    from registry.models import Asset

    trigger, secret = trigger_create(user=user, asset=Asset.objects.get(name="demo"), mapping={"n": "$.rows"})
    response = httpx.post(f"{live_server.url}/api/v1/hooks/{trigger.key}", content=json.dumps({"rows": 21}),
                          headers={"Content-Type": "application/json", "X-Flowdeck-Secret": secret})
    assert response.status_code == 201, response.text
    run = celery_worker.wait_for_run(response.json()["run"])
    assert run.status == "succeeded" and run.params == {"n": 21}
    assert run.steps.get(name="b").outputs["y"]["value"] == 42
    assert trigger.deliveries.get().run_id == run.pk


def test_a_failed_scheduled_run_is_retried_until_it_succeeds(celery_worker, user, tmp_path):
    version = publish(user, spec=_spec("flaky"), files={"workflow.py": FLAKY})
    schedule = schedule_create(user=user, asset=version.asset, cron="0 3 * * *", max_retries=2,
                               params={"counter": str(tmp_path / "counter")})
    firing = schedule_fire(schedule_id=schedule.pk)

    def retried_and_done():
        firing.refresh_from_db()
        run = Run.objects.get(pk=firing.run_id)
        return run if firing.retries == 1 and run.status == "succeeded" else None

    run = celery_worker.wait_for(retried_and_done, timeout=90, what="the retried run to succeed")
    assert _steps(run) == {"a": ("succeeded", 1), "b": ("succeeded", 2), "c": ("succeeded", 1)}
    assert Run.objects.count() == 1  # retried in place, not a new run


def test_retries_stop_at_the_schedules_limit(celery_worker, user, tmp_path):
    version = publish(user, spec=_spec("broken"), files={"workflow.py": ALWAYS_FAILS})
    schedule = schedule_create(user=user, asset=version.asset, cron="0 3 * * *", max_retries=1,
                               params={"counter": str(tmp_path / "counter")})
    firing = schedule_fire(schedule_id=schedule.pk)

    def given_up():
        firing.refresh_from_db()
        run = Run.objects.get(pk=firing.run_id)
        return run if firing.retries == 1 and run.status == "failed" and _steps(run)["b"][1] == 2 else None

    celery_worker.wait_for(given_up, timeout=90, what="the last retry to fail")
    time.sleep(2)  # nothing else comes
    firing.refresh_from_db()
    run = Run.objects.get(pk=firing.run_id)
    assert firing.retries == 1 and run.status == "failed" and _steps(run)["b"] == ("failed", 2)
    assert (tmp_path / "counter").read_text() == ".."


def test_beat_sends_the_firing_and_the_worker_runs_it(celery_worker, user, monkeypatch):
    monkeypatch.setitem(app.conf, "beat_schedule", {})
    version = publish(user)
    schedule = schedule_create(user=user, asset=version.asset, cron="* * * * *", params={"n": 5})
    # As if beat had last sent it two minutes ago: it is due now.
    PeriodicTask.objects.filter(pk=schedule.periodic_task_id).update(
        last_run_at=timezone.now() - dt.timedelta(minutes=2))

    scheduler = DatabaseScheduler(app=app)
    entry = scheduler.schedule[f"flowdeck.schedule.{schedule.pk}"]
    assert entry.is_due().is_due
    scheduler.apply_entry(entry, producer=scheduler.producer)

    firing = celery_worker.wait_for(lambda: ScheduleFiring.objects.filter(schedule=schedule).first(),
                                    what="the firing")
    assert firing.outcome == "started" and firing.message_id
    run = celery_worker.wait_for_run(firing.run_id)
    assert run.status == "succeeded" and run.params == {"n": 5}
