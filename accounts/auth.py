from rest_framework import authentication, exceptions

from .services import token_authenticate
from .step_tokens import step_token_authenticate


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer fdk_...`` (``request.auth`` is the ApiToken) or a step
    subprocess's ``fds_...`` (``request.auth`` is a StepToken)."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() not in ("bearer", "token"):
            return None
        token = step_token_authenticate(parts[1]) or token_authenticate(parts[1])
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return token.user, token

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) to unauthenticated requests.
        return 'Bearer realm="flowdeck"'
