"""Saved comparisons (a short link to a set of runs and chart options) and the downsampled
series cache that keeps the compare page quick for 100 runs of 10,000 steps."""
from __future__ import annotations

from django.conf import settings
from django.db import models


class SavedComparison(models.Model):
    """A comparison someone saved, opened by its short ``slug`` (``/c/<slug>``).

    ``visibility`` is ``private`` (the owner only) or ``team`` (members of ``namespace``).
    The run ids are kept as chosen; whoever opens it sees only the runs they may see
    (``compare.selectors``), so sharing never widens what anyone can read."""

    class Visibility(models.TextChoices):
        PRIVATE = "private"
        TEAM = "team"

    slug = models.CharField(max_length=16, unique=True)
    title = models.CharField(max_length=200, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comparisons")
    namespace = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="comparisons")
    visibility = models.CharField(max_length=16, choices=Visibility.choices, default=Visibility.TEAM)
    run_ids = models.JSONField(default=list)
    options = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "-created_at"], name="comparison_by_owner")]

    def __str__(self) -> str:
        return f"comparison {self.slug}"


class SeriesSample(models.Model):
    """One metric series of one run, downsampled by ``runs.metric_selectors.metric_sampled``,
    kept as the JSON text the compare API sends.

    ``fingerprint`` is the key's summary (count, last step, last, min, max) when the sample
    was made: a series that grew or changed has another one, and is sampled again. A finished
    run's series never changes, so comparing it again reads one row instead of its points."""

    run = models.ForeignKey("runs.Run", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=250)
    max_points = models.PositiveIntegerField()
    fingerprint = models.CharField(max_length=200)
    data = models.TextField()  # {"step": [...], "value": [...], "timestamp": [...]}
    total = models.BigIntegerField()
    sampled = models.BooleanField()
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key", "max_points"], name="unique_series_sample")]
