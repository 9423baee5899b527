from django.urls import reverse
from rest_framework import serializers

from .models import Schedule, ScheduleFiring, Trigger, TriggerDelivery
from .selectors import schedule_next_fire


class _TargetIn(serializers.Serializer):
    workflow = serializers.CharField(help_text="namespace/name, or namespace/name@version to pin a version "
                                               "(default: the newest version that is not yanked, at each run).")
    params = serializers.JSONField(required=False, default=dict, help_text="Fixed parameter values.")
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    namespace = serializers.CharField(required=False, allow_blank=True, default="",
                                      help_text="Where the runs go (you need the editor or admin role there). "
                                                "Default: the workflow's namespace if you may run there, else yours.")


class ScheduleIn(_TargetIn):
    cron = serializers.CharField(help_text="Five fields: minute hour day-of-month month day-of-week, e.g. '0 3 * * *'.")
    timezone = serializers.CharField(required=False, default="UTC", help_text="IANA name, e.g. Europe/Paris.")
    skip_if_running = serializers.BooleanField(required=False, default=True,
                                               help_text="Record a skipped firing instead of starting a run while "
                                                         "the previous one is still going.")
    max_retries = serializers.IntegerField(required=False, default=0, min_value=0, max_value=10,
                                           help_text="Retry a failed run this many times (failed steps again).")


class TriggerIn(_TargetIn):
    mapping = serializers.JSONField(required=False, default=dict,
                                    help_text='Parameter -> path into the posted JSON, e.g. {"data_path": "$.object.key"}.')


class _TargetOut(serializers.ModelSerializer):
    workflow = serializers.CharField(source="asset.full_name")
    version = serializers.SerializerMethodField(help_text="The pinned version, or 'latest'.")
    namespace = serializers.CharField(source="namespace.slug")
    created_by = serializers.CharField(source="created_by.username")

    def get_version(self, obj) -> str:
        return obj.version.version if obj.version_id else "latest"


class FiringOut(serializers.ModelSerializer):
    run_status = serializers.CharField(source="run.status", allow_null=True, default=None)

    class Meta:
        model = ScheduleFiring
        fields = ["id", "fired_at", "outcome", "run", "run_status", "reason", "retries"]


class ScheduleOut(_TargetOut):
    next_fire_at = serializers.SerializerMethodField(help_text="Null while paused.")

    class Meta:
        model = Schedule
        fields = ["id", "name", "workflow", "version", "namespace", "created_by", "cron", "timezone", "params",
                  "skip_if_running", "max_retries", "paused", "next_fire_at", "created_at"]

    def get_next_fire_at(self, obj) -> str | None:
        when = schedule_next_fire(schedule=obj)
        return when.isoformat() if when else None


class ScheduleDetailOut(ScheduleOut):
    firings = serializers.SerializerMethodField(help_text="The last 20 firings, newest first.")

    class Meta(ScheduleOut.Meta):
        fields = ScheduleOut.Meta.fields + ["firings"]

    def get_firings(self, obj) -> list[dict]:
        return FiringOut(self.context.get("firings", []), many=True).data


class DeliveryOut(serializers.ModelSerializer):
    class Meta:
        model = TriggerDelivery
        fields = ["id", "received_at", "status", "run", "error", "auth"]


class TriggerOut(_TargetOut):
    url = serializers.SerializerMethodField(help_text="POST JSON here, with the secret or a signature.")

    class Meta:
        model = Trigger
        fields = ["id", "name", "workflow", "version", "namespace", "created_by", "params", "mapping", "url",
                  "secret_prefix", "created_at"]

    def get_url(self, obj) -> str:
        path = reverse("api:hook", kwargs={"key": obj.key})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class TriggerCreatedOut(TriggerOut):
    secret = serializers.CharField(help_text="Shown this once; only its hash is kept.")
    headers = serializers.DictField(help_text="How to send it: the secret as is, or an HMAC-SHA256 of the body.")

    class Meta(TriggerOut.Meta):
        fields = TriggerOut.Meta.fields + ["secret", "headers"]


class TriggerDetailOut(TriggerOut):
    deliveries = serializers.SerializerMethodField(help_text="The last 20 deliveries, newest first.")

    class Meta(TriggerOut.Meta):
        fields = TriggerOut.Meta.fields + ["deliveries"]

    def get_deliveries(self, obj) -> list[dict]:
        return DeliveryOut(self.context.get("deliveries", []), many=True).data


class HookOut(serializers.Serializer):
    run = serializers.IntegerField()
    delivery = serializers.IntegerField()
    params = serializers.DictField()
    url = serializers.CharField()
