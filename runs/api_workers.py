"""GET /api/v1/workers: the worker registry, for operators and for anyone wondering why a step waits."""
from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .selectors import worker_list
from .serializers import WorkerOut


class WorkersOut(serializers.Serializer):
    stale_after_s = serializers.IntegerField(help_text="A worker not seen for this long no longer counts as live.")
    workers = WorkerOut(many=True)


class WorkersApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("live", bool, description="Only workers seen within stale_after_s.")],
        responses=WorkersOut,
        summary="Celery workers, the queues (resource classes) they serve and when they were last seen",
    )
    def get(self, request):
        workers = worker_list()
        if request.query_params.get("live") in ("1", "true"):
            workers = [w for w in workers if w.live]
        return Response({"stale_after_s": settings.FLOWDECK_WORKER_STALE_S, "workers": WorkerOut(workers, many=True).data})
