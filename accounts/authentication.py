"""How API requests prove who they are.

- JWT access tokens (simplejwt) in `Authorization`, with or without the `Bearer ` prefix:
  the hub spec's clients send the bare token they got in the login response header.
- API keys: `Authorization: Bearer <secret_id>:<secret_key>` (also what Hugging Face
  clients send as their token), or the headers `X-Secret-Id` and `X-Secret-Key`.
- Django sessions, for the web pages (DRF's SessionAuthentication, with CSRF).

JWTs carry the user's token version (accounts.tokens); keys set by the SGT system call
(scope "sgt") work only under /sgt/.
"""

from rest_framework import authentication, exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication

from .services import api_key_for
from .tokens import check_token_version


def _authorization_token(request):
    header = authentication.get_authorization_header(request).decode("latin-1").strip()
    if not header:
        return ""
    parts = header.split()
    if len(parts) == 2 and parts[0].lower() == "bearer":
        return parts[1]
    if len(parts) == 1:
        return parts[0]
    return ""


def _looks_like_jwt(token):
    return token.count(".") == 2 and ":" not in token


class BearerJWTAuthentication(JWTAuthentication):
    def authenticate(self, request):
        token = _authorization_token(request)
        if not token or not _looks_like_jwt(token):
            return None
        validated = self.get_validated_token(token.encode())
        user = self.get_user(validated)
        check_token_version(user, validated)
        return user, validated

    def authenticate_header(self, request):
        return 'Bearer realm="crucible"'


class ApiKeyAuthentication(authentication.BaseAuthentication):
    # How old (seconds) a cached row of the key may be (accounts.services.api_key_for); 0: read per request.
    max_age = 0

    def authenticate(self, request):
        secret_id = request.META.get("HTTP_X_SECRET_ID", "")
        secret_key = request.META.get("HTTP_X_SECRET_KEY", "")
        if not secret_id:
            token = _authorization_token(request)
            if ":" not in token:
                return None
            secret_id, _, secret_key = token.partition(":")
        key = api_key_for(secret_id, secret_key, max_age=self.max_age)
        if key is None:
            raise exceptions.AuthenticationFailed("invalid or expired API key")
        if not key.works_at(request.path_info):
            raise exceptions.AuthenticationFailed("this API key is scoped to the SGT API (/sgt/)")
        return key.user, None
