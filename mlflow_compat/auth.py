"""Who is calling: a Flowdeck token as a bearer token (``MLFLOW_TRACKING_TOKEN``), or basic
auth (``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``) whose password is a Flowdeck
token or the account's password.

Session cookies are never read here, which is why the API can be CSRF-exempt: a browser
cannot make a cross-site request carry these headers on its own.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from django.contrib.auth import authenticate
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest

from accounts.access import require_token_scope, token_is_run_scoped
from accounts.services import token_authenticate
from accounts.step_tokens import step_token_authenticate
from core.errors import Forbidden

from .errors import PERMISSION_DENIED, UNAUTHENTICATED, MlflowError


@dataclass(frozen=True)
class Caller:
    user: AbstractBaseUser
    token: object | None  # an ApiToken or a StepToken; None for a password login

    @property
    def run_scoped(self) -> bool:
        return token_is_run_scoped(self.token)


def _token(plaintext: str):
    return step_token_authenticate(plaintext) or token_authenticate(plaintext)


def _basic(encoded: str) -> Caller | None:
    try:
        username, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    token = _token(password)
    if token is not None:
        return Caller(token.user, token) if token.user.get_username() == username else None
    user = authenticate(username=username, password=password)
    return Caller(user, None) if user is not None and user.is_active else None


def caller_get(request: HttpRequest, *, write: bool) -> Caller:
    """The authenticated caller; MlflowError UNAUTHENTICATED (401) without valid credentials,
    PERMISSION_DENIED (403) for a token lacking the scope (``read``, or ``write`` to change)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    caller = None
    if scheme.lower() in ("bearer", "token") and value.strip():
        token = _token(value.strip())
        caller = Caller(token.user, token) if token is not None else None
    elif scheme.lower() == "basic" and value.strip():
        caller = _basic(value.strip())
    if caller is None:
        raise MlflowError(UNAUTHENTICATED, "Send a Flowdeck token as MLFLOW_TRACKING_TOKEN, or "
                                           "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD.")
    if caller.token is not None and not caller.run_scoped:
        try:
            require_token_scope(caller.token, "write" if write else "read")
        except Forbidden as exc:
            raise MlflowError(PERMISSION_DENIED, exc.message) from None
    return caller
