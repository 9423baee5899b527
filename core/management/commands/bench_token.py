"""`manage.py bench_token`: print a fresh API token for the benchmark user (created if missing).

Used by bench/*.py to authenticate the SDK against a server it started; never in production.
"""
from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from accounts.services import token_create, user_create


class Command(BaseCommand):
    help = "Print a new API token for the benchmark user (created with a random password if missing)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="bench")

    def handle(self, *args, username: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            user = user_create(username=username, password=secrets.token_urlsafe(24), validate=False)
        _token, plaintext = token_create(user=user, name="bench")
        self.stdout.write(plaintext)
