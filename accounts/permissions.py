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
        if token is None:
            return True
        if token_is_run_scoped(token):
            return bool(getattr(view, "allow_run_token", False))
        if request.method in SAFE_METHODS:
            needed = getattr(view, "read_scope", "read")
        else:
            needed = getattr(view, "required_scope", "write")
        if needed in token.scopes:
            return True
        self.message = f"This token lacks the '{needed}' scope this needs; use one that has it (`flowdeck login` makes a token with every scope)."
        return False
