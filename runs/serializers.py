from rest_framework import serializers

from flowdeck.spec import DEFAULT_RESOURCE_CLASS

from .models import Artifact, Experiment, MetricSummary, Run, StepRun, StepStatus, WorkerNode
from .selectors import live_queues, step_waiting_reason, subrun_children


class GateOut(serializers.Serializer):
    expr = serializers.CharField()
    passed = serializers.BooleanField()
    values = serializers.DictField(help_text="Each name the gate read, with the value it had.")


class CachedFromOut(serializers.Serializer):
    run = serializers.IntegerField(source="run_id")
    step = serializers.CharField(source="name")


class StepOut(serializers.ModelSerializer):
    duration_s = serializers.FloatField(allow_null=True)
    gate = GateOut(allow_null=True, help_text="The quality gate's outcome, when the step has one.")
    child_run = serializers.SerializerMethodField(
        help_text="For a sub-workflow step (one that uses a published workflow): the id of its latest child run.")
    cached_from = CachedFromOut(allow_null=True, help_text="The step whose outputs this one reused: on a cache hit "
                                "(worker 'cache'), or taken from the source run of a partial run (worker 'reused').")
    resource_class = serializers.SerializerMethodField(help_text="The kind of worker the step needs: cpu, gpu, highmem, ...")
    waiting_reason = serializers.SerializerMethodField(
        help_text="Why a queued step has not started yet (no live worker serves its resource class, or all are busy); "
                  "empty otherwise.")

    class Meta:
        model = StepRun
        fields = ["name", "status", "attempt", "queued_at", "started_at", "finished_at", "duration_s", "worker", "exit_code",
                  "error", "gate", "cached_from", "child_run", "resource_class", "waiting_reason"]
        extra_kwargs = {"worker": {"help_text": "The worker process that ran the step; 'cache' on a cache hit."}}

    def get_resource_class(self, obj) -> str:
        return obj.resource_class or DEFAULT_RESOURCE_CLASS

    def get_waiting_reason(self, obj) -> str:
        if obj.status != StepStatus.QUEUED:
            return ""
        # One look at the worker registry per response, however many steps are queued.
        if "live_queues" not in self.context:
            self.context["live_queues"] = live_queues()
        return step_waiting_reason(step=obj, live=self.context["live_queues"])

    def get_child_run(self, obj) -> int | None:
        # One query per run shown, however many steps it has.
        children = self.context.setdefault("child_runs", {})
        if obj.run_id not in children:
            children[obj.run_id] = subrun_children(run_id=obj.run_id)
        return children[obj.run_id].get(obj.pk)


class ParentOut(serializers.Serializer):
    run = serializers.IntegerField(source="run_id")
    step = serializers.CharField(source="name")


class SummaryOut(serializers.ModelSerializer):
    class Meta:
        model = MetricSummary
        fields = ["key", "last", "last_step", "min", "min_step", "max", "max_step", "count"]


class ArtifactOut(serializers.ModelSerializer):
    class Meta:
        model = Artifact
        fields = ["path", "size", "created_at"]


class RunOut(serializers.ModelSerializer):
    workflow = serializers.SerializerMethodField()
    version = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username")
    namespace = serializers.CharField(source="namespace.slug")
    experiment = serializers.CharField(source="experiment.name", allow_null=True, default=None,
                                       help_text="The experiment of a tracked run; null for workflow runs.")
    duration_s = serializers.FloatField(allow_null=True)

    class Meta:
        model = Run
        fields = ["id", "name", "workflow", "version", "experiment", "namespace", "created_by", "status", "params",
                  "error", "created_at", "started_at", "finished_at", "duration_s"]

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
    parent = ParentOut(source="parent_step", allow_null=True,
                       help_text="For a child run started by a sub-workflow step: that step's run and name.")

    class Meta(RunOut.Meta):
        fields = RunOut.Meta.fields + ["steps", "metrics", "logged_params", "tags", "artifacts", "parent"]

    def get_logged_params(self, obj) -> dict:
        return {p.key: p.value for p in obj.logged_params.all()}

    def get_tags(self, obj) -> dict:
        return {t.key: t.value for t in obj.tags.all()}


