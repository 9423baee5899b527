"""The unread badge in the top bar: one COUNT query per page, only for signed-in users."""
from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .selectors import unread_count


def unread(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"unread_notifications": 0}
    # Lazy: pages that never render the badge (fragments) pay nothing.
    return {"unread_notifications": SimpleLazyObject(lambda: unread_count(user=user))}
