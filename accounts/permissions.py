"""DRF permission classes: thin adapters over accounts.access."""
from rest_framework.permissions import SAFE_METHODS, BasePermission

from .access import token_is_run_scoped


class TokenScopes(BasePermission):
    """Run-scoped tokens reach only views marked ``allow_run_token``; other tokens need the
    view's ``read_scope`` (default ``read``) for reads and its ``required_scope`` (default
    ``write``) for writes."""

    message = "This token may not be used here."

    def has_permission(self, request, view) -> bool:
        token = request.auth if hasattr(request.auth, "scopes") else None
        refusal = token_refusal(token, view, safe=request.method in SAFE_METHODS)
        if refusal:
            self.message = refusal
        return refusal is None


def token_refusal(token, view, *, safe: bool) -> str | None:
    """Why ``token`` may not call ``view`` (a view class or instance, read for its
    ``allow_run_token``, ``read_scope`` and ``required_scope``), or None if it may.
    ``safe``: the request only reads. No token (a session) is never refused here."""
    if token is None:
        return None
    if token_is_run_scoped(token):
        return None if getattr(view, "allow_run_token", False) else TokenScopes.message
    needed = getattr(view, "read_scope", "read") if safe else getattr(view, "required_scope", "write")
    if needed in token.scopes:
        return None
    return (f"This token lacks the '{needed}' scope this needs; use one that has it "
            "(`flowdeck login` makes a token with every scope).")
