"""What MLflow has and Flowdeck's tracking does not: an experiment's lifecycle and tags, a run's
soft delete and dataset inputs, logged models, and the model registry. Experiments, runs,
params, tags and metrics themselves are Flowdeck's own rows (runs/models.py)."""
from django.conf import settings
from django.db import models


class ExperimentState(models.Model):
    """MLflow's view of a Flowdeck experiment: deleted or active, and when it last changed."""

    experiment = models.OneToOneField("runs.Experiment", on_delete=models.CASCADE, primary_key=True,
                                      related_name="mlflow_state")
    deleted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class ExperimentTag(models.Model):
    experiment = models.ForeignKey("runs.Experiment", on_delete=models.CASCADE, related_name="mlflow_tags")
    key = models.CharField(max_length=250)
    value = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["experiment", "key"], name="unique_mlflow_experiment_tag")]
        ordering = ["key"]


class RunDeletion(models.Model):
    """A run deleted through MLflow's delete-run: hidden from MLflow's searches until restored
    (MLflow's delete is a soft one). Flowdeck's own delete removes the run for good."""

    run = models.OneToOneField("runs.Run", on_delete=models.CASCADE, primary_key=True, related_name="mlflow_deletion")
    deleted_at = models.DateTimeField(auto_now_add=True)


class RunDatasetInput(models.Model):
    """A dataset a run read, as MLflow's log-inputs records it."""

    run = models.ForeignKey("runs.Run", on_delete=models.CASCADE, related_name="mlflow_inputs")
    name = models.CharField(max_length=500)
    digest = models.CharField(max_length=36)
    source_type = models.CharField(max_length=36)
    source = models.TextField()
    schema = models.TextField(blank=True)
    profile = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "name", "digest"], name="unique_mlflow_run_dataset")]
        ordering = ["pk"]


class LoggedModel(models.Model):
    """An MLflow 3 logged model (``mlflow.<flavor>.log_model``): its files live in Flowdeck's
    storage under ``mlflow/models/<id>/artifacts/``."""

    id = models.CharField(max_length=40, primary_key=True)  # "m-<32 hex>", as MLflow makes them
    experiment = models.ForeignKey("runs.Experiment", on_delete=models.CASCADE, related_name="mlflow_models")
    source_run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="mlflow_models")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=500)
    model_type = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=40, default="LOGGED_MODEL_PENDING")
    status_message = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True)
    params = models.JSONField(default=dict, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["experiment", "-created_at"], name="mlflow_model_by_experiment")]


class RegisteredModel(models.Model):
    """A registered model, in a Flowdeck namespace (the creator's own by default)."""

    namespace = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="mlflow_registered_models")
    name = models.CharField(max_length=250)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    tags = models.JSONField(default=dict, blank=True)
    aliases = models.JSONField(default=dict, blank=True)  # alias -> version number
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "name"], name="unique_mlflow_registered_model")]
        ordering = ["name"]


class ModelVersion(models.Model):
    registered_model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    source = models.TextField()
    run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model_id = models.CharField(max_length=40, blank=True)
    description = models.TextField(blank=True)
    stage = models.CharField(max_length=20, default="None")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    tags = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["registered_model", "version"], name="unique_mlflow_model_version")]
        ordering = ["-version"]
