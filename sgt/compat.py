"""The SGT contract (shared/specs/sgt-api.md): POST JSON under /sgt/public/, the API key
in the body, 200 with the documented body, every error 400 {"exception", "message"}.

The two auth endpoints (/sgt/private/update_auth_token, /sgt/public/check_auth_token)
live in accounts.compat.
"""

import logging

from django.conf import settings
from django.http import Http404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from core.envelopes import fail, ok
from core.errors import DomainError, InvalidInput, TooLarge
from core.parsers import JSONParser

from . import selectors, services

logger = logging.getLogger(__name__)



class SgtView(APIView):
    envelope = "sgt"
    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]
    needs_key = True

    @extend_schema(tags=["sgt"], request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.ANY})
    def post(self, request):
        body = self.body(request)
        user = secret_id = None
        if self.needs_key:
            secret_id = body.get("secret_id")
            user = services.authenticate(secret_id, body.get("secret_key"))
        return ok("sgt", self.answer(body, user, secret_id))

    def answer(self, body, user, secret_id):
        raise NotImplementedError

    @staticmethod
    def body(request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.SGT_MAX_BODY_BYTES:
            raise TooLarge(f"request body must be at most {settings.SGT_MAX_BODY_BYTES // (1024 * 1024)} MB")
        data = request.data
        if not isinstance(data, dict):
            raise InvalidInput("the body must be a JSON object")
        return data

    def handle_exception(self, exc):
        # The contract answers unknown failures as 400 too, with a generic message.
        if isinstance(exc, (DomainError, exceptions.APIException, Http404)):
            return super().handle_exception(exc)
        logger.exception("SGT %s failed", self.request.path)
        return fail("sgt", "internal error", exception="InternalException")


def required(body, *fields):
    missing = [f for f in fields if f not in body]
    if missing:
        raise InvalidInput(f"missing field(s): {', '.join(missing)}")
    return [body[f] for f in fields]


class ListModelTypes(SgtView):
    # The spec lists no parameters: the type names are public.
    needs_key = False

    def answer(self, body, user, secret_id):
        return selectors.list_model_types()


class CreateModel(SgtView):
    def answer(self, body, user, secret_id):
        name, app_name, model_type, in_size, out_size = required(
            body, "name", "app_name", "model_type", "in_size", "out_size"
        )
        services.create_model(
            user, secret_id, name=name, app_name=app_name, model_type=model_type, in_size=in_size,
            out_size=out_size, client_data=body.get("client_data"), is_public=body.get("is_public", False),
        )
        return None


class DeleteModel(SgtView):
    def answer(self, body, user, secret_id):
        name, app_name = required(body, "name", "app_name")
        services.delete_model(user, app_name, name)
        return None


class UpdateClientData(SgtView):
    def answer(self, body, user, secret_id):
        name, app_name = required(body, "name", "app_name")
        services.update_model(
            user, app_name, name,
            client_data=body["client_data"] if "client_data" in body else services.UNSET,
            is_public=body["is_public"] if "is_public" in body else services.UNSET,
        )
        return None


class ReadMyModels(SgtView):
    def answer(self, body, user, secret_id):
        return [selectors.spec_object(m) for m in selectors.models_of(user)]


class ReadPublicModels(SgtView):
    def answer(self, body, user, secret_id):
        return [selectors.spec_object(m) for m in selectors.public_models()]


class CloneModel(SgtView):
    def answer(self, body, user, secret_id):
        new_name, app_name, author, name = required(body, "new_name", "app_name", "author_unique_id", "name")
        services.clone_model(user, secret_id, author_unique_id=author, app_name=app_name, name=name,
                             new_name=new_name)
        return None


class RunModel(SgtView):
    @extend_schema(tags=["sgt"], request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.ANY})
    def post(self, request):
        body = self.body(request)
        if not all(field in body for field in ("name", "app_name", "data")):
            return super().post(request)  # the key is checked first, then the missing field is named
        # The hot path: key, user and model in one read, no write (see services.run_model_with_key).
        answer = services.run_model_with_key(
            secret_id=body.get("secret_id"), secret_key=body.get("secret_key"), app_name=body["app_name"],
            name=body["name"], data=body["data"],
        )
        return ok("sgt", answer.tolist())

    def answer(self, body, user, secret_id):
        name, app_name, data = required(body, "name", "app_name", "data")
        return services.run_model(user, app_name, name, data).tolist()


class UploadTrainData(SgtView):
    def answer(self, body, user, secret_id):
        name, app_name, train_data = required(body, "name", "app_name", "train_data")
        services.upload_train_data(user, app_name, name, train_data)
        return None


ENDPOINTS = {
    "list_model_type": ListModelTypes,
    "create_sgt_model": CreateModel,
    "delete_sgt_model": DeleteModel,
    "update_sgt_model_client_data": UpdateClientData,
    "read_my_sgt_model": ReadMyModels,
    "read_public_sgt_model": ReadPublicModels,
    "clone_sgt_model_to_mine": CloneModel,
    "run_sgt_model": RunModel,
    "upload_sgt_model_train_data": UploadTrainData,
}

urlpatterns = [path(f"sgt/public/{name}", view.as_view(), name=name) for name, view in ENDPOINTS.items()]
