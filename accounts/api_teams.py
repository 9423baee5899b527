"""Team API: create teams, manage members and quotas, read usage."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import Team
from .selectors import my_role, team_get, team_list, team_members
from .serializers import (
    MemberIn,
    MemberOut,
    QuotaIn,
    QuotaOut,
    RoleIn,
    TeamDetailOut,
    TeamIn,
    TeamOut,
    TeamUpdateIn,
    quota_data,
    usage_data,
)
from .services import membership_remove, membership_set, quota_set, team_create, team_update


def team_detail(user, team: Team) -> dict:
    return {
        **TeamOut(team).data,
        "role": my_role(user=user, team=team),
        "members": MemberOut(team_members(team=team), many=True).data,
        "quota": quota_data(team),
        "usage": usage_data(team),
    }


class TeamsApi(APIView):
    @extend_schema(responses=TeamOut(many=True), summary="The teams I belong to")
    def get(self, request):
        return Response(TeamOut(team_list(user=request.user), many=True).data)

    @extend_schema(request=TeamIn, responses={201: TeamDetailOut}, summary="Create a team (you become its admin)")
    def post(self, request):
        data = TeamIn(data=request.data)
        data.is_valid(raise_exception=True)
        team = team_create(owner=request.user, **data.validated_data)
        return Response(team_detail(request.user, team), status=201)


class TeamDetailApi(APIView):
    required_scope = "admin"

    @extend_schema(responses=TeamDetailOut, summary="A team: members, quotas and usage")
    def get(self, request, slug: str):
        return Response(team_detail(request.user, team_get(user=request.user, slug=slug)))

    @extend_schema(request=TeamUpdateIn, responses=TeamDetailOut, summary="Change a team's settings (admins)")
    def patch(self, request, slug: str):
        team = team_get(user=request.user, slug=slug)
        data = TeamUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        team_update(actor=request.user, team=team, **data.validated_data)
        return Response(team_detail(request.user, team))


class TeamMembersApi(APIView):
    required_scope = "admin"

    @extend_schema(responses=MemberOut(many=True), summary="A team's members")
    def get(self, request, slug: str):
        team = team_get(user=request.user, slug=slug)
        return Response(MemberOut(team_members(team=team), many=True).data)

    @extend_schema(request=MemberIn, responses={201: MemberOut}, summary="Add a member, or change their role (admins)")
    def post(self, request, slug: str):
        team = team_get(user=request.user, slug=slug)
        data = MemberIn(data=request.data)
        data.is_valid(raise_exception=True)
        membership = membership_set(team=team, user=data.validated_data["username"], role=data.validated_data["role"],
                                    actor=request.user)
        return Response(MemberOut(membership).data, status=201)


class TeamMemberApi(APIView):
    required_scope = "admin"

    @extend_schema(request=RoleIn, responses=MemberOut, summary="Change a member's role (admins; not the last admin)")
    def patch(self, request, slug: str, username: str):
        team = team_get(user=request.user, slug=slug)
        data = RoleIn(data=request.data)
        data.is_valid(raise_exception=True)
        membership = membership_set(team=team, user=username, role=data.validated_data["role"], actor=request.user)
        return Response(MemberOut(membership).data)

    @extend_schema(request=None, responses={204: None}, summary="Remove a member (admins), or leave a team")
    def delete(self, request, slug: str, username: str):
        team = team_get(user=request.user, slug=slug)
        membership_remove(team=team, user=username, actor=request.user)
        return Response(status=204)


class TeamQuotaApi(APIView):
    required_scope = "admin"

    @extend_schema(responses=QuotaOut, summary="A team's quotas")
    def get(self, request, slug: str):
        return Response(quota_data(team_get(user=request.user, slug=slug)))

    @extend_schema(request=QuotaIn, responses=QuotaOut,
                   summary="Change a team's quotas (team admins and site admins; null = site default, 0 = none)")
    def patch(self, request, slug: str):
        team = team_get(user=request.user, slug=slug)
        data = QuotaIn(data=request.data)
        data.is_valid(raise_exception=True)
        quota_set(actor=request.user, team=team, **data.validated_data)
        return Response(quota_data(team))
