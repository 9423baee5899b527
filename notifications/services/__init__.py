"""Notification services. Other apps call:

- ``notify_new_version(version=...)`` (through ``notify_new_version_task``, on publish);
- ``notify_run_finished(run_id=...)`` (through the ``run_finished`` signal's receiver);
- ``notify_quota_nearly_reached(team=..., quota=..., used=..., limit=...)`` from quota code.
"""
from .inbox import notifications_mark_read, notify_new_version
from .quota import notify_quota_nearly_reached, quota_is_nearly_reached
from .run_events import notify_run_finished

__all__ = [
    "notifications_mark_read",
    "notify_new_version",
    "notify_quota_nearly_reached",
    "notify_run_finished",
    "quota_is_nearly_reached",
]
