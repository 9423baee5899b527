"""A quota nearly reached tells the team's admins, once a day per quota."""
from __future__ import annotations

import pytest

from accounts.models import Membership
from accounts.services import team_create
from notifications.models import Notification
from notifications.services import notify_quota_nearly_reached, quota_is_nearly_reached
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_the_admins_are_told_once_and_viewers_not(eager_tasks, django_capture_on_commit_callbacks, settings):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    team = team_create(slug="ml", owner=alice)
    Membership.objects.create(team=team, user=bob, role=Membership.Role.ADMIN)
    Membership.objects.create(team=team, user=carol, role=Membership.Role.EDITOR)

    with django_capture_on_commit_callbacks(execute=True) as queued:
        notify_quota_nearly_reached(team=team, quota="storage_bytes", used=7 * 2**30, limit=10 * 2**30)  # 70%: quiet
    assert queued == [] and not Notification.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        notify_quota_nearly_reached(team=team, quota="storage_bytes", used=9 * 2**30, limit=10 * 2**30)
        notify_quota_nearly_reached(team=team, quota="storage_bytes", used=9.5 * 2**30, limit=10 * 2**30)
    notes = Notification.objects.order_by("user__username")
    assert [n.user.username for n in notes] == ["alice", "bob"]
    assert notes[0].kind == "quota_nearly_reached"
    assert notes[0].title == "ml: storage bytes at 90% of its quota"
    assert notes[0].body.startswith("9.0 GB used of 10.0 GB.")

    with django_capture_on_commit_callbacks(execute=True):
        notify_quota_nearly_reached(team=team, quota="concurrent_runs", used=5, limit=5)
    assert Notification.objects.get(user=alice, kind="quota_nearly_reached", title__contains="concurrent").body \
        .startswith("5 used of 5.")

    settings.FLOWDECK_QUOTA_WARN_RATIO = 0.5
    assert quota_is_nearly_reached(used=5, limit=10) and not quota_is_nearly_reached(used=5, limit=None)


def test_the_quota_code_tells_admins_as_runs_and_uploads_near_the_limits(eager_tasks, django_capture_on_commit_callbacks):
    """Wired end to end: the concurrent-run check at run start and the storage check at upload."""
    from accounts.services import quota_set
    from accounts.services.quotas import quota_storage_check
    from runs.services.lifecycle import run_start
    from tests.factories import publish

    alice, carol = make_user("alice"), make_user("carol")
    team = team_create(slug="ml", owner=alice)
    Membership.objects.create(team=team, user=carol, role=Membership.Role.EDITOR)
    version = publish(alice, namespace="ml")
    quota_set(actor=alice, team=team, max_concurrent_runs=5, max_storage_bytes=version.bundle_size + 1000)

    for _ in range(3):  # never committed, so never dispatched: three runs that stay in flight
        run_start(user=alice, version=version, namespace=team)
    assert not Notification.objects.filter(kind="quota_nearly_reached").exists()
    with django_capture_on_commit_callbacks(execute=True):
        run_start(user=alice, version=version, namespace=team)  # the 4th of 5 at once: 80%
    note = Notification.objects.get(kind="quota_nearly_reached")
    assert (note.user, note.title) == (alice, "ml: concurrent runs at 80% of its quota")

    with django_capture_on_commit_callbacks(execute=True):
        quota_storage_check(team=team, adding=900)  # bundle + 900 of bundle + 1000
    storage_note = Notification.objects.get(kind="quota_nearly_reached", title__contains="storage")
    assert storage_note.user == alice and storage_note.title.startswith("ml: storage bytes at 9")
    assert not Notification.objects.filter(user=carol).exists()
