import json

from drf_spectacular.utils import extend_schema
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import InvalidInput

from .selectors import asset_get, version_get
from .serializers import AssetOut, PublishIn, VersionDetailOut, VersionOut
from .services import version_publish


class PublishApi(APIView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(request={"multipart/form-data": PublishIn}, responses={201: VersionDetailOut}, summary="Publish a version")
    def post(self, request):
        data = PublishIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        spec = v["spec"]
        if isinstance(spec, str):
            try:
                spec = json.loads(spec)
            except ValueError:
                raise InvalidInput("spec is not valid JSON.", field="spec") from None
        version = version_publish(
            user=request.user,
            spec=spec,
            bundle=v["bundle"].read(),
            version=v.get("version") or None,
            namespace=v.get("namespace") or None,
            readme=v.get("readme", ""),
            changelog=v.get("changelog", ""),
            visibility=v.get("visibility"),
            tags=[t for t in v.get("tags", "").split(",") if t.strip()],
        )
        return Response(VersionDetailOut(version).data, status=201)


class AssetDetailApi(APIView):
    permission_classes = [AllowAny]  # public assets are readable anonymously; asset_get scopes the rest

    @extend_schema(responses=AssetOut, summary="A workflow and its versions")
    def get(self, request, namespace: str, name: str):
        asset = asset_get(user=request.user, namespace=namespace, name=name)
        body = AssetOut(asset).data
        body["versions"] = VersionOut(asset.versions.select_related("published_by", "asset__namespace"), many=True).data
        return Response(body)


class VersionDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=VersionDetailOut, summary="One version, with its spec")
    def get(self, request, namespace: str, name: str, version: str):
        asset = asset_get(user=request.user, namespace=namespace, name=name)
        found = version_get(asset=asset, version=None if version == "latest" else version)
        return Response(VersionDetailOut(found).data)
