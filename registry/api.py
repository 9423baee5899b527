import json

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import InvalidInput

from .diff import diff_versions_pick, version_diff
from .selectors import asset_get, version_get
from .serializers import AssetOut, DeprecateIn, DiffOut, PublishIn, VersionDetailOut, VersionOut, YankIn
from .services import version_deprecate, version_publish, version_unyank, version_yank

VERSION_RELATED = ("published_by", "asset__namespace", "successor__asset__namespace")


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
        body["versions"] = VersionOut(asset.versions.select_related(*VERSION_RELATED), many=True).data
        return Response(body)


class VersionDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=VersionDetailOut, summary="One version, with its spec")
    def get(self, request, namespace: str, name: str, version: str):
        asset = asset_get(user=request.user, namespace=namespace, name=name)
        found = version_get(asset=asset, version=None if version == "latest" else version)
        return Response(VersionDetailOut(found).data)


class VersionYankApi(APIView):
    @extend_schema(request=YankIn, responses=VersionOut, summary="Yank a version (new runs of it are refused)")
    def post(self, request, namespace: str, name: str, version: str):
        data = YankIn(data=request.data)
        data.is_valid(raise_exception=True)
        asset = asset_get(user=request.user, namespace=namespace, name=name)
        found = version_yank(user=request.user, version=version_get(asset=asset, version=version),
                             reason=data.validated_data["reason"])
        return Response(VersionOut(found).data)

    @extend_schema(request=None, responses=VersionOut, summary="Undo a yank")
    def delete(self, request, namespace: str, name: str, version: str):
        asset = asset_get(user=request.user, namespace=namespace, name=name)
        found = version_unyank(user=request.user, version=version_get(asset=asset, version=version))
        return Response(VersionOut(found).data)


class VersionDeprecateApi(APIView):
    @extend_schema(request=DeprecateIn, responses=VersionOut, summary="Deprecate a version, naming its successor")
    def post(self, request, namespace: str, name: str, version: str):
        data = DeprecateIn(data=request.data)
        data.is_valid(raise_exception=True)
        asset = asset_get(user=request.user, namespace=namespace, name=name)
        found = version_deprecate(
            user=request.user,
            version=version_get(asset=asset, version=version),
            successor=data.validated_data.get("successor"),
            message=data.validated_data.get("message", ""),
        )
        return Response(VersionOut(found).data)


class VersionDiffApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[
            OpenApiParameter("from", str, description="Default: the version before `to`."),
            OpenApiParameter("to", str, description="Default: the latest version."),
        ],
        responses=DiffOut,
        summary="What changed between two versions: params, steps and code files",
    )
    def get(self, request, namespace: str, name: str):
        asset = asset_get(user=request.user, namespace=namespace, name=name)
        old, new = diff_versions_pick(
            asset=asset, from_version=request.query_params.get("from"), to_version=request.query_params.get("to")
        )
        return Response(version_diff(old=old, new=new))
