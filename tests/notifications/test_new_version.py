"""A new version notifies the subscribers who follow the latest, not those pinned to a version."""
from __future__ import annotations

import time

import pytest

from gallery.services import subscription_set
from notifications.models import Notification
from notifications.services import notify_new_version
from tests.factories import make_user, publish


@pytest.mark.django_db
def test_it_notifies_followers_and_not_pinned_subscribers(user, other_user):
    first = publish(user)
    carol = make_user("carol")
    subscription_set(user=other_user, asset=first.asset)             # follows the latest
    subscription_set(user=carol, asset=first.asset, pin="1.0.0")      # pinned
    second = publish(user, version="1.1.0", changelog="Faster training.")

    assert notify_new_version(version=second) == 1
    assert notify_new_version(version=second) == 0  # a retried task notifies nobody twice
    (note,) = Notification.objects.all()
    assert note.user == other_user
    assert note.title == "alice/demo 1.1.0 was published"
    assert note.body == "Faster training."
    assert note.url == "/w/alice/demo/?version=1.1.0"
    assert note.read_at is None


@pytest.mark.django_db
def test_the_badge_shows_the_unread_count_and_the_page_marks_them_read(user, other_user, client, auth_client):
    first = publish(user)
    subscription_set(user=other_user, asset=first.asset)
    notify_new_version(version=publish(user, version="1.0.1", changelog="Fix."))
    notify_new_version(version=publish(user, version="1.0.2", changelog="Fix again."))

    client.force_login(other_user)
    assert '<span class="badge unread-badge">2</span>' in client.get("/").content.decode()
    page = client.get("/notifications/").content.decode()
    assert "alice/demo 1.0.2 was published" in page and "Fix again." in page

    newest = Notification.objects.filter(user=other_user).first()
    client.post("/notifications/", {"id": newest.pk})
    assert '<span class="badge unread-badge">1</span>' in client.get("/").content.decode()
    client.post("/notifications/")
    assert "unread-badge" not in client.get("/").content.decode()

    api = auth_client(other_user)
    listed = api.get("/api/v1/notifications").json()
    assert listed["unread"] == 0 and [n["title"] for n in listed["results"]] == [
        "alice/demo 1.0.2 was published", "alice/demo 1.0.1 was published"
    ]
    assert all(n["read"] for n in listed["results"])


@pytest.mark.django_db
def test_the_api_marks_read(user, other_user, auth_client):
    first = publish(user)
    subscription_set(user=other_user, asset=first.asset)
    notify_new_version(version=publish(user, version="1.0.1"))
    api = auth_client(other_user)
    assert api.get("/api/v1/notifications", {"unread": "1"}).json()["count"] == 1
    assert auth_client(user).post("/api/v1/notifications/read", {}, format="json").json() == {"marked": 0, "unread": 0}
    assert api.post("/api/v1/notifications/read", {}, format="json").json() == {"marked": 1, "unread": 0}
    assert api.get("/api/v1/notifications", {"unread": "1"}).json()["count"] == 0


def test_publishing_dispatches_the_notification_to_a_worker(celery_worker):
    alice, bob = make_user("alice"), make_user("bob")
    subscription_set(user=bob, asset=publish(alice).asset)
    publish(alice, version="2.0.0", changelog="Breaking.")

    deadline = time.monotonic() + 60
    while not Notification.objects.filter(user=bob).exists():
        assert time.monotonic() < deadline, celery_worker.log_tail()
        time.sleep(0.2)
    assert Notification.objects.get(user=bob).body == "Breaking."


@pytest.mark.django_db
def test_the_workspace_shows_pinned_and_following(user, other_user, client):
    a = publish(user)
    b = publish(user, spec={**a.spec, "name": "other"})
    subscription_set(user=other_user, asset=a.asset)
    subscription_set(user=other_user, asset=b.asset, pin="1.0.0")
    client.force_login(other_user)
    page = client.get("/me/").content.decode()
    assert '<span class="badge subscription-following">following</span> the latest' in page
    assert '<span class="badge subscription-pinned">pinned</span> pinned to <span class="mono">v1.0.0</span>' in page
