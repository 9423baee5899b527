from django.http import FileResponse, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import FileUploadParser, JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Team
from accounts.selectors import namespace_get
from core import storage
from core.parsers import FastJSONParser
from core.errors import InvalidInput, NotFound
from registry.selectors import asset_get, parse_asset_ref, version_get

from .api_runs_table import COUNT_PARAMETER, TABLE_PARAMETERS, runs_table_response
from .log_selectors import step_log_read
from .metric_selectors import EXPORT_FORMATS, max_points_param, metric_export, metric_history_json, metric_sampled
from .selectors import experiment_list, run_get, run_get_for_logging, step_get, step_log
from .serializers import (
    ArtifactOut,
    ArtifactPathIn,
    ExperimentOut,
    LogBatchIn,
    MultipartAbortIn,
    MultipartCompleteIn,
    MultipartStartIn,
    MultipartStartOut,
    RunDetailOut,
    RunEndIn,
    RunOut,
    RunStartIn,
    TrackedRunIn,
)
from .services.lifecycle import run_start, run_stop
from .services.operations import run_copy, run_delete, run_retry
from .services.partial import run_start_partial
from .services.tracked import run_create_tracked, run_end
from .services.tracking import (
    artifact_commit,
    artifact_multipart_abort,
    artifact_multipart_complete,
    artifact_multipart_start,
    artifact_put,
    artifact_upload_target,
    log_batch_body,
)


def _token(request):
    return request.auth if hasattr(request.auth, "scopes") else None


class RunsApi(APIView):
    required_scope = "run"
    pagination_class = LimitOffsetPagination  # a plain APIView has none of its own

    @extend_schema(
        parameters=[*TABLE_PARAMETERS, OpenApiParameter("limit", int), OpenApiParameter("offset", int), COUNT_PARAMETER],
        responses=RunOut(many=True), summary="List runs: filter, sort, choose columns",
    )
    def get(self, request):
        return runs_table_response(request)

    @extend_schema(request=RunStartIn, responses={201: RunDetailOut}, summary="Start a run of a published workflow",
                   description="With `steps` and `source_run`, a partial run: only the chosen steps run.")
    def post(self, request):
        data = RunStartIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        namespace, name, version = parse_asset_ref(v["workflow"])
        asset = asset_get(user=request.user, namespace=namespace, name=name)
        found = version_get(asset=asset, version=version)
        team = namespace_get(slug=v.get("namespace"))  # run_start checks the editor role there
        if "steps" in v or "source_run" in v:
            source = run_get(user=request.user, run_id=v["source_run"]) if "source_run" in v else None
            run = run_start_partial(user=request.user, version=found, steps=v.get("steps"), source_run=source,
                                    params=v["params"], name=v["name"], namespace=team)
        else:
            run = run_start(user=request.user, version=found, params=v["params"], name=v["name"], namespace=team)
        return Response(RunDetailOut(run).data, status=201)


class RunDetailApi(APIView):
    @extend_schema(responses=RunDetailOut, summary="A run: steps, params, metrics, artifacts")
    def get(self, request, run_id: int):
        return Response(RunDetailOut(run_get(user=request.user, run_id=run_id)).data)

    @extend_schema(responses={200: None}, summary="Delete a finished run, its records and stored files (409 while it runs)")
    def delete(self, request, run_id: int):
        removed = run_delete(user=request.user, run=run_get(user=request.user, run_id=run_id))
        return Response({"deleted": run_id, "files_removed": removed})


class RunRetryIn(serializers.Serializer):
    params = serializers.JSONField(required=False, help_text="Edits of the run's parameters, checked as on start.")


class RunRetryApi(APIView):
    required_scope = "run"

    @extend_schema(request=RunRetryIn, responses=RunDetailOut, summary="Retry the failed part of a run, reusing succeeded steps",
                   description="With `params`, the run's parameters are edited first and the steps that read a "
                               "changed one (and everything downstream) run again too.")
    def post(self, request, run_id: int):
        data = RunRetryIn(data=request.data)
        data.is_valid(raise_exception=True)
        run = run_retry(user=request.user, run=run_get(user=request.user, run_id=run_id),
                        params=data.validated_data.get("params") or None)
        return Response(RunDetailOut(run).data)


