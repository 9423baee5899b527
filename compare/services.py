"""Writes for comparisons: saving a view under a short random slug, deleting it, and pruning
the kept series samples."""
from __future__ import annotations

import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.access import can_change_comparison, require_member
from accounts.models import Team
from core.errors import Forbidden, InvalidInput

from .models import SavedComparison, SeriesSample
from .options import CompareOptions
from .selectors import compare_runs

SLUG_ALPHABET = "23456789abcdefghijkmnpqrstuvwxyz"  # no 0/o or 1/l: read aloud and typed safely
SLUG_LENGTH = 8  # 32**8, about 10**12: not guessable by walking


def _slug() -> str:
    return "".join(secrets.choice(SLUG_ALPHABET) for _ in range(SLUG_LENGTH))


def comparison_save(*, user: AbstractBaseUser, options: CompareOptions, title: str = "",
                    namespace: str | None = None, visibility: str = SavedComparison.Visibility.TEAM) -> SavedComparison:
    """Save ``options`` (its runs and chart options) as a view with a short link.

    Only runs the user may see are kept (the others are dropped, as the compare page drops
    them). ``namespace`` is the team the view is shared with (a team the user is a member
    of; default their personal namespace); ``visibility`` ``team`` shares it with that
    team's members, ``private`` keeps it to the user."""
    if visibility not in SavedComparison.Visibility.values:
        raise InvalidInput(f"visibility must be one of {', '.join(SavedComparison.Visibility.values)}.",
                           field="visibility")
    title = (title or "").strip()
    if len(title) > 200:
        raise InvalidInput("title is at most 200 characters.", field="title")
    if namespace:
        team = Team.objects.filter(slug=namespace).first()
        require_member(user, team, slug=namespace, what="share a comparison with")
    else:
        team = Team.objects.get(personal_of=user)
    run_ids = [r.pk for r in compare_runs(user=user, run_ids=options.runs)]
    if len(run_ids) < 2:
        raise InvalidInput("Choose at least 2 runs you can see to save a comparison.", field="runs")
    for _ in range(5):  # a collision is one in 10**12; try again rather than fail
        try:
            with transaction.atomic():
                return SavedComparison.objects.create(slug=_slug(), title=title, owner=user, namespace=team,
                                                      visibility=visibility, run_ids=run_ids, options=options.saved())
        except IntegrityError:
            continue
    raise RuntimeError("could not find a free comparison slug")


def comparison_delete(*, user: AbstractBaseUser, comparison: SavedComparison) -> None:
    if not can_change_comparison(user, comparison):
        raise Forbidden("Only the comparison's owner may delete it.")
    comparison.delete()


def series_samples_prune(*, older_than_s: int) -> int:
    """Delete kept series samples made more than ``older_than_s`` ago (a comparison opened
    again samples them afresh), so the cache holds what people compare now, not everything
    ever compared. Returns how many were deleted."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    deleted, _ = SeriesSample.objects.filter(created_at__lt=cutoff).delete()
    return deleted
