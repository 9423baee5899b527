"""GET /api/v1/workflows: search the gallery, never past what the reader may see."""
from __future__ import annotations

import pytest

from tests.factories import make_spec, make_user, publish

pytestmark = pytest.mark.django_db

URL = "/api/v1/workflows"


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return sorted(a["full_name"] for a in response.json()["results"])


@pytest.fixture
def catalogue(user, other_user):
    publish(user, spec=make_spec(name="churn", description="Predict churn"), visibility="public", tags=["tabular"])
    publish(user, spec=make_spec(name="secret", description="Predict churn quietly"), visibility="private", tags=["tabular"])
    publish(other_user, spec=make_spec(name="vision", description="Classify images"), visibility="public", tags=["cv"])
    publish(other_user, spec=make_spec(name="bobs-draft"), visibility="private")


def test_it_never_lists_another_users_private_workflow(user, other_user, auth_client, api_client, catalogue):
    assert names(auth_client(other_user).get(URL)) == ["alice/churn", "bob/bobs-draft", "bob/vision"]
    assert names(auth_client(user).get(URL)) == ["alice/churn", "alice/secret", "bob/vision"]
    assert names(api_client.get(URL)) == ["alice/churn", "bob/vision"]
    carol = make_user("carol")
    assert names(auth_client(carol).get(URL)) == ["alice/churn", "bob/vision"]


def test_it_never_leaks_a_private_workflow_through_search(other_user, auth_client, catalogue):
    bob = auth_client(other_user)
    assert names(bob.get(URL, {"q": "churn"})) == ["alice/churn"]
    assert names(bob.get(URL, {"q": "secret"})) == []
    assert names(bob.get(URL, {"namespace": "alice"})) == ["alice/churn"]
    assert names(bob.get(URL, {"tag": "tabular"})) == ["alice/churn"]


def test_it_filters_by_tag_and_namespace(api_client, catalogue):
    assert names(api_client.get(URL, {"tag": "cv"})) == ["bob/vision"]
    assert names(api_client.get(URL, {"namespace": "bob"})) == ["bob/vision"]
    assert names(api_client.get(URL, {"q": "images"})) == ["bob/vision"]


def test_it_paginates(api_client, catalogue):
    body = api_client.get(URL, {"limit": 1, "sort": "name"}).json()
    assert body["count"] == 2
    assert [a["full_name"] for a in body["results"]] == ["alice/churn"]
    assert body["next"]


def test_it_lists_only_my_subscriptions_on_request(other_user, auth_client, catalogue):
    bob = auth_client(other_user)
    assert bob.put("/api/v1/workflows/alice/churn/subscription", {}, format="json").status_code == 200
    assert names(bob.get(URL, {"subscribed": "true"})) == ["alice/churn"]