class RunCopyIn(serializers.Serializer):
    params = serializers.JSONField(required=False, default=dict, help_text="Overrides of the copied parameters.")
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class RunCopyApi(APIView):
    required_scope = "run"

    @extend_schema(request=RunCopyIn, responses={201: RunDetailOut}, summary="Start a new run with the same (edited) parameters")
    def post(self, request, run_id: int):
        data = RunCopyIn(data=request.data)
        data.is_valid(raise_exception=True)
        source = run_get(user=request.user, run_id=run_id)
        run = run_copy(user=request.user, run=source, params=data.validated_data["params"], name=data.validated_data["name"])
        return Response(RunDetailOut(run).data, status=201)


class RunStopApi(APIView):
    required_scope = "run"

    @extend_schema(request=None, responses=RunOut, summary="Stop a run")
    def post(self, request, run_id: int):
        run = run_stop(user=request.user, run=run_get(user=request.user, run_id=run_id))
        return Response(RunOut(run).data)


class ExperimentsApi(APIView):
    pagination_class = LimitOffsetPagination

    @extend_schema(parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
                   responses=ExperimentOut(many=True), summary="List the experiments you can see")
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(experiment_list(user=request.user), request, view=self)
        return paginator.get_paginated_response(ExperimentOut(page, many=True).data)


class TrackedRunsApi(APIView):
    @extend_schema(
        request=TrackedRunIn, responses={201: RunDetailOut},
        summary="Start a tracked run (outside a workflow)",
        description="Creates a running run in the experiment (created on first use) to log metrics, params, "
                    "tags and artifacts to; end it with POST /api/v1/runs/{id}/end.",
    )
    def post(self, request):
        data = TrackedRunIn(data=request.data)
        data.is_valid(raise_exception=True)
        slug = data.validated_data["namespace"]
        namespace = None
        if slug:
            namespace = Team.objects.filter(slug=slug).first()
            if namespace is None:
                raise NotFound(f"Namespace '{slug}' was not found.", field="namespace")
        run = run_create_tracked(
            user=request.user,
            experiment=data.validated_data["experiment"],
            name=data.validated_data["name"],
            namespace=namespace,
            tags=data.validated_data["tags"],
        )
        return Response(RunDetailOut(run_get(user=request.user, run_id=run.pk)).data, status=201)


class RunEndApi(APIView):
    @extend_schema(request=RunEndIn, responses=RunOut, summary="End a tracked run",
                   description="409 if the run has already ended, or is a workflow run (code not_tracked).")
    def post(self, request, run_id: int):
        data = RunEndIn(data=request.data)
        data.is_valid(raise_exception=True)
        run = run_end(user=request.user, run=run_get(user=request.user, run_id=run_id),
                      status=data.validated_data["status"], error=data.validated_data["error"])
        return Response(RunOut(run).data)


class LogBatchApi(APIView):
    allow_run_token = True
    parser_classes = [FastJSONParser]

    @extend_schema(request=LogBatchIn, responses={200: None}, summary="Log metrics, params and tags in one batch")
    def post(self, request, run_id: int):
        stored = log_batch_body(user=request.user, token=_token(request), run_id=run_id, body=request.data)
        return Response({"stored": stored})


class MetricHistoryApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("max_points", int, description="Downsample for a chart: at most this many "
                                     "points (10 to 10,000), each step bucket's lowest and highest point plus the "
                                     "first and last; the answer adds total and sampled."),
                    OpenApiParameter("columns", bool, description="Every point as columns: {key, step: [...], "
                                     "value: [...], timestamp: [...]} instead of point objects.")],
        responses={200: OpenApiTypes.OBJECT}, summary="Every point of one metric, or a sample that keeps its shape",
    )
    def get(self, request, run_id: int, key: str):
        run = run_get(user=request.user, run_id=run_id)
        if "max_points" in request.query_params:
            limit = max_points_param(request.query_params.get("max_points"))
            return Response(metric_sampled(run=run, key=key, max_points=limit))
        # The JSON is made by the database (string_agg on PostgreSQL), not by DRF point by point.
        columns = request.query_params.get("columns") in ("1", "true")
        return HttpResponse(metric_history_json(run=run, key=key, columns=columns), content_type="application/json")


