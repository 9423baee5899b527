from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.selectors import asset_get
from registry.serializers import AssetOut

from .selectors import SORTS, gallery_search, star_count, star_for, subscription_for
from .services import star_delete, star_set, subscription_delete, subscription_set


class GalleryAssetOut(AssetOut):
    subscribers = serializers.IntegerField(source="n_subscribers")
    stars = serializers.IntegerField(source="n_stars")
    runs_30d = serializers.IntegerField(source="n_runs_30d", help_text="Runs started in the last 30 days.")

    class Meta(AssetOut.Meta):
        fields = AssetOut.Meta.fields + ["subscribers", "stars", "runs_30d"]


class GalleryListApi(APIView):
    permission_classes = [AllowAny]
    pagination_class = LimitOffsetPagination  # a plain APIView has none of its own

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str), OpenApiParameter("tag", str), OpenApiParameter("namespace", str),
            OpenApiParameter("sort", str, enum=list(SORTS)),
            OpenApiParameter("subscribed", bool), OpenApiParameter("limit", int), OpenApiParameter("offset", int),
        ],
        responses=GalleryAssetOut(many=True),
        summary="Search the gallery",
    )
    def get(self, request):
        p = request.query_params
        assets = gallery_search(
            user=request.user,
            q=p.get("q", ""),
            tag=p.get("tag", ""),
            namespace=p.get("namespace", ""),
            subscribed=p.get("subscribed") in ("1", "true"),
            sort=p.get("sort", "updated"),
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(assets, request, view=self)
        return paginator.get_paginated_response(GalleryAssetOut(page, many=True).data)


class SubscriptionIn(serializers.Serializer):
    pin = serializers.CharField(required=False, allow_blank=True, help_text="A version to pin; omit to follow the latest.")


class SubscriptionOut(serializers.Serializer):
    asset = serializers.CharField()
    subscribed = serializers.BooleanField()
    pinned_version = serializers.CharField(allow_null=True)


def _subscription_body(asset, subscription) -> dict:
    return {
        "asset": asset.full_name,
        "subscribed": subscription is not None,
        "pinned_version": subscription.pinned_version.version if subscription and subscription.pinned_version else None,
    }


class SubscriptionApi(APIView):
    @extend_schema(responses=SubscriptionOut, summary="My subscription to a workflow")
    def get(self, request, namespace: str, name: str):
        asset = asset_get(user=request.user, namespace=namespace, name=name)
        return Response(_subscription_body(asset, subscription_for(user=request.user, asset=asset)))

    @extend_schema(request=SubscriptionIn, responses=SubscriptionOut, summary="Subscribe (idempotent)")
    def put(self, request, namespace: str, name: str):
        data = SubscriptionIn(data=request.data)
        data.is_valid(raise_exception=True)
        asset = asset_get(user=request.user, namespace=namespace, name=name)
        subscription = subscription_set(user=request.user, asset=asset, pin=data.validated_data.get("pin") or None)
        return Response(_subscription_body(asset, subscription))

    @extend_schema(responses=SubscriptionOut, summary="Unsubscribe; past runs are kept")
    def delete(self, request, namespace: str, name: str):
        asset = asset_get(user=request.user, namespace=namespace, name=name)
        subscription_delete(user=request.user, asset=asset)
        return Response(_subscription_body(asset, None))


class StarOut(serializers.Serializer):
    asset = serializers.CharField()
    starred = serializers.BooleanField()
    stars = serializers.IntegerField()


def _star_body(request, asset) -> dict:
    return {
        "asset": asset.full_name,
        "starred": star_for(user=request.user, asset=asset),
        "stars": star_count(asset=asset),
    }


class StarApi(APIView):
    @extend_schema(request=None, responses=StarOut, summary="Star a workflow (idempotent)")
    def put(self, request, namespace: str, name: str):
        asset = asset_get(user=request.user, namespace=namespace, name=name)
        star_set(user=request.user, asset=asset)
        return Response(_star_body(request, asset))

    @extend_schema(responses=StarOut, summary="Remove your star (idempotent)")
    def delete(self, request, namespace: str, name: str):
        asset = asset_get(user=request.user, namespace=namespace, name=name)
        star_delete(user=request.user, asset=asset)
        return Response(_star_body(request, asset))
