"""Gallery cards show usage: the runs of the last 30 days."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from runs.models import Run
from tests.factories import make_spec, publish

pytestmark = pytest.mark.django_db


def test_cards_count_the_runs_of_the_last_30_days(client, user):
    busy = publish(user, spec=make_spec(name="busy"))
    publish(user, spec=make_spec(name="quiet"))
    for _ in range(2):
        Run.objects.create(namespace=user.personal_team, created_by=user, asset_version=busy)
    old = Run.objects.create(namespace=user.personal_team, created_by=user, asset_version=busy)
    Run.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    html = client.get("/", {"sort": "name"}).content.decode()
    busy_card = html[html.index("/w/alice/busy/"):html.index("/w/alice/quiet/")]
    assert '<span title="Runs in the last 30 days" class="usage">2 runs / 30 days</span>' in busy_card
    assert '<span title="Runs in the last 30 days" class="usage">0 runs / 30 days</span>' in html[html.index("/w/alice/quiet/"):]
