"""gallery_search: full-text search on PostgreSQL, substring search on SQLite, tags, sorts, counts."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Team
from gallery.selectors import gallery_search
from gallery.services import star_set, subscription_set
from runs.models import Run
from tests.factories import make_spec, make_user, publish

pytestmark = pytest.mark.django_db

URL = "/api/v1/workflows"


def full_names(assets) -> list[str]:
    return [a.full_name for a in assets]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text ranking needs PostgreSQL")
def test_it_ranks_a_name_match_above_a_readme_match_on_postgresql(user):
    publish(user, spec=make_spec(name="notes", description="Keeps notes"), readme="Trains a forecasting model.")
    publish(user, spec=make_spec(name="forecasting", description="Daily sales"))
    publish(user, spec=make_spec(name="pricing", description="Forecasting prices", ), tags=["retail"])
    publish(user, spec=make_spec(name="unrelated", description="Nothing here"))

    found = full_names(gallery_search(user=user, q="forecasting"))
    assert found == ["alice/forecasting", "alice/pricing", "alice/notes"]
    # websearch syntax: a quoted phrase and an exclusion
    assert full_names(gallery_search(user=user, q='forecasting -prices')) == ["alice/forecasting", "alice/notes"]
    # stemming: "forecast" finds "forecasting"
    assert "alice/forecasting" in full_names(gallery_search(user=user, q="forecast"))


def test_it_falls_back_to_substring_search_without_postgresql(user):
    publish(user, spec=make_spec(name="churn-train", description="Predicts churn"))
    publish(user, spec=make_spec(name="vision", description="Images"), readme="Uses a CHURN signal.")
    publish(user, spec=make_spec(name="other", description="Nothing"))
    assert sorted(full_names(gallery_search(user=user, q="churn"))) == ["alice/churn-train", "alice/vision"]


def test_it_filters_by_whole_tag_on_every_database(user, api_client):
    publish(user, spec=make_spec(name="a"), tags=["ml", "tabular"])
    publish(user, spec=make_spec(name="b"), tags=["html"])  # "ml" is a substring of "html"
    publish(user, spec=make_spec(name="c"), tags=["ML-ops"])
    response = api_client.get(URL, {"tag": "ML"})
    assert [a["full_name"] for a in response.json()["results"]] == ["alice/a"]
    assert full_names(gallery_search(user=user, tag="ml-ops")) == ["alice/c"]


def test_it_filters_by_namespace_and_by_my_subscriptions(user, other_user):
    mine = publish(user, spec=make_spec(name="mine"))
    publish(other_user, spec=make_spec(name="theirs"))
    subscription_set(user=other_user, asset=mine.asset)
    assert full_names(gallery_search(user=user, namespace="bob")) == ["bob/theirs"]
    assert full_names(gallery_search(user=other_user, subscribed=True)) == ["alice/mine"]
    assert full_names(gallery_search(user=user, subscribed=True)) == []


def test_it_sorts_by_subscribers_stars_name_and_update(user, other_user, api_client):
    a = publish(user, spec=make_spec(name="a-first"))
    b = publish(user, spec=make_spec(name="b-second"))
    c = publish(user, spec=make_spec(name="c-third"))
    carol = make_user("carol")
    for reader in (other_user, carol):
        subscription_set(user=reader, asset=b.asset)
    subscription_set(user=carol, asset=c.asset)
    for reader in (user, other_user, carol):
        star_set(user=reader, asset=c.asset)
    star_set(user=user, asset=a.asset)
    publish(user, spec=make_spec(name="a-first"), version="1.0.1")  # now the most recently updated

    def order(sort: str) -> list[str]:
        return [x["name"] for x in api_client.get(URL, {"sort": sort}).json()["results"]]

    assert order("subscribers") == ["b-second", "c-third", "a-first"]
    assert order("stars") == ["c-third", "a-first", "b-second"]
    assert order("name") == ["a-first", "b-second", "c-third"]
    assert order("updated")[0] == "a-first"
    first = api_client.get(URL, {"sort": "stars"}).json()["results"][0]
    assert (first["stars"], first["subscribers"]) == (3, 1)


def test_it_counts_runs_of_the_last_30_days_per_workflow(user, django_assert_max_num_queries):
    one = publish(user, spec=make_spec(name="one"))
    two = publish(user, spec=make_spec(name="two"))
    newer = publish(user, spec=make_spec(name="one"), version="1.1.0")
    team = Team.objects.get(slug="alice")
    for version in (one, newer, newer, two):
        Run.objects.create(namespace=team, created_by=user, asset_version=version)
    old = Run.objects.create(namespace=team, created_by=user, asset_version=two)
    Run.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))

    with django_assert_max_num_queries(2):
        counts = {a.name: a.n_runs_30d for a in gallery_search(user=user, sort="name")}
    assert counts == {"one": 3, "two": 1}
