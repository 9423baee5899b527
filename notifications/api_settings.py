"""API for notification preferences and webhook endpoints (always the caller's own)."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.selectors import asset_get

from .models import Channel, Event, WebhookEndpoint
from .services.preferences import (
    preference_clear,
    preference_effective,
    preference_list,
    preference_set,
)
from .services.webhooks import (
    webhook_create,
    webhook_delete,
    webhook_deliveries,
    webhook_get,
    webhook_list,
    webhook_ping,
)


class PreferenceIn(serializers.Serializer):
    events = serializers.ListField(child=serializers.ChoiceField(Event.values), help_text="Events to be told about.")
    channels = serializers.ListField(
        child=serializers.ChoiceField(Channel.values), help_text="in_app, email, webhook; [] for none."
    )


class PreferenceOut(serializers.Serializer):
    workflow = serializers.CharField(allow_null=True)
    events = serializers.ListField(child=serializers.CharField())
    channels = serializers.ListField(child=serializers.CharField())
    source = serializers.CharField(help_text="workflow, default or builtin: where this preference comes from.")


class PreferencesOut(serializers.Serializer):
    default = PreferenceOut()
    workflows = PreferenceOut(many=True)
    events = serializers.ListField(child=serializers.CharField())
    channels = serializers.ListField(child=serializers.CharField())


def _effective_body(user, asset=None) -> dict:
    chosen = preference_effective(user=user, asset=asset)
    return {"workflow": asset.full_name if asset else None, "events": list(chosen.events),
            "channels": list(chosen.channels), "source": chosen.source}


def _set(request, asset=None) -> Response:
    data = PreferenceIn(data=request.data)
    data.is_valid(raise_exception=True)
    preference_set(user=request.user, asset=asset, **data.validated_data)
    return Response(_effective_body(request.user, asset))


class PreferencesApi(APIView):
    @extend_schema(responses=PreferencesOut, summary="My notification preferences: the default and per workflow")
    def get(self, request):
        workflows = [
            {"workflow": p.asset.full_name, "events": p.events, "channels": p.channels, "source": "workflow"}
            for p in preference_list(user=request.user) if p.asset_id
        ]
        return Response({"default": _effective_body(request.user), "workflows": workflows,
                         "events": Event.values, "channels": Channel.values})

    @extend_schema(request=PreferenceIn, responses=PreferenceOut, summary="Set my default preference")
    def put(self, request):
        return _set(request)

    @extend_schema(responses=PreferenceOut, summary="Forget my default (the built-in one applies)")
    def delete(self, request):
        preference_clear(user=request.user)
        return Response(_effective_body(request.user))


class WorkflowPreferenceApi(APIView):
    @extend_schema(responses=PreferenceOut, summary="The preference that applies to one workflow's events")
    def get(self, request, namespace: str, name: str):
        return Response(_effective_body(request.user, asset_get(user=request.user, namespace=namespace, name=name)))

    @extend_schema(request=PreferenceIn, responses=PreferenceOut, summary="Set my preference for one workflow")
    def put(self, request, namespace: str, name: str):
        return _set(request, asset_get(user=request.user, namespace=namespace, name=name))

    @extend_schema(responses=PreferenceOut, summary="Forget my preference for one workflow (the default applies)")
    def delete(self, request, namespace: str, name: str):
        asset = asset_get(user=request.user, namespace=namespace, name=name)
        preference_clear(user=request.user, asset=asset)
        return Response(_effective_body(request.user, asset))


class WebhookOut(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = ["id", "name", "url", "active", "created_at"]


class WebhookCreatedOut(WebhookOut):
    secret = serializers.CharField(help_text="Shown this once: keep it to verify signatures.")

    class Meta(WebhookOut.Meta):
        fields = [*WebhookOut.Meta.fields, "secret"]


class WebhookIn(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    url = serializers.CharField(max_length=1000)


class WebhooksApi(APIView):
    @extend_schema(responses=WebhookOut(many=True), summary="My webhook endpoints (secrets are never shown again)")
    def get(self, request):
        return Response(WebhookOut(webhook_list(user=request.user), many=True).data)

    @extend_schema(request=WebhookIn, responses={201: WebhookCreatedOut}, summary="Add a webhook endpoint")
    def post(self, request):
        data = WebhookIn(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, secret = webhook_create(user=request.user, name=data.validated_data.get("name", ""),
                                          url=data.validated_data["url"])
        return Response({**WebhookOut(endpoint).data, "secret": secret}, status=201)


class WebhookDetailApi(APIView):
    @extend_schema(responses=WebhookOut, summary="One of my webhook endpoints")
    def get(self, request, webhook_id: int):
        return Response(WebhookOut(webhook_get(user=request.user, endpoint_id=webhook_id)).data)

    @extend_schema(responses={204: None}, summary="Delete a webhook endpoint and its delivery log")
    def delete(self, request, webhook_id: int):
        webhook_delete(user=request.user, endpoint_id=webhook_id)
        return Response(status=204)


class AttemptOut(serializers.Serializer):
    number = serializers.IntegerField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    duration_ms = serializers.FloatField()
    created_at = serializers.DateTimeField()


class DeliveryOut(serializers.Serializer):
    id = serializers.IntegerField()
    event = serializers.CharField()
    status = serializers.CharField()
    attempts = AttemptOut(many=True, source="attempt_log.all")
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    payload = serializers.JSONField()


class WebhookDeliveriesApi(APIView):
    @extend_schema(responses=DeliveryOut(many=True), summary="An endpoint's latest deliveries, with every attempt")
    def get(self, request, webhook_id: int):
        endpoint = webhook_get(user=request.user, endpoint_id=webhook_id)
        return Response(DeliveryOut(webhook_deliveries(endpoint=endpoint), many=True).data)


class WebhookPingApi(APIView):
    @extend_schema(request=None, responses={202: DeliveryOut}, summary="Send a test delivery (event ping)")
    def post(self, request, webhook_id: int):
        delivery = webhook_ping(endpoint=webhook_get(user=request.user, endpoint_id=webhook_id))
        return Response(DeliveryOut(delivery).data, status=202)
