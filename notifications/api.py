from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import Notification
from .selectors import notification_list, unread_count
from .services import notifications_mark_read


class NotificationOut(serializers.ModelSerializer):
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "url", "created_at", "read_at", "read"]

    def get_read(self, obj) -> bool:
        return obj.read_at is not None


class NotificationsApi(APIView):
    pagination_class = LimitOffsetPagination

    @extend_schema(
        parameters=[OpenApiParameter("unread", bool), OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
        responses=NotificationOut(many=True),
        summary="My notifications, newest first",
    )
    def get(self, request):
        found = notification_list(user=request.user, unread_only=request.query_params.get("unread") in ("1", "true"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(found, request, view=self)
        response = paginator.get_paginated_response(NotificationOut(page, many=True).data)
        response.data["unread"] = unread_count(user=request.user)
        return response


class ReadIn(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(), required=False, help_text="Default: all.")


class ReadOut(serializers.Serializer):
    marked = serializers.IntegerField()
    unread = serializers.IntegerField()


class NotificationsReadApi(APIView):
    @extend_schema(request=ReadIn, responses=ReadOut, summary="Mark notifications read (all, or the ids given)")
    def post(self, request):
        data = ReadIn(data=request.data)
        data.is_valid(raise_exception=True)
        marked = notifications_mark_read(user=request.user, ids=data.validated_data.get("ids"))
        return Response({"marked": marked, "unread": unread_count(user=request.user)})
