from django.conf import settings
from django.http import HttpRequest


def signup(request: HttpRequest) -> dict:
    """Whether the top bar offers "Sign up" (FLOWDECK_SIGNUP_ENABLED)."""
    return {"signup_enabled": settings.FLOWDECK_SIGNUP_ENABLED}