class RunStartIn(serializers.Serializer):
    workflow = serializers.CharField(help_text="namespace/name or namespace/name@version")
    params = serializers.JSONField(required=False, default=dict)
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    namespace = serializers.CharField(required=False, help_text="The team (or your own namespace) the run belongs "
                                      "to, counted against its quotas; default: yours. Needs the editor role there.")
    steps = serializers.ListField(
        child=serializers.CharField(), required=False, allow_empty=False,
        help_text="A partial run: only these steps run. Needs source_run.")
    source_run = serializers.IntegerField(
        required=False, help_text="A partial run takes the outputs of the steps it does not run (those upstream of "
                                  "`steps`) from this run's succeeded steps, and its parameters as the base that "
                                  "`params` override. A run of the same workflow.")


class MetricIn(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.FloatField()
    step = serializers.IntegerField(required=False)
    timestamp = serializers.IntegerField(required=False, help_text="Milliseconds since the epoch.")


class LogBatchIn(serializers.Serializer):
    batch_id = serializers.CharField(required=False, allow_blank=True, max_length=64)
    metrics = serializers.JSONField(
        required=False,
        help_text="Points, [{key, value, step?, timestamp? (ms)}], or the compact form "
                  "{key: {value: [...], step: [...]?, timestamp: [...]?}} (lists of equal length).")
    params = serializers.DictField(required=False)
    tags = serializers.DictField(required=False)


class ArtifactPathIn(serializers.Serializer):
    path = serializers.CharField(max_length=512)


class ExperimentOut(serializers.ModelSerializer):
    namespace = serializers.CharField(source="namespace.slug")
    run_count = serializers.IntegerField()
    last_run_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        model = Experiment
        fields = ["id", "name", "namespace", "created_at", "run_count", "last_run_at"]


class TrackedRunIn(serializers.Serializer):
    experiment = serializers.CharField(max_length=200, help_text="Created on first use.")
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    tags = serializers.DictField(required=False, default=dict)
    namespace = serializers.CharField(required=False, allow_blank=True, default="",
                                      help_text="Team slug; your personal namespace if omitted.")


class RunEndIn(serializers.Serializer):
    status = serializers.CharField(help_text="succeeded, failed or stopped.")
    error = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)


class MultipartStartIn(serializers.Serializer):
    path = serializers.CharField(max_length=512)
    size = serializers.IntegerField(min_value=1)
    part_size = serializers.IntegerField(required=False, min_value=1,
                                         help_text="Wished part size in bytes; the server clamps it to S3's limits.")


class MultipartPartOut(serializers.Serializer):
    number = serializers.IntegerField()
    url = serializers.CharField(help_text="Presigned PUT URL for this part; its answer's ETag header goes to complete.")


class MultipartStartOut(serializers.Serializer):
    path = serializers.CharField()
    upload_id = serializers.CharField()
    part_size = serializers.IntegerField()
    parts = MultipartPartOut(many=True)


class MultipartPartIn(serializers.Serializer):
    number = serializers.IntegerField(min_value=1, max_value=10_000)
    etag = serializers.CharField(max_length=200)


class MultipartCompleteIn(serializers.Serializer):
    path = serializers.CharField(max_length=512)
    upload_id = serializers.CharField(max_length=1024)
    parts = MultipartPartIn(many=True, allow_empty=False)


class MultipartAbortIn(serializers.Serializer):
    path = serializers.CharField(max_length=512)
    upload_id = serializers.CharField(max_length=1024)


class WorkerOut(serializers.ModelSerializer):
    live = serializers.BooleanField(help_text="Seen within FLOWDECK_WORKER_STALE_S.")
    resource_classes = serializers.ListField(child=serializers.CharField(),
                                             help_text="The resource classes of the queues it consumes.")

    class Meta:
        model = WorkerNode
        fields = ["name", "hostname", "queues", "resource_classes", "live", "started_at", "last_seen"]
