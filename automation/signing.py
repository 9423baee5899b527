"""Trigger secrets and webhook signatures.

A secret is derived from DJANGO_SECRET_KEY and a random per-trigger salt, the way Django
derives its password-reset tokens, so the database holds neither the secret nor anything
that could sign a request: only the salt and the secret's SHA-256. The caller proves it
has the secret either by sending it (``X-Flowdeck-Secret``) or by signing the raw body
with it (``X-Flowdeck-Signature: sha256=<hex HMAC-SHA256>``, as GitHub's webhooks do).
Changing DJANGO_SECRET_KEY invalidates every trigger secret.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from django.utils.crypto import constant_time_compare, salted_hmac

SECRET_HEADER = "X-Flowdeck-Secret"
SIGNATURE_HEADER = "X-Flowdeck-Signature"
SECRET_PREFIX = "fdh_"
_KEY_SALT = "flowdeck.automation.trigger-secret"


def new_salt() -> str:
    return secrets.token_hex(16)


def new_key() -> str:
    """The public, unguessable part of a trigger's URL."""
    return secrets.token_urlsafe(12)


def secret_for(salt: str) -> str:
    return SECRET_PREFIX + salted_hmac(_KEY_SALT, salt, algorithm="sha256").hexdigest()


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def body_signature(secret: str, body: bytes) -> str:
    """The value of the signature header for ``body``: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_secret(sent: str, stored_hash: str) -> bool:
    return constant_time_compare(secret_hash(sent), stored_hash)


def check_signature(sent: str, salt: str, body: bytes) -> bool:
    return constant_time_compare(sent.strip().lower(), body_signature(secret_for(salt), body))
