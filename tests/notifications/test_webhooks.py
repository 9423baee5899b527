"""Webhooks: signed JSON to a real HTTP receiver, retried with backoff, every attempt recorded."""
from __future__ import annotations

import itertools
import json
import time

import pytest

from gallery.services import subscription_set
from notifications.models import Notification, WebhookAttempt, WebhookDelivery
from notifications.services import notify_new_version
from notifications.services.preferences import preference_set
from notifications.services.webhooks import webhook_create, webhook_signature
from tests.factories import make_user, publish
from tests.webhook_receiver import verify


def follow_with_webhook(receiver, *, user, author, channels=("webhook",)):
    """``user`` follows ``author``'s workflow and gets its new versions on ``channels``;
    returns the first version and the endpoint (whose secret the receiver now knows)."""
    first = publish(author)
    subscription_set(user=user, asset=first.asset)
    preference_set(user=user, events=["new_version"], channels=list(channels))
    endpoint, receiver.secret = webhook_create(user=user, name="ci", url=receiver.url)
    return first, endpoint


@pytest.mark.django_db(transaction=True)
def test_the_receiver_verifies_the_signature_and_timestamp(eager_tasks, receiver_factory):
    receiver = receiver_factory([200])
    alice, bob = make_user("alice"), make_user("bob")
    _, endpoint = follow_with_webhook(receiver, user=bob, author=alice)
    version = publish(alice, version="1.1.0", changelog="Faster.")  # the task runs on commit, here

    (got,) = receiver.wait_for(1)
    assert got.problem == "" and got.verified is not None
    assert got.headers["X-Flowdeck-Event"] == "new_version"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Flowdeck-Signature"].startswith("sha256=")
    assert got.verified["event"] == "new_version"
    assert got.verified["title"] == "alice/demo 1.1.0 was published"
    assert got.verified["data"] == {"workflow": "alice/demo", "version": "1.1.0", "changelog": "Faster.",
                                    "published_by": "alice"}
    assert got.verified["url"] == "http://127.0.0.1:8000/w/alice/demo/?version=1.1.0"
    # Only webhook was chosen: the row exists (for idempotency) but not in the inbox.
    note = Notification.objects.get(user=bob, version=version)
    assert not note.in_app and note.channels == ["webhook"]

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == "succeeded" and delivery.attempts == 1
    (attempt,) = WebhookAttempt.objects.filter(delivery=delivery)
    assert attempt.status_code == 200 and attempt.error == "" and attempt.duration_ms > 0

    # The receiver's checks bite: a wrong secret, a changed body, an old timestamp.
    with pytest.raises(ValueError, match="bad signature"):
        verify("whsec_wrong", got.headers, got.body)
    with pytest.raises(ValueError, match="bad signature"):
        verify(receiver.secret, got.headers, got.body.replace(b"Faster", b"Slower"))
    with pytest.raises(ValueError, match="stale"):
        verify(receiver.secret, got.headers, got.body, now=time.time() + 3600)
    ts = got.headers["X-Flowdeck-Timestamp"]
    assert webhook_signature(secret=receiver.secret, timestamp=ts, body=got.body) == got.headers["X-Flowdeck-Signature"]


@pytest.mark.django_db(transaction=True)
def test_private_addresses_are_refused_unless_allowed(eager_tasks, receiver_factory, settings):
    settings.FLOWDECK_WEBHOOK_ALLOW_PRIVATE = False  # the production default
    receiver = receiver_factory([200])
    alice, bob = make_user("alice"), make_user("bob")
    _, endpoint = follow_with_webhook(receiver, user=bob, author=alice)
    publish(alice, version="1.1.0")
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == "failed" and receiver.received == []
    (attempt,) = delivery.attempt_log.all()
    assert attempt.status_code is None
    assert attempt.error == "refused: 127.0.0.1 resolves to the non-public address 127.0.0.1"


