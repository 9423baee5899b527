"""Stars: PUT/DELETE /api/v1/workflows/<ns>/<name>/star, idempotent; counts on cards and the page."""
from __future__ import annotations

import pytest

from tests.factories import assert_error, publish

pytestmark = pytest.mark.django_db


def url(ref: str) -> str:
    return f"/api/v1/workflows/{ref}/star"


def test_it_stars_idempotently_and_counts(user, other_user, auth_client):
    publish(user)
    alice, bob = auth_client(user), auth_client(other_user)
    assert alice.put(url("alice/demo")).json() == {"asset": "alice/demo", "starred": True, "stars": 1}
    assert alice.put(url("alice/demo")).json()["stars"] == 1
    assert bob.put(url("alice/demo")).json()["stars"] == 2
    card = alice.get("/api/v1/workflows").json()["results"][0]
    assert card["stars"] == 2
    assert alice.delete(url("alice/demo")).json() == {"asset": "alice/demo", "starred": False, "stars": 1}
    assert alice.delete(url("alice/demo")).json()["stars"] == 1


def test_it_cannot_star_a_private_workflow_of_another_user(user, other_user, auth_client, api_client):
    publish(user, visibility="private")
    assert_error(auth_client(other_user).put(url("alice/demo")), 404)
    assert api_client.put(url("alice/demo")).status_code in (401, 403)


def test_the_page_stars_with_a_csrf_protected_post(user, other_user, client):
    publish(user)
    client.force_login(other_user)
    page = client.get("/w/alice/demo/")
    assert 'class="star-count">0<' in page.content.decode()
    client.post("/w/alice/demo/star", {"action": "star"})
    assert 'class="star-count">1<' in client.get("/w/alice/demo/").content.decode()
    assert "★ 1" in client.get("/").content.decode()
    client.post("/w/alice/demo/star", {"action": "unstar"})
    assert 'class="star-count">0<' in client.get("/w/alice/demo/").content.decode()


def test_the_star_form_refuses_a_post_without_csrf(user, other_user):
    from django.test import Client

    publish(user)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(other_user)
    assert strict.post("/w/alice/demo/star", {"action": "star"}).status_code == 403


def test_the_gallery_page_filters_by_namespace_and_subscription(user, other_user, client):
    from gallery.services import subscription_set

    mine = publish(user)
    publish(other_user)
    subscription_set(user=other_user, asset=mine.asset)
    client.force_login(other_user)
    page = client.get("/", {"namespace": "bob"}).content.decode()
    assert "/w/bob/demo/" in page and "/w/alice/demo/" not in page
    page = client.get("/", {"subscribed": "1", "sort": "stars"}).content.decode()
    assert "/w/alice/demo/" in page and "/w/bob/demo/" not in page
