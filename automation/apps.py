from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "automation"

    def ready(self) -> None:
        from runs.signals import run_finished

        from .receivers import on_run_finished

        # A weak reference would do for a module-level function; dispatch_uid keeps one
        # connection however often ready() runs (tests reload apps).
        run_finished.connect(on_run_finished, dispatch_uid="automation.on_run_finished")
