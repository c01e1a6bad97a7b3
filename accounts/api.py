"""The clean accounts API under /api/v1/: tokens, profile, API keys, quota.

Errors are DRF's usual `{"detail": ...}` (field errors as `{"field": [...]}`); domain
errors add `"type"` (core.envelopes.exception_handler).
"""

from collections.abc import Mapping

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from core.errors import Forbidden, NotFound
from core.parsers import JSONParser

from . import selectors, services
from .serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    MeSerializer,
    ProfileUpdateSerializer,
    QuotaSerializer,
    TeamInvitationCreateSerializer,
    TeamInvitationSerializer,
)
from .throttling import LoginThrottle
from .tokens import VersionedTokenObtainPairSerializer, VersionedTokenRefreshSerializer

TAGS = ["accounts"]


@extend_schema(tags=TAGS, summary="Obtain a JWT access and refresh token pair (throttled)")
class TokenObtainView(TokenObtainPairView):
    serializer_class = VersionedTokenObtainPairSerializer
    throttle_classes = [LoginThrottle]


@extend_schema(tags=TAGS, summary="Exchange a refresh token for a new access token")
class TokenRefreshApiView(TokenRefreshView):
    serializer_class = VersionedTokenRefreshSerializer


class SignOutEverywhereView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="End every session and make every JWT issued so far invalid (API keys stay)",
        request=None,
        responses={204: OpenApiResponse(description="Signed out everywhere")},
    )
    def post(self, request):
        services.sign_out_everywhere(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(tags=TAGS, summary="The authenticated user", responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)

    @extend_schema(
        tags=TAGS,
        summary="Change your avatar (multipart). The team is read-only: administrators manage teams",
        request={"multipart/form-data": ProfileUpdateSerializer, "application/json": ProfileUpdateSerializer},
        responses=MeSerializer,
    )
    def patch(self, request):
        if isinstance(request.data, Mapping) and "team" in request.data:
            raise Forbidden("team: teams are managed by administrators; ask one to add you to a team")
        serializer = ProfileUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.update_profile(request.user, avatar=serializer.validated_data.get("avatar"))
        return Response(MeSerializer(user).data)


class TeamInvitationListView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Team invitations sent to you, and those of the teams you administer",
        responses=TeamInvitationSerializer(many=True),
    )
    def get(self, request):
        return Response(TeamInvitationSerializer(selectors.team_invitations_of(request.user), many=True).data)

    @extend_schema(
        tags=TAGS,
        summary="Invite a user into a team you are an admin of (they join by accepting)",
        request=TeamInvitationCreateSerializer,
        responses={201: TeamInvitationSerializer},
    )
    def post(self, request):
        serializer = TeamInvitationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        invitation = services.invite_to_team(actor=request.user, team_name=data["team"], username=data["username"])
        return Response(TeamInvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class TeamInvitationDetailView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Decline an invitation sent to you, or withdraw one of your team's",
        responses={204: OpenApiResponse(description="Deleted"), 404: OpenApiResponse(description="No such invitation")},
    )
    def delete(self, request, pk):
        services.withdraw_team_invitation(actor=request.user, invitation_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TeamInvitationAcceptView(APIView):
    @extend_schema(tags=TAGS, summary="Accept an invitation sent to you: join its team", request=None, responses=MeSerializer)
    def post(self, request, pk):
        user = services.accept_team_invitation(user=request.user, invitation_id=pk)
        return Response(MeSerializer(user).data)


class ApiKeyListView(APIView):
    @extend_schema(tags=TAGS, summary="The caller's API keys (revoked ones included)", responses=ApiKeySerializer(many=True))
    def get(self, request):
        return Response(ApiKeySerializer(selectors.api_keys_of(request.user), many=True).data)

    @extend_schema(
        tags=TAGS,
        summary="Create an API key; the secret key is in this answer only",
        request=ApiKeyCreateSerializer,
        responses={201: ApiKeyCreatedSerializer},
    )
    def post(self, request):
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key, secret_key = services.create_api_key(
            request.user, description=data["description"], end_time=data["end_time"], secret_id=data.get("secret_id")
        )
        key.secret_key = secret_key
        return Response(ApiKeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED)


class ApiKeyDetailView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Revoke one of the caller's API keys",
        responses={204: OpenApiResponse(description="Revoked"), 404: OpenApiResponse(description="No such key of yours")},
    )
    def delete(self, request, secret_id):
        if not services.revoke_api_key(request.user, secret_id):
            raise NotFound("no API key of yours has this secret_id")
        return Response(status=status.HTTP_204_NO_CONTENT)


class QuotaView(APIView):
    @extend_schema(tags=TAGS, summary="The caller's compute and storage quota, use and remains", responses=QuotaSerializer)
    def get(self, request):
        resources = selectors.remaining_resources(request.user)
        storage = selectors.storage_status(request.user)
        data = {
            "resources": {
                key: resources[key]
                for key in ("initialized", "active", "start_time", "end_time", "limits", "used", "remain")
            },
            "storage": {
                "initialized": storage["initialized"],
                "bytes_quota": storage["bytes_quota"],
                "bytes_used": storage["used_bytes"],
                "bytes_remain": storage["bytes_remain"],
                "inodes_quota": storage["inodes_quota"],
                "inodes_used": storage["used_inodes"],
                "inodes_remain": storage["inodes_remain"],
                "start_time": storage["start_time"],
                "end_time": storage["end_time"],
            },
        }
        return Response(QuotaSerializer(data).data)


urlpatterns = [
    path("api/v1/auth/token/", TokenObtainView.as_view(), name="api-token"),
    path("api/v1/auth/token/refresh/", TokenRefreshApiView.as_view(), name="api-token-refresh"),
    path("api/v1/auth/sign-out-everywhere/", SignOutEverywhereView.as_view(), name="api-sign-out-everywhere"),
    path("api/v1/me/", MeView.as_view(), name="api-me"),
    path("api/v1/team-invitations/", TeamInvitationListView.as_view(), name="api-team-invitations"),
    path("api/v1/team-invitations/<int:pk>/", TeamInvitationDetailView.as_view(), name="api-team-invitation"),
    path(
        "api/v1/team-invitations/<int:pk>/accept/", TeamInvitationAcceptView.as_view(), name="api-team-invitation-accept"
    ),
    path("api/v1/api-keys/", ApiKeyListView.as_view(), name="api-keys"),
    path("api/v1/api-keys/<str:secret_id>/", ApiKeyDetailView.as_view(), name="api-key-detail"),
    path("api/v1/quota/", QuotaView.as_view(), name="api-quota"),
]
