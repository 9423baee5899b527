"""Links in emails and webhook payloads point at the server's public address."""
from __future__ import annotations

from django.conf import settings


def absolute_url(path: str) -> str:
    if path.startswith(("http://", "https://")):
        return path
    return settings.FLOWDECK_PUBLIC_URL.rstrip("/") + "/" + path.lstrip("/")
