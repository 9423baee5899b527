from django.apps import AppConfig


class CompareConfig(AppConfig):
    name = "compare"
    verbose_name = "Run comparison"

    def ready(self) -> None:
        from runs.signals import run_finished

        from .receivers import on_run_finished

        run_finished.connect(on_run_finished, dispatch_uid="compare.on_run_finished")