class MetricExportApi(APIView):
    def perform_content_negotiation(self, request, force=False):
        # ?format= names the export's format here, not one of DRF's renderers (which would
        # answer 404 for "csv"); errors are JSON as everywhere.
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=list(EXPORT_FORMATS), description="jsonl (default) or csv")],
        responses={(200, "application/x-ndjson"): OpenApiTypes.STR, (200, "text/csv"): OpenApiTypes.STR},
        summary="Stream every point of one metric as JSON lines or CSV",
    )
    def get(self, request, run_id: int, key: str):
        run = run_get(user=request.user, run_id=run_id)
        fmt = request.query_params.get("format") or "jsonl"
        blocks = metric_export(run=run, key=key, fmt=fmt)
        response = StreamingHttpResponse(blocks, content_type=EXPORT_FORMATS[fmt])
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)[:100] or "metric"
        response["Content-Disposition"] = f'attachment; filename="run-{run.pk}-{safe}.{fmt}"'
        return response


class ArtifactsApi(APIView):
    @extend_schema(responses=ArtifactOut(many=True), summary="List a run's artifacts")
    def get(self, request, run_id: int):
        run = run_get(user=request.user, run_id=run_id)
        return Response(ArtifactOut(run.artifacts.all(), many=True).data)


class UploadTargetOut(serializers.Serializer):
    path = serializers.CharField()
    url = serializers.CharField(allow_null=True, help_text="Presigned PUT URL; null means PUT to the content endpoint.")


