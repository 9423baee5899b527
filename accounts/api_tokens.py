"""Token API: list, create and revoke personal and team service tokens."""
from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import Forbidden, InvalidInput

from .ratelimit import auth_throttle
from .request_context import client_ip
from .selectors import service_tokens_of, team_get, token_get, tokens_of
from .serializers import TokenCreatedOut, TokenCreateIn, TokenOut
from .services import service_token_create, token_create, token_revoke


def _caller_token(request):
    return request.auth if hasattr(request.auth, "scopes") else None


class TokensApi(APIView):
    # Tokens that list, make or revoke tokens must themselves be admin tokens.
    required_scope = read_scope = "admin"

    @extend_schema(parameters=[OpenApiParameter("team", str, description="A team slug: its service tokens (admins)")],
                   responses=TokenOut(many=True), summary="My personal tokens, or a team's service tokens")
    def get(self, request):
        slug = request.query_params.get("team")
        if slug:
            tokens = service_tokens_of(user=request.user, team=team_get(user=request.user, slug=slug))
        else:
            tokens = tokens_of(user=request.user)
        return Response(TokenOut(tokens, many=True).data)

    @extend_schema(request=TokenCreateIn, responses={201: TokenCreatedOut},
                   summary="Create a token; the plaintext is in this answer only")
    def post(self, request):
        auth_throttle(ip=client_ip(request), username=request.user.get_username(), endpoint="tokens")
        data = TokenCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        expires_at = v.get("expires_at")
        if v.get("expires_in_days"):
            if expires_at:
                raise InvalidInput("Give expires_at or expires_in_days, not both.", field="expires_in_days")
            expires_at = timezone.now() + timedelta(days=v["expires_in_days"])
        if expires_at is not None and expires_at <= timezone.now():
            raise InvalidInput("The expiry must be in the future.", field="expires_at")
        caller = _caller_token(request)
        if caller is not None and not set(v.get("scopes") or ["read", "write", "run"]) <= set(caller.scopes):
            raise Forbidden("A token can only make tokens with scopes it has itself.", field="scopes")
        if v.get("team"):
            team = team_get(user=request.user, slug=v["team"])
            token, plaintext = service_token_create(actor=request.user, team=team, name=v["name"],
                                                    scopes=v.get("scopes"), expires_at=expires_at)
        else:
            token, plaintext = token_create(user=request.user, name=v["name"], scopes=v.get("scopes"),
                                            expires_at=expires_at)
        return Response({**TokenOut(token).data, "token": plaintext}, status=201)


class TokenDetailApi(APIView):
    required_scope = read_scope = "admin"

    @extend_schema(responses=TokenOut, summary="A token")
    def get(self, request, token_id: int):
        return Response(TokenOut(token_get(user=request.user, token_id=token_id)).data)

    @extend_schema(request=None, responses=TokenOut, summary="Revoke a token: refused from the next request on")
    def delete(self, request, token_id: int):
        token = token_get(user=request.user, token_id=token_id)
        token_revoke(token=token, actor=request.user)
        token.refresh_from_db()
        return Response(TokenOut(token).data)
