"""JWTs that carry the user's token version (claim "ver").

`User.token_version` goes up on a password change, a deactivation and "sign out
everywhere"; an access or refresh token whose "ver" differs is refused (401), so tokens
issued before stop working at once, without a blacklist table.
"""

from django.contrib.auth import get_user_model
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken

TOKEN_VERSION_CLAIM = "ver"
REVOKED_MESSAGE = "token revoked: the password changed or the account signed out everywhere"


class VersionedRefreshToken(RefreshToken):
    @classmethod
    def for_user(cls, user):
        token = super().for_user(user)
        # Copied into the access token made from this refresh token.
        token[TOKEN_VERSION_CLAIM] = user.token_version
        return token


def check_token_version(user, token):
    """Raise AuthenticationFailed unless `token` was issued at the user's current version."""
    if token.get(TOKEN_VERSION_CLAIM, 0) != user.token_version:
        raise AuthenticationFailed(REVOKED_MESSAGE, code="token_revoked")


class VersionedTokenObtainPairSerializer(TokenObtainPairSerializer):
    token_class = VersionedRefreshToken


class VersionedTokenRefreshSerializer(TokenRefreshSerializer):
    token_class = VersionedRefreshToken

    def validate(self, attrs):
        refresh = self.token_class(attrs["refresh"])
        user = (
            get_user_model()
            .objects.filter(**{api_settings.USER_ID_FIELD: refresh.payload.get(api_settings.USER_ID_CLAIM)})
            .first()
        )
        if user is None or not user.is_active:
            raise AuthenticationFailed("no active account for this token", code="no_active_account")
        check_token_version(user, refresh)
        return super().validate(attrs)
