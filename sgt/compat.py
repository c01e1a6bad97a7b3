"""The SGT contract (shared/specs/sgt-api.md): POST JSON under /sgt/public/, the API key
in the body, 200 with the documented body, every error 400 {"exception", "message"}.
Built from core.facades (the "sgt" kind: the answer is the data itself, or null).

The two auth endpoints (/sgt/private/update_auth_token, /sgt/public/check_auth_token)
live in accounts.compat.
"""

import logging

from django.conf import settings
from django.http import Http404
from django.urls import path
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny

from core.envelopes import fail
from core.errors import DomainError, InvalidInput, TooLarge
from core.facades import FacadeView, facade
from core.parsers import JSONParser

from . import selectors, services
from .models import SgtModel

logger = logging.getLogger(__name__)
TAGS = ["sgt"]
NAMES = {"type": "array", "items": {"type": "string"}}
MATRIX = {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}


def Value(**kwargs):
    """Any JSON value: the services check it and name the field in their messages."""
    return serializers.JSONField(**kwargs)


class Key(serializers.Serializer):
    secret_id = Value(default=None, help_text="the API key's id")
    secret_key = Value(default=None, help_text="its secret")


class ModelName(Key):
    app_name = Value()
    name = Value()


class SgtModelRow(serializers.ModelSerializer):
    """The model object of the SGT contract, plus its training state (additions)."""

    epochs = serializers.IntegerField(source="epochs_trained")

    class Meta:
        model = SgtModel
        fields = ["user_unique_id", "name", "client_data", "app_name", "model_type", "in_size", "out_size",
                  "is_public", "train_state", "sample_count", "last_loss", "epochs"]


class SgtView(FacadeView):
    envelope, tags, Input = "sgt", TAGS, Key
    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]

    def body(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.SGT_MAX_BODY_BYTES:
            raise TooLarge(f"request body must be at most {settings.SGT_MAX_BODY_BYTES // (1024 * 1024)} MB")
        if not isinstance(request.data, dict):
            raise InvalidInput("the body must be a JSON object")
        return request.data

    def read(self, request):
        """(user, secret_id, fields) of the body: the key is checked first, then the fields."""
        body = self.body(request)
        user = services.authenticate(body.get("secret_id"), body.get("secret_key"))
        fields = self.input(request)
        fields.pop("secret_key")
        return user, fields.pop("secret_id"), fields

    def handle_exception(self, exc):
        # The contract answers unknown failures as 400 too, with a generic message.
        if isinstance(exc, (DomainError, exceptions.APIException, Http404)):
            return super().handle_exception(exc)
        logger.exception("SGT %s failed", self.request.path)
        return fail("sgt", "internal error", exception="InternalException")


class ListModelTypes(SgtView):
    Input = None  # the spec lists no parameters: the type names are public

    @facade(summary="The model types", output=NAMES)
    def post(self, request):
        self.body(request)
        return self.answer(selectors.list_model_types())


class CreateModel(SgtView):
    class Input(ModelName):
        model_type = Value()
        in_size = Value()
        out_size = Value()
        client_data = Value(required=False, allow_null=True)
        is_public = Value(required=False)

    @facade(summary="Create a model")
    def post(self, request):
        user, secret_id, fields = self.read(request)
        services.create_model(user, secret_id, **fields)
        return self.answer(None)


class DeleteModel(SgtView):
    Input = ModelName

    @facade(summary="Delete one of your models")
    def post(self, request):
        user, _, fields = self.read(request)
        services.delete_model(user, **fields)
        return self.answer(None)


class UpdateClientData(SgtView):
    class Input(ModelName):
        client_data = Value(required=False, allow_null=True)
        is_public = Value(required=False)

    @facade(summary="Change a model's client_data (and is_public)")
    def post(self, request):
        user, _, fields = self.read(request)
        services.update_model(user, **fields)
        return self.answer(None)


class ReadMyModels(SgtView):
    @facade(summary="Your models", output=SgtModelRow(many=True))
    def post(self, request):
        user, _, _ = self.read(request)
        return self.answer(SgtModelRow(selectors.models_of(user), many=True).data)


class ReadPublicModels(SgtView):
    @facade(summary="Everyone's public models", output=SgtModelRow(many=True))
    def post(self, request):
        self.read(request)
        return self.answer(SgtModelRow(selectors.public_models(), many=True).data)


class CloneModel(SgtView):
    class Input(ModelName):
        author_unique_id = Value()
        new_name = Value()

    @facade(summary="Copy a public model (or one of yours) under a new name")
    def post(self, request):
        user, secret_id, fields = self.read(request)
        services.clone_model(user, secret_id, **fields)
        return self.answer(None)


class RunModel(SgtView):
    class Input(ModelName):
        data = Value(help_text="rows of in_size numbers")

    @facade(summary="Run a trained model on rows of inputs", output=MATRIX)
    def post(self, request):
        body = self.body(request)
        if not {"name", "app_name", "data"} <= set(body):
            services.authenticate(body.get("secret_id"), body.get("secret_key"))  # the key first, then the field
        # The hot path: key, user and model in one read, no write (see services.run_model_with_key).
        return self.answer(services.run_model_with_key(**self.input(request)).tolist())


class UploadTrainData(SgtView):
    class Input(ModelName):
        train_data = Value(help_text="rows of in_size + out_size numbers")

    @facade(summary="Add training rows to a model and train it")
    def post(self, request):
        user, _, fields = self.read(request)
        services.upload_train_data(user, **fields)
        return self.answer(None)


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
