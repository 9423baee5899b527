from rest_framework import serializers

from .models import Artifact, MetricSummary, Run, StepRun


class StepOut(serializers.ModelSerializer):
    duration_s = serializers.FloatField(allow_null=True)

    class Meta:
        model = StepRun
        fields = ["name", "status", "attempt", "queued_at", "started_at", "finished_at", "duration_s", "worker", "exit_code", "error"]


class SummaryOut(serializers.ModelSerializer):
    class Meta:
        model = MetricSummary
        fields = ["key", "last", "last_step", "min", "max", "count"]


class ArtifactOut(serializers.ModelSerializer):
    class Meta:
        model = Artifact
        fields = ["path", "size", "created_at"]


class RunOut(serializers.ModelSerializer):
    workflow = serializers.SerializerMethodField()
    version = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username")
    namespace = serializers.CharField(source="namespace.slug")
    duration_s = serializers.FloatField(allow_null=True)

    class Meta:
        model = Run
        fields = ["id", "name", "workflow", "version", "namespace", "created_by", "status", "params", "error",
                  "created_at", "started_at", "finished_at", "duration_s"]

    def get_workflow(self, obj) -> str | None:
        return obj.asset_version.asset.full_name if obj.asset_version_id else None

    def get_version(self, obj) -> str | None:
        return obj.asset_version.version if obj.asset_version_id else None


class RunDetailOut(RunOut):
    steps = StepOut(many=True)
    metrics = SummaryOut(many=True, source="metric_summaries")
    logged_params = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    artifacts = ArtifactOut(many=True)

    class Meta(RunOut.Meta):
        fields = RunOut.Meta.fields + ["steps", "metrics", "logged_params", "tags", "artifacts"]

    def get_logged_params(self, obj) -> dict:
        return {p.key: p.value for p in obj.logged_params.all()}

    def get_tags(self, obj) -> dict:
        return {t.key: t.value for t in obj.tags.all()}


class RunStartIn(serializers.Serializer):
    workflow = serializers.CharField(help_text="namespace/name or namespace/name@version")
    params = serializers.JSONField(required=False, default=dict)
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class MetricIn(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.FloatField()
    step = serializers.IntegerField(required=False)
    timestamp = serializers.IntegerField(required=False, help_text="Milliseconds since the epoch.")


class LogBatchIn(serializers.Serializer):
    batch_id = serializers.CharField(required=False, allow_blank=True, max_length=64)
    metrics = MetricIn(many=True, required=False)
    params = serializers.DictField(required=False)
    tags = serializers.DictField(required=False)


class ArtifactPathIn(serializers.Serializer):
    path = serializers.CharField(max_length=512)
