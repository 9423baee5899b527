"""When a tracked run ends, a real worker makes its chart samples, so the first comparison
that includes it reads them instead of the run's points."""
from __future__ import annotations

import time

import pytest

from compare.models import SeriesSample
from compare.series import TIERS
from tests.compare.tracked import track

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_ending_a_run_makes_its_samples_in_the_background(celery_worker, client):
    run_id = track(client, "ends", params={"lr": 0.1}, metrics={"loss": [1.0, 0.5, 0.25], "accuracy": [0.1, 0.9]})
    wanted = {(key, points) for key in ("loss", "accuracy") for _most, points in TIERS}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        made = set(SeriesSample.objects.filter(run_id=run_id).values_list("key", "max_points"))
        if made == wanted:
            break
        time.sleep(0.2)
    assert made == wanted
