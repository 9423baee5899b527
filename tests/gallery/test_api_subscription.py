"""PUT/GET/DELETE /api/v1/workflows/<ns>/<name>/subscription."""
from __future__ import annotations

import pytest

from gallery.models import Subscription
from tests.factories import assert_error, make_spec, publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob(other_user, auth_client):
    return auth_client(other_user)


@pytest.fixture
def demo(user):
    return publish(user, version="1.0.0").asset


URL = "/api/v1/workflows/alice/demo/subscription"


def test_it_subscribes_idempotently(bob, other_user, demo):
    first = bob.put(URL, {}, format="json")
    assert first.status_code == 200
    assert first.json() == {"asset": "alice/demo", "subscribed": True, "pinned_version": None}
    second = bob.put(URL, {}, format="json")
    assert second.status_code == 200
    assert Subscription.objects.filter(user=other_user, asset=demo).count() == 1
    assert bob.get(URL).json()["subscribed"] is True


def test_it_unsubscribes(bob, other_user, demo):
    bob.put(URL, {}, format="json")
    response = bob.delete(URL)
    assert response.status_code == 200
    assert response.json()["subscribed"] is False
    assert not Subscription.objects.filter(user=other_user).exists()
    assert bob.get(URL).json()["subscribed"] is False
    assert bob.delete(URL).status_code == 200  # unsubscribing twice is fine


def test_it_pins_and_unpins_a_version(bob, user, other_user, demo):
    publish(user, version="1.1.0")
    assert bob.put(URL, {"pin": "1.0.0"}, format="json").json()["pinned_version"] == "1.0.0"
    assert bob.put(URL, {}, format="json").json()["pinned_version"] is None
    assert Subscription.objects.filter(user=other_user).count() == 1


def test_it_refuses_to_pin_a_missing_version(bob, demo):
    assert_error(bob.put(URL, {"pin": "9.9.9"}, format="json"), 404, "not_found", "version")
    assert not Subscription.objects.exists()


def test_it_hides_invisible_workflows(bob, user):
    publish(user, spec=make_spec(name="secret"), visibility="private")
    url = "/api/v1/workflows/alice/secret/subscription"
    assert_error(bob.put(url, {}, format="json"), 404, "not_found")
    assert_error(bob.get(url), 404, "not_found")
    assert_error(bob.delete(url), 404, "not_found")
    assert not Subscription.objects.exists()


def test_it_needs_a_signed_in_user(api_client, demo):
    assert_error(api_client.put(URL, {}, format="json"), 401, "not_authenticated")
