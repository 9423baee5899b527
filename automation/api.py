"""REST endpoints for schedules, triggers and the webhook that triggers call."""
from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Team
from core.errors import NotFound
from registry.selectors import asset_get, parse_asset_ref, version_get

from . import signing
from .selectors import (
    schedule_firings,
    schedule_get,
    schedule_list,
    trigger_by_key,
    trigger_deliveries,
    trigger_get,
    trigger_list,
)
from .serializers import (
    HookOut,
    ScheduleDetailOut,
    ScheduleIn,
    ScheduleOut,
    TriggerCreatedOut,
    TriggerDetailOut,
    TriggerIn,
    TriggerOut,
)
from .services import (
    schedule_create,
    schedule_delete,
    schedule_pause,
    schedule_resume,
    trigger_create,
    trigger_delete,
    trigger_deliver,
)

_LIST_PARAMS = [OpenApiParameter("workflow", str, description="namespace/name"),
                OpenApiParameter("limit", int), OpenApiParameter("offset", int)]


def _target(request, data: dict):
    """The asset, the pinned version (None for the latest) and the run namespace of a create."""
    namespace, name, version = parse_asset_ref(data["workflow"])
    asset = asset_get(user=request.user, namespace=namespace, name=name)
    pinned = version_get(asset=asset, version=version) if version and version != "latest" else None
    team = None
    if data.get("namespace"):
        team = Team.objects.filter(slug=data["namespace"]).first()
        if team is None:
            raise NotFound(f"Namespace '{data['namespace']}' was not found.", field="namespace")
    return asset, pinned, team


def _listed(view: APIView, request, found, serializer):
    workflow = request.query_params.get("workflow")
    if workflow:
        namespace, name, _ = parse_asset_ref(workflow)
        found = found.filter(asset=asset_get(user=request.user, namespace=namespace, name=name))
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(found, request, view=view)
    return paginator.get_paginated_response(serializer(page, many=True, context={"request": request}).data)


class SchedulesApi(APIView):
    required_scope = "run"

    @extend_schema(parameters=_LIST_PARAMS, responses=ScheduleOut(many=True), summary="List schedules you can see")
    def get(self, request):
        return _listed(self, request, schedule_list(user=request.user), ScheduleOut)

    @extend_schema(request=ScheduleIn, responses={201: ScheduleDetailOut}, summary="Schedule recurring runs")
    def post(self, request):
        data = ScheduleIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        asset, pinned, team = _target(request, v)
        schedule = schedule_create(
            user=request.user, asset=asset, version=pinned, cron=v["cron"], tz=v["timezone"], params=v["params"],
            name=v["name"], skip_if_running=v["skip_if_running"], max_retries=v["max_retries"], namespace=team,
        )
        return Response(ScheduleDetailOut(schedule, context={"firings": []}).data, status=201)


class ScheduleDetailApi(APIView):
    required_scope = "run"

    @extend_schema(responses=ScheduleDetailOut, summary="A schedule, its next fire time and its last firings")
    def get(self, request, schedule_id: int):
        schedule = schedule_get(user=request.user, schedule_id=schedule_id)
        return Response(ScheduleDetailOut(schedule, context={"firings": schedule_firings(schedule=schedule)}).data)

    @extend_schema(responses={204: None}, summary="Delete a schedule (its runs stay)")
    def delete(self, request, schedule_id: int):
        schedule_delete(user=request.user, schedule=schedule_get(user=request.user, schedule_id=schedule_id))
        return Response(status=204)


class SchedulePauseApi(APIView):
    required_scope = "run"

    @extend_schema(request=None, responses=ScheduleOut, summary="Pause a schedule")
    def post(self, request, schedule_id: int):
        schedule = schedule_pause(user=request.user, schedule=schedule_get(user=request.user, schedule_id=schedule_id))
        return Response(ScheduleOut(schedule).data)


class ScheduleResumeApi(APIView):
    required_scope = "run"

    @extend_schema(request=None, responses=ScheduleOut, summary="Resume a paused schedule")
    def post(self, request, schedule_id: int):
        schedule = schedule_resume(user=request.user, schedule=schedule_get(user=request.user, schedule_id=schedule_id))
        return Response(ScheduleOut(schedule).data)


class TriggersApi(APIView):
    required_scope = "run"

    @extend_schema(parameters=_LIST_PARAMS, responses=TriggerOut(many=True), summary="List triggers you can see")
    def get(self, request):
        return _listed(self, request, trigger_list(user=request.user), TriggerOut)

    @extend_schema(request=TriggerIn, responses={201: TriggerCreatedOut},
                   summary="Create a webhook trigger; the answer carries its secret, shown this once")
    def post(self, request):
        data = TriggerIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        asset, pinned, team = _target(request, v)
        trigger, secret = trigger_create(user=request.user, asset=asset, version=pinned, params=v["params"],
                                         mapping=v["mapping"], name=v["name"], namespace=team)
        trigger.secret = secret
        trigger.headers = {"secret": signing.SECRET_HEADER, "signature": signing.SIGNATURE_HEADER}
        return Response(TriggerCreatedOut(trigger, context={"request": request}).data, status=201)


class TriggerDetailApi(APIView):
    required_scope = "run"

    @extend_schema(responses=TriggerDetailOut, summary="A trigger and its last deliveries")
    def get(self, request, trigger_id: int):
        trigger = trigger_get(user=request.user, trigger_id=trigger_id)
        context = {"request": request, "deliveries": trigger_deliveries(trigger=trigger)}
        return Response(TriggerDetailOut(trigger, context=context).data)

    @extend_schema(responses={204: None}, summary="Delete a trigger; its URL stops working")
    def delete(self, request, trigger_id: int):
        trigger_delete(user=request.user, trigger=trigger_get(user=request.user, trigger_id=trigger_id))
        return Response(status=204)


class HookApi(APIView):
    # The caller is not a Flowdeck user: the trigger's secret (or a signature made with
    # it) is the credential, checked by the service. No session, so no CSRF either.
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request={"application/json": dict}, responses={201: HookOut},
        summary="Deliver a webhook: start the trigger's run",
        description=f"Authenticate with `{signing.SECRET_HEADER}: <secret>` or "
                    f"`{signing.SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of the raw body, keyed with the secret>`. "
                    "401 without either, 403 when wrong; 400 naming the field when the mapping does not resolve "
                    "or a parameter is invalid.",
    )
    def post(self, request, key: str):
        trigger = trigger_by_key(key=key)
        delivery = trigger_deliver(
            trigger=trigger, body=request.body,
            secret=request.headers.get(signing.SECRET_HEADER), signature=request.headers.get(signing.SIGNATURE_HEADER),
        )
        run = delivery.run
        url = request.build_absolute_uri(reverse("runs:detail", kwargs={"run_id": run.pk}))
        return Response({"run": run.pk, "delivery": delivery.pk, "params": run.params, "url": url}, status=201)

