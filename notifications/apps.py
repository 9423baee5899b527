from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self) -> None:
        from runs.signals import run_finished

        from .receivers import on_run_finished

        # run_finished is sent on commit, once per run, by the run-finish path in
        # runs/services/lifecycle.py; dispatch_uid keeps one connection per process.
        run_finished.connect(on_run_finished, dispatch_uid="notifications.on_run_finished")
