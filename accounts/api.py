"""The clean accounts API under /api/v1/: tokens, profile, API keys, quota.

Errors are DRF's usual `{"detail": ...}` (field errors as `{"field": [...]}`); domain
errors add `"type"` (core.envelopes.exception_handler).
"""

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from core.errors import NotFound
from core.parsers import JSONParser

from . import selectors, services
from .compat import AuthRateThrottle
from .serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    MeSerializer,
    ProfileUpdateSerializer,
    QuotaSerializer,
)

TAGS = ["accounts"]


@extend_schema(tags=TAGS, summary="Obtain a JWT access and refresh token pair (throttled)")
class TokenObtainView(TokenObtainPairView):
    throttle_classes = [AuthRateThrottle]
    throttle_scope = "auth"


@extend_schema(tags=TAGS, summary="Exchange a refresh token for a new access token")
class TokenRefreshApiView(TokenRefreshView):
    pass


class MeView(APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(tags=TAGS, summary="The authenticated user", responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)

    @extend_schema(
        tags=TAGS,
        summary="Change team and/or avatar (multipart for the avatar)",
        request={"multipart/form-data": ProfileUpdateSerializer, "application/json": ProfileUpdateSerializer},
        responses=MeSerializer,
    )
    def patch(self, request):
        serializer = ProfileUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = services.update_profile(request.user, team_name=data.get("team"), avatar=data.get("avatar"))
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
    path("api/v1/me/", MeView.as_view(), name="api-me"),
    path("api/v1/api-keys/", ApiKeyListView.as_view(), name="api-keys"),
    path("api/v1/api-keys/<str:secret_id>/", ApiKeyDetailView.as_view(), name="api-key-detail"),
    path("api/v1/quota/", QuotaView.as_view(), name="api-quota"),
]
