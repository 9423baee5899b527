from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"

    def ready(self) -> None:
        from .services import subruns  # noqa: F401  (connects its run_finished receiver)