@pytest.mark.django_db
def test_the_secret_is_shown_once_and_endpoints_are_private(auth_client, user, other_user):
    api = auth_client(user)
    created = api.post("/api/v1/webhooks", {"name": "ops", "url": "https://hooks.example.com/x"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    listed = api.get("/api/v1/webhooks").json()
    assert listed == [{k: body[k] for k in ("id", "name", "url", "active", "created_at")}]
    assert "secret" not in api.get(f"/api/v1/webhooks/{body['id']}").json()
    assert body["secret"] not in api.get(f"/api/v1/webhooks/{body['id']}/deliveries").content.decode()

    other = auth_client(other_user)
    assert other.get(f"/api/v1/webhooks/{body['id']}").status_code == 404
    assert other.get(f"/api/v1/webhooks/{body['id']}/deliveries").status_code == 404
    assert other.delete(f"/api/v1/webhooks/{body['id']}").status_code == 404
    assert other.get("/api/v1/webhooks").json() == []

    bad = api.post("/api/v1/webhooks", {"url": "ftp://example.com/x"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "url"
    assert api.delete(f"/api/v1/webhooks/{body['id']}").status_code == 204
    assert api.get("/api/v1/webhooks").json() == []


@pytest.mark.worker
def test_a_failing_receiver_is_retried_with_backoff_by_the_worker(celery_worker_factory, receiver_factory, client):
    receiver = receiver_factory([500, 500, 200])
    worker = celery_worker_factory(extra_env={"FLOWDECK_WEBHOOK_BACKOFF_MS": "400",
                                              "FLOWDECK_WEBHOOK_ALLOW_PRIVATE": "true"})
    alice, bob = make_user("alice"), make_user("bob")
    _, endpoint = follow_with_webhook(receiver, user=bob, author=alice, channels=("webhook", "in_app"))
    publish(alice, version="2.0.0", changelog="Breaking.")

    got = receiver.wait_for(3, timeout=60)
    delivery = worker.wait_for(
        lambda: WebhookDelivery.objects.filter(endpoint=endpoint, status="succeeded").first(), what="the delivery"
    )
    assert all(r.verified for r in got)
    assert [r.headers["X-Flowdeck-Attempt"] for r in got] == ["1", "2", "3"]
    assert len({r.headers["X-Flowdeck-Delivery"] for r in got}) == 1  # one delivery id, for deduplication
    gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
    assert gaps[0] >= 0.4 and gaps[1] >= 0.8, gaps  # 0.4 s, then twice that
    assert [(a.number, a.status_code) for a in delivery.attempt_log.all()] == [(1, 500), (2, 500), (3, 200)]
    assert delivery.attempt_log.all()[0].error == "HTTP 500: try again"
    assert delivery.attempts == 3 and delivery.finished_at is not None

    # The attempts are visible in the API and on the webhook's page.
    client.force_login(bob)
    (listed,) = client.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries").json()
    assert listed["status"] == "succeeded"
    assert [(a["number"], a["status_code"], a["error"]) for a in listed["attempts"]] == [
        (1, 500, "HTTP 500: try again"), (2, 500, "HTTP 500: try again"), (3, 200, "")
    ]
    assert json.loads(got[0].body)["data"]["version"] == "2.0.0"
    page = client.get(f"/notifications/webhooks/{endpoint.pk}/").content.decode()
    assert page.count('<tr class="attempt">') == 3 and "HTTP 500: try again" in page
    assert client.get("/notifications/").content.decode().count("alice/demo 2.0.0 was published") == 1


@pytest.mark.django_db(transaction=True)
def test_retries_stop_after_the_last_attempt(eager_tasks, receiver_factory, settings):
    settings.FLOWDECK_WEBHOOK_MAX_ATTEMPTS = 3
    settings.FLOWDECK_WEBHOOK_BACKOFF_S = 0
    receiver = receiver_factory([503])
    alice, bob = make_user("alice"), make_user("bob")
    _, endpoint = follow_with_webhook(receiver, user=bob, author=alice)
    publish(alice, version="1.1.0")  # eager: the retries run at once, one after another
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == "failed" and delivery.attempts == 3
    assert [a.status_code for a in delivery.attempt_log.all()] == [503, 503, 503]
    assert len(receiver.received) == 3
    assert notify_new_version(version=delivery.notification.version) == 0  # and never re-sent


@pytest.mark.django_db
def test_a_message_redelivered_after_its_worker_died_makes_the_attempt_once(receiver_factory, settings,
                                                                             django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from notifications.services.webhooks import webhook_attempt

    settings.FLOWDECK_WEBHOOK_ALLOW_PRIVATE = True
    receiver = receiver_factory([200])
    alice, bob = make_user("alice"), make_user("bob")
    _, endpoint = follow_with_webhook(receiver, user=bob, author=alice)
    with django_capture_on_commit_callbacks():  # the tasks are not sent: this test plays the worker
        notify_new_version(version=publish(alice, version="1.1.0"))
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    # A worker claimed attempt 1, then died before it recorded anything.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=1, claimed_at=timezone.now())

    early = webhook_attempt(delivery_id=delivery.pk, number=1)  # the redelivered message, at once
    assert early.number == 0 and 0 < early.retry_in_s <= settings.FLOWDECK_WEBHOOK_TIMEOUT_S + 30
    assert receiver.received == []

    WebhookDelivery.objects.filter(pk=delivery.pk).update(claimed_at=timezone.now() - timedelta(minutes=5))
    made = webhook_attempt(delivery_id=delivery.pk, number=1)  # later: the claim is stale, take it over
    assert made.number == 1 and made.succeeded and len(receiver.wait_for(1)) == 1
    assert webhook_attempt(delivery_id=delivery.pk, number=1) is None  # a duplicate message: nothing
    assert [a.number for a in delivery.attempt_log.all()] == [1] and len(receiver.received) == 1


@pytest.mark.django_db(transaction=True)
def test_a_test_delivery_reaches_the_receiver_signed(eager_tasks, receiver_factory, auth_client, client):
    receiver = receiver_factory([200])
    bob = make_user("bob")
    created = auth_client(bob).post("/api/v1/webhooks", {"name": "ci", "url": receiver.url}, format="json").json()
    receiver.secret = created["secret"]
    pinged = auth_client(bob).post(f"/api/v1/webhooks/{created['id']}/ping")
    assert pinged.status_code == 202 and pinged.json()["event"] == "ping"
    (got,) = receiver.wait_for(1)
    assert got.verified["event"] == "ping" and got.headers["X-Flowdeck-Event"] == "ping"
    client.force_login(bob)
    assert client.post(f"/notifications/webhooks/{created['id']}/").status_code == 302  # the page's button
    receiver.wait_for(2)
    page = client.get(f"/notifications/webhooks/{created['id']}/").content.decode()
    assert page.count("Test delivery") >= 3  # the button and the two deliveries


@pytest.mark.django_db(transaction=True)
def test_the_sweep_sends_again_what_a_lost_message_left_pending(eager_tasks, receiver_factory):
    from datetime import timedelta

    from django.utils import timezone

    from notifications.services.webhooks import webhooks_sweep

    receiver = receiver_factory([200])
    alice, bob = make_user("alice"), make_user("bob")
    _, endpoint = follow_with_webhook(receiver, user=bob, author=alice)
    publish(alice, version="1.1.0")  # delivered at once (eager)
    done = WebhookDelivery.objects.get(endpoint=endpoint)
    assert done.status == "succeeded" and len(receiver.wait_for(1)) == 1
    # A second delivery whose message the broker lost, ten minutes ago.
    lost = WebhookDelivery.objects.create(endpoint=endpoint, notification=None, event="ping", payload={"event": "ping"},
                                          next_attempt_at=timezone.now() - timedelta(minutes=10))
    assert webhooks_sweep(overdue_s=300) == 1
    lost.refresh_from_db()
    assert lost.status == "succeeded" and lost.attempts == 1 and len(receiver.wait_for(2)) == 2
    assert webhooks_sweep(overdue_s=300) == 0  # nothing left pending
