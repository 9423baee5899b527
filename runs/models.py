from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual


class Experiment(models.Model):
    namespace = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "name"], name="unique_experiment_per_namespace")]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    # A run its team's concurrent-run quota holds back; it becomes queued when a slot frees
    # (accounts/services/quotas.py).
    WAITING = "waiting", "waiting for quota"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPING = "stopping"
    STOPPED = "stopped"


RUN_FINAL = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.STOPPED}


class Run(models.Model):
    name = models.CharField(max_length=200, blank=True)
    namespace = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="runs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="runs")
    asset_version = models.ForeignKey(
        "registry.AssetVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="runs"
    )
    experiment = models.ForeignKey(Experiment, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    # Set on a child run started by a sub-workflow step of another run.
    parent_step = models.ForeignKey(
        "runs.StepRun", null=True, blank=True, on_delete=models.CASCADE, related_name="child_runs"
    )
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["-created_at"], name="run_recent"),
            models.Index(fields=["asset_version", "-created_at"], name="run_by_version"),
            # The reaper's every pass looks for runs still going: a small partial index.
            models.Index(fields=["status"], name="run_in_flight",
                         condition=models.Q(status__in=["queued", "running", "stopping"])),
            # The quota pass looks for runs waiting for their team's quota, oldest first.
            models.Index(fields=["namespace", "created_at"], name="run_waiting_for_quota",
                         condition=models.Q(status="waiting")),
        ]

    def __str__(self) -> str:
        return f"run {self.pk}"

    @property
    def is_final(self) -> bool:
        return self.status in RUN_FINAL

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class StepStatus(models.TextChoices):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    STOPPED = "stopped"


STEP_FINAL = {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.STOPPED}
# A list, in the order of the partial index's condition below.
STEP_UNFINISHED = [StepStatus.PENDING.value, StepStatus.QUEUED.value, StepStatus.RUNNING.value]


class StepRun(models.Model):
    # Every status change writes a new row version into every index of this table (the
    # status is indexed, so none is a HOT update), three or four times per step: indexes
    # here are few and partial. ``run`` is served by the (run, name) constraint's index.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps", db_index=False)
    name = models.CharField(max_length=64)
    position = models.PositiveIntegerField(default=0)  # index in dependency order
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.PENDING)
    attempt = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    # The step's resource class ("cpu", "gpu", "highmem", ...); each maps to a Celery queue.
    resource_class = models.CharField(max_length=32, blank=True, default="")
    exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    # name -> {"key", "size", "sha256"} and "value" when the output is a JSON scalar
    outputs = models.JSONField(default=dict, blank=True)
    log_key = models.CharField(max_length=1024, blank=True)
    log_size = models.BigIntegerField(default=0)
    # A short log (up to FLOWDECK_INLINE_LOG_MAX_BYTES) is kept here, byte for byte, instead
    # of as a storage object: one fewer PUT per step, in the UPDATE that records it.
    log_inline = models.BinaryField(null=True, blank=True, editable=False)
    # The quality gate's outcome, {"expr", "passed", "values"}, when the step has a gate.
    gate = models.JSONField(null=True, blank=True)
    # Set when the step (cache=True) was queued; a succeeded step with this key can stand in
    # for a later one with the same key in its namespace.
    cache_key = models.CharField(max_length=64, blank=True)
    # The executed step whose outputs this one reuses, on a cache hit.
    cached_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                    db_index=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="unique_step_per_run")]
        # The reaper's every pass looks for queued and running steps, not the finished millions.
        indexes = [
            models.Index(fields=["status"], name="steprun_in_flight", condition=models.Q(status__in=["queued", "running"])),
            # "Has every dependency of this join ended?" and "is the run over?" read only the
            # steps of the run still to end, not the thousands that did.
            models.Index(fields=["run"], name="steprun_unfinished",
                         condition=models.Q(status__in=["pending", "queued", "running"])),
            # Only the few steps that have a cache key, or reused another's outputs.
            models.Index(fields=["cache_key"], name="steprun_cache_key", condition=~models.Q(cache_key="")),
            models.Index(fields=["cached_from"], name="steprun_cached_from", condition=models.Q(cached_from__isnull=False)),
        ]
        ordering = ["position"]

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class Metric(models.Model):
    """One metric point, as every reader sees it.

    On SQLite this is a table, a row per point. On PostgreSQL it is a view over
    ``MetricChunk`` (migration 0012): a batch's points of one key are stored as one row of
    arrays, and the view unnests them, so the ORM and SQL readers work unchanged. Through
    the view, an INSERT stores a one-point chunk (a trigger) and a DELETE removes whole
    chunks (a rule): delete only by run, key or origin, which every point of a chunk shares.
    Schema changes to this model need matching SQL in a migration on PostgreSQL.

    ``run`` has no database foreign-key constraint and no index of its own; ``log_batch``
    (the only bulk writer) holds the run row once per batch, so the run cannot vanish under
    it, and Django's delete still cascades.
    """

    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="metric_points", db_constraint=False, db_index=False
    )
    key = models.CharField(max_length=250)
    step = models.BigIntegerField(default=0)
    value = models.FloatField()
    timestamp_ms = models.BigIntegerField()
    # The StepRun whose subprocess logged the point (None for SDK-tracked runs). A step
    # executed again after its worker died drops the points of its earlier attempt.
    origin = models.BigIntegerField(null=True, blank=True)

    class Meta:
        # In the order a history is read (step, then time), with the value included: a whole
        # series is one index-only scan with no sort (bench/tracking.py: 100,000 points read in
        # about a third of the time of the (run, key, step) index plus a sort).
        indexes = [models.Index(fields=["run", "key", "step", "timestamp_ms"], include=["value"],
                                name="metric_run_key_step_time")]


