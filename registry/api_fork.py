"""POST /api/v1/workflows/<ns>/<name>/fork: copy a version into your namespace as a new workflow."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .selectors import asset_get
from .serializers import VersionDetailOut
from .services import asset_fork


class ForkIn(serializers.Serializer):
    version = serializers.CharField(required=False, allow_blank=True, help_text="Default: the latest version.")
    namespace = serializers.CharField(required=False, allow_blank=True, help_text="Default: your own namespace.")
    name = serializers.CharField(required=False, allow_blank=True, help_text="Default: the same name.")


class ForkOut(VersionDetailOut):
    forked_from = serializers.SerializerMethodField(help_text="The version this one was copied from, ns/name@version.")

    class Meta(VersionDetailOut.Meta):
        fields = VersionDetailOut.Meta.fields + ["forked_from"]

    def get_forked_from(self, obj) -> str | None:
        return str(obj.forked_from) if obj.forked_from_id else None


class ForkApi(APIView):
    @extend_schema(request=ForkIn, responses={201: ForkOut}, summary="Fork a workflow version")
    def post(self, request, namespace: str, name: str):
        data = ForkIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        asset = asset_get(user=request.user, namespace=namespace, name=name)
        forked = asset_fork(
            user=request.user,
            asset=asset,
            version=v.get("version") or None,
            namespace=v.get("namespace") or None,
            name=v.get("name") or None,
        )
        return Response(ForkOut(forked).data, status=201)
