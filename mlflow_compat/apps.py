from django.apps import AppConfig


class MlflowCompatConfig(AppConfig):
    """The MLflow REST API over Flowdeck's own tracking (``/mlflow/...``)."""

    name = "mlflow_compat"
    label = "mlflow_compat"
