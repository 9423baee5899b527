from rest_framework import authentication, exceptions

from .services import token_authenticate
from .step_tokens import step_token_authenticate


def bearer_plaintext(header: str) -> str | None:
    """The token in an ``Authorization: Bearer <token>`` (or ``Token <token>``) header."""
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() not in ("bearer", "token"):
        return None
    return parts[1]


def bearer_authenticate(plaintext: str):
    """The StepToken or ApiToken a bearer token stands for, or None if it is unknown,
    expired or revoked. Every bearer-authenticated request comes here."""
    return step_token_authenticate(plaintext) or token_authenticate(plaintext)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer fdk_...`` (``request.auth`` is the ApiToken) or a step
    subprocess's ``fds_...`` (``request.auth`` is a StepToken)."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        plaintext = bearer_plaintext(header)
        if plaintext is None:
            return None
        token = bearer_authenticate(plaintext)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return token.user, token

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) to unauthenticated requests.
        return 'Bearer realm="flowdeck"'
