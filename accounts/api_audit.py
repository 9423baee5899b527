"""Audit log API: a team's entries, filtered, paged or exported."""
from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from .selectors import EXPORT_FORMATS, audit_export, audit_list, audit_row, team_get
from .serializers import AuditEntryOut

FILTERS = ("action", "actor", "target", "since", "until")
FILTER_PARAMETERS = [
    OpenApiParameter("action", str, description="An action (run.start) or a family (run)"),
    OpenApiParameter("actor", str, description="A username, or 'system'"),
    OpenApiParameter("target", str, description="Part of the target's name"),
    OpenApiParameter("since", str, description="A date or ISO 8601 time"),
    OpenApiParameter("until", str, description="A date (inclusive) or ISO 8601 time"),
]


def audit_entries(request, slug: str):
    team = team_get(user=request.user, slug=slug)
    return team, audit_list(user=request.user, team=team,
                            **{k: request.query_params.get(k, "") for k in FILTERS})


class TeamAuditApi(APIView):
    required_scope = read_scope = "admin"
    pagination_class = LimitOffsetPagination

    @extend_schema(parameters=[*FILTER_PARAMETERS, OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
                   responses=AuditEntryOut(many=True), summary="A team's audit log (team admins), newest first")
    def get(self, request, slug: str):
        _team, entries = audit_entries(request, slug)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(entries, request, view=self)
        return paginator.get_paginated_response([audit_row(e) for e in page])


class TeamAuditExportApi(APIView):
    required_scope = read_scope = "admin"

    def perform_content_negotiation(self, request, force=False):
        # ?format= names the export's format, not one of DRF's renderers (as the metric export).
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(parameters=[*FILTER_PARAMETERS, OpenApiParameter("format", str, enum=list(EXPORT_FORMATS))],
                   responses={(200, "text/csv"): OpenApiTypes.STR}, summary="Export a team's audit log (CSV or JSON lines)")
    def get(self, request, slug: str):
        team, entries = audit_entries(request, slug)
        fmt = request.query_params.get("format", "csv")
        blocks = audit_export(entries, fmt)
        first = next(blocks, "")  # a bad format fails here, as a JSON error, before streaming starts
        response = StreamingHttpResponse(_chain(first, blocks), content_type=EXPORT_FORMATS[fmt])
        response["Content-Disposition"] = f'attachment; filename="audit-{team.slug}.{fmt}"'
        return response


def _chain(first: str, rest):
    if first:
        yield first
    yield from rest