class MetricChunk(models.Model):
    """The points of one key from one batch, as columns in (step, time) order (PostgreSQL;
    on SQLite this table exists but stays empty, and ``Metric`` keeps a row per point). A
    1,000-point batch is one row instead of a thousand rows and index entries:
    bench/tracking.py measured the row-per-point COPY as the floor the ingest could not
    pass. The arrays are stored with lz4 compression; ``step_min`` and ``step_max`` let a
    reader skip chunks by step without opening them (runs/metric_chunks.py)."""

    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="metric_chunks", db_constraint=False, db_index=False
    )
    key = models.CharField(max_length=250)
    origin = models.BigIntegerField(null=True, blank=True)  # as Metric.origin
    step_min = models.BigIntegerField()
    step_max = models.BigIntegerField()
    steps = ArrayField(models.BigIntegerField())
    values = ArrayField(models.FloatField())
    timestamps = ArrayField(models.BigIntegerField())

    class Meta:
        indexes = [models.Index(fields=["run", "key", "step_min"], name="metric_chunk_run_key_step")]


class MetricSummary(models.Model):
    """Per (run, key) aggregates kept up to date on ingest, so lists never scan points."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metric_summaries")
    key = models.CharField(max_length=250)
    last = models.FloatField()
    last_step = models.BigIntegerField()
    min = models.FloatField()
    max = models.FloatField()
    # The earliest step at which min (max) was reached: the "best step" of a key whose goal
    # is to go down (up). The server does not know a key's goal, so it keeps both.
    min_step = models.BigIntegerField(null=True)
    max_step = models.BigIntegerField(null=True)
    count = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="unique_metric_summary")]
        # The runs table sorts and filters by one key's value: these let a first page walk
        # the runs in metric order instead of sorting every run (runs/run_table.py).
        indexes = [
            models.Index(fields=["key", "last"], name="metric_summary_key_last"),
            models.Index(fields=["key", "min"], name="metric_summary_key_min"),
            models.Index(fields=["key", "max"], name="metric_summary_key_max"),
        ]
        ordering = ["key"]


# Values up to this length are in the (key, value) indexes that answer ``params.x = 'adam'``
# and ``tags.team = 'cv'`` (a B-tree entry cannot hold a 6,000-character value).
INDEXED_TEXT = 200


def _short_value() -> Q:
    return Q(LessThanOrEqual(Length("value"), INDEXED_TEXT))


class RunParam(models.Model):
    """A parameter logged during the run (workflow inputs live in ``Run.params``).

    ``value_num`` is the value as a number when it reads as one (``runs.numbers.SQL_NUMBER``),
    else NULL, written with it by ``log_batch``: ``params.lr > 0.01`` compares it, rather
    than matching a pattern and casting each run's text for every query."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="logged_params")
    key = models.CharField(max_length=250)
    value = models.TextField()
    value_num = models.FloatField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="unique_run_param")]
        indexes = [
            # run_id included: the query's "id IN (SELECT run_id ...)" is an index-only scan.
            models.Index(fields=["key", "value"], include=["run"], condition=_short_value(), name="run_param_key_text"),
        ]
        ordering = ["key"]


class RunTag(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=250)
    value = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="unique_run_tag")]
        indexes = [models.Index(fields=["key", "value"], include=["run"], condition=_short_value(), name="run_tag_key_text")]
        ordering = ["key"]


class Artifact(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="artifacts")
    path = models.CharField(max_length=512)
    size = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "path"], name="unique_artifact_path")]
        ordering = ["path"]


class IngestBatch(models.Model):
    """Remembers client batch ids so a retried batch is not stored twice."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="+")
    batch_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "batch_id"], name="unique_ingest_batch")]


class WorkerNode(models.Model):
    """A live Celery worker process, as it last reported itself: which queues (resource
    classes) it serves. A step whose class no live worker serves waits, and says why."""

    name = models.CharField(max_length=200, unique=True)
    hostname = models.CharField(max_length=200)
    queues = models.JSONField(default=list)
    # How many steps it runs at once (its pool's processes; 0 if it did not say). Dispatch
    # cuts a fan-out into at least as many batches as the live workers have processes.
    concurrency = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(db_index=True)


class StepLogChunk(models.Model):
    """Log bytes shipped by the worker while a step runs, so the run page can stream them.
    The whole log goes to storage when the step ends, and these rows are then deleted."""

    step = models.ForeignKey(StepRun, on_delete=models.CASCADE, related_name="log_chunks")
    attempt = models.PositiveIntegerField()
    offset = models.BigIntegerField()
    data = models.TextField()

    class Meta:
        indexes = [models.Index(fields=["step", "attempt", "offset"], name="steplog_step_offset")]
        ordering = ["offset"]
