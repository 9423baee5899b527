"""A small limiter on Django's cache for the login and token endpoints.

Two counters per window: failed attempts per (client address, username), which stops
password guessing against one account, and all attempts per address, which stops one
client spraying many accounts. Use a shared cache (FLOWDECK_CACHE_URL, e.g. Redis) when
several web processes serve; the default in-process cache counts per process.
"""
from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache

from core.errors import RateLimited


def _key(kind: str, *parts: str) -> tuple[str, int]:
    window = settings.FLOWDECK_AUTH_RATE_WINDOW_S
    bucket = int(time.time() // window)
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]  # no usernames in cache keys
    return f"flowdeck:rl:{kind}:{digest}:{bucket}", window - int(time.time() % window)


def _count(key: str) -> int:
    return int(cache.get(key) or 0)


def _bump(key: str, ttl: int) -> None:
    if not cache.add(key, 1, ttl + 1):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, ttl + 1)


def auth_throttle(*, ip: str | None, username: str, endpoint: str) -> None:
    """Count an attempt; RateLimited (429) when this address or this account is over its limit."""
    ip = ip or "-"
    per_ip, ttl = _key(f"{endpoint}:ip", ip)
    failures, _ = _key(f"{endpoint}:fail", ip, (username or "").lower())
    if _count(per_ip) >= settings.FLOWDECK_AUTH_RATE_PER_IP or _count(failures) >= settings.FLOWDECK_AUTH_FAILURES_MAX:
        raise RateLimited(f"Too many attempts; try again in {ttl} seconds.", retry_after=ttl)
    _bump(per_ip, ttl)


def auth_failed(*, ip: str | None, username: str, endpoint: str) -> None:
    """Count a failed attempt against (address, username)."""
    key, ttl = _key(f"{endpoint}:fail", ip or "-", (username or "").lower())
    _bump(key, ttl)
