from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import writable_teams
from core.errors import NotAuthenticated

from .ratelimit import auth_failed, auth_throttle
from .request_context import client_ip
from .services import ALL_SCOPES, token_create


class MeOut(serializers.Serializer):
    username = serializers.CharField()
    namespaces = serializers.ListField(child=serializers.CharField())
    token = serializers.CharField(allow_null=True)


class MeApi(APIView):
    @extend_schema(responses=MeOut, summary="Who am I")
    def get(self, request):
        token = getattr(request.auth, "prefix", None)
        return Response(
            {
                "username": request.user.username,
                "namespaces": [t.slug for t in writable_teams(request.user)],
                "token": f"{token}…" if token else None,
            }
        )


class TokenIn(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"})
    name = serializers.CharField(default="cli", max_length=100)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=ALL_SCOPES), required=False,
                                   help_text="Default: all four, as the password itself allows everything.")


class LoginTokenOut(serializers.Serializer):
    token = serializers.CharField()
    prefix = serializers.CharField()
    name = serializers.CharField()


class TokenLoginApi(APIView):
    """Exchange a username and password for a new personal API token (used by ``flowdeck login``)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=TokenIn, responses={201: LoginTokenOut}, summary="Create a token with a password")
    def post(self, request):
        data = TokenIn(data=request.data)
        data.is_valid(raise_exception=True)
        username, ip = data.validated_data["username"], client_ip(request)
        auth_throttle(ip=ip, username=username, endpoint="login")
        user = authenticate(request, username=username, password=data.validated_data["password"])
        if user is None:
            auth_failed(ip=ip, username=username, endpoint="login")
            raise NotAuthenticated("Wrong username or password.")
        token, plaintext = token_create(user=user, name=data.validated_data["name"],
                                        scopes=data.validated_data.get("scopes") or list(ALL_SCOPES))
        return Response({"token": plaintext, "prefix": token.prefix, "name": token.name}, status=201)
