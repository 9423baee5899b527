"""``manage.py bundles_cleanup``: delete stored bundles that no version refers to."""
from django.core.management.base import BaseCommand

from registry.services import bundles_cleanup


class Command(BaseCommand):
    help = "Delete stored code bundles that no published version refers to and that are older than a threshold."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--older-than", type=int, default=3600, metavar="SECONDS",
                            help="only bundles stored at least this long ago (default 3600: a publish in "
                                 "progress stores its bundle before its version exists)")

    def handle(self, *args, older_than: int, **options) -> None:
        deleted = bundles_cleanup(older_than_s=older_than)
        self.stdout.write(f"Deleted {deleted} orphaned bundle{'s' if deleted != 1 else ''}.")
