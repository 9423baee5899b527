"""The workflow's schedules and triggers page: create, see firings and deliveries, pause,
resume, delete; the secret shown once; viewers see but get no buttons; CSRF stays on."""
from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.services import membership_set, team_create
from automation.models import Schedule, Trigger
from automation.services import schedule_fire
from tests.factories import make_user, publish

pytestmark = pytest.mark.django_db

PAGE = "/w/acme/demo/automation/"


@pytest.fixture
def setup(user):
    team = team_create(slug="acme", owner=user)
    viewer = make_user("vic")
    membership_set(team=team, user=viewer, role="viewer")
    publish(user, namespace="acme", visibility="team")
    return viewer


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_workflow_page_links_to_it(user, setup):
    html = _login(user).get("/w/acme/demo/").content.decode()
    assert f'href="{PAGE}"' in html


def test_create_a_schedule_see_its_firing_pause_resume_delete(user, setup):
    client = _login(user)
    response = client.post("/w/acme/demo/schedules/new", {
        "cron": "15 4 * * *", "timezone": "UTC", "version": "latest", "params": '{"n": 6}',
        "skip_if_running": "on", "max_retries": "1", "namespace": "acme", "name": "early",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    schedule = Schedule.objects.get()
    assert (schedule.cron, schedule.params, schedule.max_retries, schedule.namespace.slug) == ("15 4 * * *", {"n": 6}, 1, "acme")
    firing = schedule_fire(schedule_id=schedule.pk)
    html = client.get(PAGE).content.decode()
    assert "early" in html and "15 4 * * *" in html and "Next run" in html
    assert f'href="/runs/{firing.run_id}/"' in html and "started" in html

    client.post(f"/schedules/{schedule.pk}/pause")
    schedule.refresh_from_db()
    assert schedule.paused and "Paused: no next run" in client.get(PAGE).content.decode()
    client.post(f"/schedules/{schedule.pk}/resume")
    schedule.refresh_from_db()
    assert not schedule.paused
    client.post(f"/schedules/{schedule.pk}/delete")
    assert not Schedule.objects.exists()


def test_form_errors_land_on_their_fields(user, setup):
    response = _login(user).post("/w/acme/demo/schedules/new", {
        "cron": "99 * * * *", "timezone": "UTC", "version": "latest", "params": "", "max_retries": "0",
        "namespace": "acme"})
    assert response.status_code == 400
    assert re.search(r'has-error.*?Invalid cron expression', response.content.decode(), re.S)
    response = _login(user).post("/w/acme/demo/triggers/new", {
        "version": "latest", "mapping": '{"nope": "$.a"}', "params": "", "namespace": "acme"})
    assert response.status_code == 400 and "Unknown parameter &#x27;nope&#x27; in mapping" in response.content.decode()


def test_a_trigger_secret_is_shown_once(user, setup):
    client = _login(user)
    response = client.post("/w/acme/demo/triggers/new", {
        "version": "1.0.0", "mapping": '{"n": "$.n"}', "params": "", "namespace": "acme", "name": "hook"})
    assert response.status_code == 302 and response["Location"] == PAGE  # a reload cannot make another
    response = client.get(PAGE)
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    secret = re.search(r'id="trigger-secret">(fdh_[0-9a-f]+)<', html).group(1)
    trigger = Trigger.objects.get()
    assert f"/api/v1/hooks/{trigger.key}" in html and "X-Flowdeck-Signature" in html
    again = client.get(PAGE).content.decode()
    assert secret not in again and f"/api/v1/hooks/{trigger.key}" in again

    api = Client()
    assert api.post(f"/api/v1/hooks/{trigger.key}", {"n": 4}, content_type="application/json",
                    HTTP_X_FLOWDECK_SECRET=secret).status_code == 201
    assert "201" in client.get(PAGE).content.decode()
    client.post(f"/triggers/{trigger.pk}/delete")
    assert not Trigger.objects.exists()


def test_viewers_see_without_buttons_and_cannot_act(user, setup):
    viewer = setup
    client = _login(user)
    client.post("/w/acme/demo/schedules/new", {"cron": "0 1 * * *", "timezone": "UTC", "version": "latest",
                                               "max_retries": "0", "namespace": "acme"})
    schedule = Schedule.objects.get()
    as_viewer = _login(viewer)
    html = as_viewer.get(PAGE).content.decode()
    assert "0 1 * * *" in html and f"/schedules/{schedule.pk}/pause" not in html
    assert as_viewer.post(f"/schedules/{schedule.pk}/pause").status_code == 403
    outsider = _login(make_user("olga"))
    assert outsider.get(PAGE).status_code == 404
    assert outsider.post(f"/schedules/{schedule.pk}/delete").status_code == 404
    schedule.refresh_from_db()
    assert not schedule.paused


def test_csrf_is_enforced(user, setup):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post("/w/acme/demo/schedules/new", {"cron": "0 1 * * *"}).status_code == 403
    assert not Schedule.objects.exists()
