"""Template helpers for account-aware forms."""
from django import template

from accounts.access import writable_teams

register = template.Library()


@register.simple_tag
def run_namespaces(user) -> list:
    """The namespaces ``user`` may start runs in (their own and teams they edit)."""
    return writable_teams(user) if user.is_authenticated else []
