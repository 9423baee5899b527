"""The gallery index, subscriptions and the workspace page."""
from __future__ import annotations

from django.urls import reverse

from gallery.models import Subscription
from tests.factories import make_spec, publish


def test_it_lists_public_workflows_to_anonymous_users(client, workflow):
    response = client.get(reverse("gallery:index"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "alice/</span>demo" in html
    assert "v1.0.0" in html
    assert "0 subscribers" in html
    assert reverse("registry:workflow", args=["alice", "demo"]) in html


def test_it_hides_another_users_private_workflow(client, user, other_user, workflow):
    publish(other_user, spec=make_spec(name="secret-sauce"), visibility="private")
    client.force_login(user)
    html = client.get(reverse("gallery:index")).content.decode()
    assert "demo" in html
    assert "secret-sauce" not in html
    client.force_login(other_user)
    assert "secret-sauce" in client.get(reverse("gallery:index")).content.decode()


def test_it_searches_filters_by_tag_and_counts_subscribers(client, user, other_user, workflow):
    publish(user, spec=make_spec(name="other-flow", description="Something else"), tags=["etl"])
    Subscription.objects.create(user=other_user, asset=workflow.asset)

    html = client.get(reverse("gallery:index"), {"q": "something"}).content.decode()
    assert "other-flow" in html and "/w/alice/demo/" not in html

    html = client.get(reverse("gallery:index"), {"tag": "ML"}).content.decode()
    assert "/w/alice/demo/" in html and "other-flow" not in html

    html = client.get(reverse("gallery:index"), {"sort": "subscribers"}).content.decode()
    assert html.index("/w/alice/demo/") < html.index("/w/alice/other-flow/")
    assert "1 subscriber<" in html


def test_it_ignores_a_bad_sort_and_a_bad_page(client, workflow):
    response = client.get(reverse("gallery:index"), {"sort": "nope", "page": "abc"})
    assert response.status_code == 200
    assert "/w/alice/demo/" in response.content.decode()


def test_subscribe_and_unsubscribe_round_trip(bob_client, other_user, workflow):
    url = reverse("registry:workflow", args=["alice", "demo"])
    response = bob_client.post(reverse("gallery:subscribe", args=["alice", "demo"]))
    assert response.status_code == 302 and response["Location"] == url
    sub = Subscription.objects.get(user=other_user, asset=workflow.asset)
    assert sub.pinned_version is None

    page = bob_client.get(url).content.decode()
    assert "Subscribed to alice/demo" in page
    assert "Unsubscribe" in page and "1 subscriber" in page

    response = bob_client.post(reverse("gallery:unsubscribe", args=["alice", "demo"]))
    assert response.status_code == 302
    assert not Subscription.objects.filter(user=other_user).exists()


def test_subscribe_needs_login_and_post(client, workflow):
    response = client.post(reverse("gallery:subscribe", args=["alice", "demo"]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert not Subscription.objects.exists()
    client.force_login(workflow.asset.created_by)
    assert client.get(reverse("gallery:subscribe", args=["alice", "demo"])).status_code == 405


def test_subscribe_to_an_invisible_workflow_is_404(bob_client, user):
    publish(user, spec=make_spec(name="hidden"), visibility="private")
    response = bob_client.post(reverse("gallery:subscribe", args=["alice", "hidden"]))
    assert response.status_code == 404
    assert not Subscription.objects.exists()


def test_workspace_shows_subscriptions_updates_and_own_runs(bob_client, user, other_user, workflow):
    from gallery.services import subscription_set
    from runs.services.lifecycle import run_start

    subscription_set(user=other_user, asset=workflow.asset, pin="1.0.0")
    publish(user, spec=workflow.spec, version="1.1.0")
    run = run_start(user=other_user, version=workflow, params={"n": 4}, name="bobs-run")

    response = bob_client.get(reverse("workspace"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "alice/demo" in html
    assert "pinned to" in html and "v1.0.0" in html and "v1.1.0" in html
    assert "update available" in html
    assert reverse("runs:detail", args=[run.pk]) in html and "bobs-run" in html


def test_workspace_needs_login(client, db):
    response = client.get(reverse("workspace"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