class ArtifactUploadApi(APIView):
    allow_run_token = True

    @extend_schema(request=ArtifactPathIn, responses=UploadTargetOut, summary="Where to upload an artifact")
    def post(self, request, run_id: int):
        run = run_get_for_logging(user=request.user, run_id=run_id, token=_token(request))
        data = ArtifactPathIn(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(artifact_upload_target(run=run, path=data.validated_data["path"]))


class ArtifactCommitApi(APIView):
    allow_run_token = True

    @extend_schema(request=ArtifactPathIn, responses=ArtifactOut, summary="Record an artifact uploaded to a presigned URL")
    def post(self, request, run_id: int):
        run = run_get_for_logging(user=request.user, run_id=run_id, token=_token(request))
        data = ArtifactPathIn(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(ArtifactOut(artifact_commit(run=run, path=data.validated_data["path"])).data, status=201)


class ArtifactMultipartApi(APIView):
    allow_run_token = True

    @extend_schema(
        request=MultipartStartIn, responses={201: MultipartStartOut},
        summary="Start a multipart upload of a large artifact",
        description="PUT each part to its presigned URL, then POST the parts' ETags to .../multipart/complete. "
                    "409 with code multipart_unsupported on local storage: PUT to the content endpoint instead.",
    )
    def post(self, request, run_id: int):
        run = run_get_for_logging(user=request.user, run_id=run_id, token=_token(request))
        data = MultipartStartIn(data=request.data)
        data.is_valid(raise_exception=True)
        plan = artifact_multipart_start(run=run, path=data.validated_data["path"], size=data.validated_data["size"],
                                        part_size=data.validated_data.get("part_size"))
        return Response(plan, status=201)


class ArtifactMultipartCompleteApi(APIView):
    allow_run_token = True

    @extend_schema(request=MultipartCompleteIn, responses={201: ArtifactOut}, summary="Complete a multipart upload")
    def post(self, request, run_id: int):
        run = run_get_for_logging(user=request.user, run_id=run_id, token=_token(request))
        data = MultipartCompleteIn(data=request.data)
        data.is_valid(raise_exception=True)
        artifact = artifact_multipart_complete(run=run, path=data.validated_data["path"],
                                               upload_id=data.validated_data["upload_id"],
                                               parts=data.validated_data["parts"])
        return Response(ArtifactOut(artifact).data, status=201)


class ArtifactMultipartAbortApi(APIView):
    allow_run_token = True

    @extend_schema(request=MultipartAbortIn, responses={204: None}, summary="Abort a multipart upload")
    def post(self, request, run_id: int):
        run = run_get_for_logging(user=request.user, run_id=run_id, token=_token(request))
        data = MultipartAbortIn(data=request.data)
        data.is_valid(raise_exception=True)
        artifact_multipart_abort(run=run, path=data.validated_data["path"], upload_id=data.validated_data["upload_id"])
        return Response(status=204)


class RawBodyParser(FileUploadParser):
    """The raw body is the artifact; its name comes from the URL when no Content-Disposition
    says otherwise (DRF's parser refuses a body without one, which breaks plain curl uploads)."""

    media_type = "*/*"

    def get_filename(self, stream, media_type, parser_context):
        name = super().get_filename(stream, media_type, parser_context)
        return name or str(parser_context.get("kwargs", {}).get("path", "")).rsplit("/", 1)[-1] or "upload"


class ArtifactContentApi(APIView):
    allow_run_token = True
    parser_classes = [RawBodyParser, JSONParser]

    @extend_schema(responses={(200, "application/octet-stream"): bytes}, summary="Download an artifact")
    def get(self, request, run_id: int, path: str):
        run = run_get(user=request.user, run_id=run_id, token=_token(request))
        return artifact_response(run, path)

    @extend_schema(request={"application/octet-stream": bytes}, responses={201: ArtifactOut}, summary="Upload an artifact through the server")
    def put(self, request, run_id: int, path: str):
        run = run_get_for_logging(user=request.user, run_id=run_id, token=_token(request))
        upload = request.data.get("file")
        if upload is None:
            raise InvalidInput("The request body is empty.", field="file")
        try:
            return Response(ArtifactOut(artifact_put(run=run, path=path, content=upload)).data, status=201)
        finally:
            # A large body is a temporary file that local storage moves into place; closing
            # it now (which tolerates the move) keeps its finaliser from failing later.
            upload.close()


def artifact_response(run, path: str):
    """A redirect to a presigned URL on S3, or the bytes streamed from local storage."""
    artifact = run.artifacts.filter(path=storage.clean_relpath(path)).first()
    if artifact is None:
        raise NotFound(f"Run {run.pk} has no artifact '{path}'.", field="path")
    key = storage.artifact_key(run.pk, artifact.path)
    filename = artifact.path.rsplit("/", 1)[-1]
    url = storage.download_url(key, filename=filename)
    if url:
        return HttpResponseRedirect(url)
    return FileResponse(storage.open_read(key), as_attachment=True, filename=filename)


def _offset_param(request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise InvalidInput(f"'{name}' must be a whole number of at least 0, got {raw!r}.", field=name)
    return value


class StepLogApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("offset", int, description="Follow the log: the text after this byte, "
                             "as {text, next_offset, complete, start, truncated, attempt, status}."),
            OpenApiParameter("attempt", int, description="The attempt the offset belongs to; another "
                             "attempt starts again at 0."),
        ],
        responses={200: OpenApiTypes.OBJECT},
        summary="A step's log: its tail, or with ?offset= the text that follows a byte offset",
    )
    def get(self, request, run_id: int, step: str):
        run = run_get(user=request.user, run_id=run_id)
        step_run = step_get(run=run, name=step)
        offset = _offset_param(request, "offset")
        if offset is None:
            text, cut = step_log(step=step_run)
            return Response({"step": step, "log": text, "truncated": cut})
        read = step_log_read(step=step_run, offset=offset, attempt=_offset_param(request, "attempt"))
        return Response({"step": step, **read})
