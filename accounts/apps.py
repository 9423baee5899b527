from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from runs.signals import run_finished

        from . import schema  # noqa: F401  (registers the bearer token scheme with drf-spectacular)
        from .services.quotas import on_run_finished

        # A run's end may free a slot for a run waiting for its team's quota.
        run_finished.connect(on_run_finished, dispatch_uid="accounts.quota_release")
