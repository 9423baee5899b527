"""Preferences: the default and per workflow, in the API and the settings page, honoured by fan-out."""
from __future__ import annotations

import pytest
from django.core import mail

from gallery.services import subscription_set
from notifications.models import Notification, WebhookDelivery
from notifications.services import notify_new_version
from notifications.services.preferences import preference_set
from notifications.services.webhooks import webhook_create
from tests.factories import assert_error, make_user, publish

pytestmark = pytest.mark.django_db


def test_the_api_sets_the_default_and_a_workflow_preference(user, other_user, auth_client):
    version = publish(user)
    api = auth_client(other_user)
    got = api.get("/api/v1/notifications/preferences").json()
    assert got["default"] == {"workflow": None, "events": got["events"], "channels": ["in_app"], "source": "builtin"}
    assert set(got["channels"]) == {"in_app", "email", "webhook"} and "quota_nearly_reached" in got["events"]

    put = api.put("/api/v1/notifications/preferences", {"events": ["run_failed", "new_version"],
                                                       "channels": ["email"]}, format="json")
    assert put.json() == {"workflow": None, "events": ["run_failed", "new_version"], "channels": ["email"],
                          "source": "default"}
    url = "/api/v1/workflows/alice/demo/notification-preferences"
    assert api.get(url).json()["source"] == "default"  # the workflow follows the default
    assert api.put(url, {"events": ["run_succeeded"], "channels": ["webhook", "in_app"]}, format="json").json() == {
        "workflow": "alice/demo", "events": ["run_succeeded"], "channels": ["in_app", "webhook"], "source": "workflow"
    }
    listed = api.get("/api/v1/notifications/preferences").json()
    assert listed["workflows"] == [{"workflow": "alice/demo", "events": ["run_succeeded"],
                                    "channels": ["in_app", "webhook"], "source": "workflow"}]
    assert api.delete(url).json()["source"] == "default"
    assert api.delete("/api/v1/notifications/preferences").json()["source"] == "builtin"

    assert_error(api.put(url, {"events": ["nope"], "channels": []}, format="json"), 400, "invalid", "events")
    assert version.asset.visibility == "public"


def test_a_hidden_workflow_has_no_preference_for_outsiders(user, other_user, auth_client):
    publish(user, visibility="private")
    url = "/api/v1/workflows/alice/demo/notification-preferences"
    assert_error(auth_client(other_user).put(url, {"events": [], "channels": []}, format="json"), 404, "not_found")
    assert auth_client(user).get(url).status_code == 200


def test_the_settings_page_saves_preferences_and_adds_a_webhook(user, other_user, client):
    version = publish(user)
    subscription_set(user=other_user, asset=version.asset)
    client.force_login(other_user)
    page = client.get("/notifications/settings/").content.decode()
    assert 'data-workflow="alice/demo"' in page and "follows the built-in default" in page

    client.post("/notifications/settings/", {"action": "default", "events": ["run_failed"], "channels": ["email"]})
    client.post("/notifications/settings/", {"action": "workflow", "workflow": "alice/demo",
                                             "events": ["new_version"], "channels": ["in_app", "email"]})
    api = client.get("/api/v1/notifications/preferences").json()
    assert api["default"]["events"] == ["run_failed"] and api["default"]["channels"] == ["email"]
    assert api["workflows"][0]["channels"] == ["in_app", "email"]

    created = client.post("/notifications/settings/", {"action": "webhook-create", "name": "ops",
                                                       "url": "https://hooks.example.com/flowdeck"}, follow=True)
    assert created.redirect_chain == [("/notifications/settings/", 302)]  # a reload makes no second one
    html = created.content.decode()
    secret = html.split('id="webhook-secret">')[1].split("<")[0]
    assert secret.startswith("whsec_")
    again = client.get("/notifications/settings/").content.decode()
    assert "https://hooks.example.com/flowdeck" in again and secret not in again  # shown once

    bad = client.post("/notifications/settings/", {"action": "workflow", "workflow": "alice/nope", "events": []})
    assert bad.status_code == 404 and "was not found" in bad.content.decode()


def test_fan_out_honours_events_and_channels(user, eager_tasks, django_capture_on_commit_callbacks):
    first = publish(user)
    people = {name: make_user(name, email=f"{name}@example.com") for name in ("bob", "carol", "dave", "erin")}
    for person in people.values():
        subscription_set(user=person, asset=first.asset)
        webhook_create(user=person, name="hook", url="https://hooks.example.com/x")
    preference_set(user=people["bob"], events=["run_failed"], channels=["in_app", "email", "webhook"])  # not new versions
    preference_set(user=people["carol"], events=["new_version"], channels=["email"])  # email only
    preference_set(user=people["dave"], asset=first.asset, events=["new_version"], channels=[])  # mute this one
    # erin: the built-in default, in-app only
    version = publish(user, version="1.1.0")
    with django_capture_on_commit_callbacks(execute=True) as queued:
        assert notify_new_version(version=version) == 2

    told = dict(Notification.objects.values_list("user__username", "channels"))
    assert told == {"carol": ["email"], "erin": ["in_app"]}
    assert WebhookDelivery.objects.count() == 0  # nobody chose the webhook channel for it
    assert len(queued) == 1  # carol's email task, sent on commit
    (email,) = mail.outbox
    assert email.to == ["carol@example.com"] and email.subject == "[Flowdeck] alice/demo 1.1.0 was published"
    assert Notification.objects.filter(user__username="carol").first() not in Notification.objects.filter(in_app=True)


def test_a_subscriber_who_lost_access_is_not_told(user):
    from accounts.models import Membership
    from accounts.services import team_create

    team = team_create(slug="ml", owner=user)
    bob = make_user("bob")
    membership = Membership.objects.create(team=team, user=bob, role=Membership.Role.VIEWER)
    first = publish(user, namespace="ml", visibility="team")
    subscription_set(user=bob, asset=first.asset)
    membership.delete()  # bob left the team: its workflows are hidden from him now
    assert notify_new_version(version=publish(user, namespace="ml", visibility="team", version="1.1.0")) == 0
    assert not Notification.objects.filter(user=bob).exists()
