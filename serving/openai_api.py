"""The OpenAI-compatible API on Crucible's gateway: /v1/models, /v1/completions,
/v1/chat/completions and /v1/embeddings.

`model` names a service the caller may call: their own by name, one shared with them (with
everyone or their team) as `owner/name` (or by name when no other is called so). Authentication is Crucible's:
an API key as `Authorization: Bearer <secret_id>:<secret_key>` (what the OpenAI clients
send as api_key), a JWT, or the session (with CSRF) for the playground page. Errors have
OpenAI's shape, {"error": {"message", "type", "param", "code"}}, with a 4xx status.
Streams are server-sent events: `data: {chunk}` lines, then `data: [DONE]`.
"""

import json

from django.http import StreamingHttpResponse
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import ApiKeyAuthentication, BearerJWTAuthentication
from core.errors import DomainError

from . import conf, gateway, selectors, services

TAGS = ["OpenAI-compatible API (serving)"]
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
}
COMMON_KEYS = {"model", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stream", "stop", "seed", "n",
               "user", "stream_options", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs",
               "logit_bias", "metadata", "store", "service_tier", "parallel_tool_calls"}
CHAT_KEYS = COMMON_KEYS | {"messages", "response_format", "tools", "tool_choice"}
COMPLETION_KEYS = COMMON_KEYS | {"prompt", "echo", "best_of", "suffix"}
EMBEDDING_KEYS = {"model", "input", "encoding_format", "user", "dimensions"}


def error_body(message, status_code, param=None, code=None):
    return {"error": {"message": message, "type": ERROR_TYPES.get(status_code, "invalid_request_error"),
                      "param": param, "code": code}}


def openai_exception_handler(exc, context):
    if isinstance(exc, DomainError):
        code = getattr(exc, "code", None)
        if code is None and exc.status_code == 404:
            code = "model_not_found"
        retry_after = getattr(exc, "retry_after", None)
        return Response(error_body(exc.message, exc.status_code, getattr(exc, "param", None), code),
                        status=exc.status_code, headers={"Retry-After": str(retry_after)} if retry_after else None)
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        return Response(error_body(f"{exc.detail}. Send your API key as 'Authorization: Bearer "
                                   "<secret_id>:<secret_key>'.", 401, code="invalid_api_key"), status=401,
                        headers={"WWW-Authenticate": 'Bearer realm="crucible"'})
    if isinstance(exc, exceptions.APIException):
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return Response(error_body(str(detail), exc.status_code), status=exc.status_code)
    return None


class OpenAIView(APIView):
    # As the project's default (config.settings), with the gateway's cached key rows (below).
    authentication_classes = [BearerJWTAuthentication, ApiKeyAuthentication, SessionAuthentication]

    def get_authenticators(self):
        """API keys whose rows this process read up to conf.KEY_CACHE_S seconds ago are not read
        again (the secret, the key's end time and scope are checked on every request): a key revoked
        in another process stops working here within that time (docs/serving.md, "The gateway's
        caches"). Set on the instance, so that the OpenAPI schema sees the one ApiKeyAuthentication."""
        authenticators = super().get_authenticators()
        for authenticator in authenticators:
            if isinstance(authenticator, ApiKeyAuthentication):
                authenticator.max_age = conf.KEY_CACHE_S
        return authenticators

    def get_exception_handler(self):
        return openai_exception_handler

    def body(self, request, known):
        if not isinstance(request.data, dict):
            raise gateway.ModelError("the body must be a JSON object")
        unknown = sorted(set(request.data) - known)
        if unknown:
            raise gateway.ModelError(f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0])
        data = request.data
        if "model" not in data:
            raise gateway.ModelError("you must provide a model parameter", param="model")
        if data.get("n") not in (None, 1):
            raise gateway.ModelError("n: only 1 choice per request is supported", param="n")
        for name in ("presence_penalty", "frequency_penalty"):
            if data.get(name) not in (None, 0, 0.0):
                raise gateway.ModelError(f"{name} is not supported; leave it at 0", param=name)
        if data.get("logprobs") not in (None, False) or data.get("echo") or data.get("suffix") or data.get("tools"):
            raise gateway.ModelError("logprobs, echo, suffix and tools are not supported", param="logprobs")
        if data.get("best_of") not in (None, 1):
            raise gateway.ModelError("best_of: only 1 is supported", param="best_of")
        stream = data.get("stream", False)
        if stream not in (True, False, None):
            raise gateway.ModelError("stream must be a boolean", param="stream")
        seed = data.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32):
            raise gateway.ModelError("seed must be an integer from 0 to 2^32-1", param="seed")
        return data

    def sampling(self, data, default_max_tokens, default_temperature):
        max_tokens = data.get("max_completion_tokens", data.get("max_tokens"))
        temperature = data.get("temperature")
        top_p = data.get("top_p")
        return {
            "max_tokens": default_max_tokens if max_tokens is None else max_tokens,
            "temperature": default_temperature if temperature is None else temperature,
            "top_p": 1.0 if top_p is None else top_p,
            "stop": data.get("stop"),
            "seed": data.get("seed"),
            "stream": bool(data.get("stream")),
        }


def sse(chunks):
    def events():
        try:
            for chunk in chunks:
                yield f"data: {json.dumps(chunk)}\n\n"
        except DomainError as exc:
            yield f"data: {json.dumps(error_body(exc.message, exc.status_code))}\n\n"
        except Exception as exc:  # the replica went away mid-answer
            yield f"data: {json.dumps(error_body(f'the stream broke: {exc}', 503))}\n\n"
        yield "data: [DONE]\n\n"

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


# --- the protocol's shapes: what the OpenAPI document says and what the model routes answer --------------------------


class OpenAIModel(serializers.Serializer):
    id = serializers.CharField(source="name")
    object = serializers.SerializerMethodField()
    created = serializers.SerializerMethodField()
    owned_by = serializers.CharField(source="owner")
    status = serializers.CharField()
    kind = serializers.CharField()
    shared = serializers.SerializerMethodField()

    def get_object(self, row) -> str:
        return "model"

    def get_created(self, row) -> int:
        return int(row["created"].timestamp())

    def get_shared(self, row) -> bool:
        return not row["own"]


class ModelList(serializers.Serializer):
    object = serializers.CharField(default="list")
    data = OpenAIModel(many=True)


class Sampling(serializers.Serializer):
    model = serializers.CharField(help_text="a service you may call: its name, or owner/name when shared")
    max_tokens = serializers.IntegerField(required=False, min_value=1)
    max_completion_tokens = serializers.IntegerField(required=False, min_value=1)
    temperature = serializers.FloatField(required=False, min_value=0, max_value=2)
    top_p = serializers.FloatField(required=False, min_value=0, max_value=1)
    stream = serializers.BooleanField(required=False, help_text="server-sent events, then data: [DONE]")
    stop = serializers.JSONField(required=False, help_text="a string or a list of strings")
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**32 - 1)
    user = serializers.CharField(required=False)


class ChatMessage(serializers.Serializer):
    role = serializers.ChoiceField(["system", "user", "assistant"])
    content = serializers.CharField()


class ChatRequest(Sampling):
    messages = ChatMessage(many=True)


class CompletionRequest(Sampling):
    prompt = serializers.JSONField(help_text="a string or a list of strings")


class EmbeddingRequest(serializers.Serializer):
    model = serializers.CharField()
    input = serializers.JSONField(help_text="a string or a list of strings")
    encoding_format = serializers.ChoiceField(["float", "base64"], required=False)


class Usage(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField(required=False)
    total_tokens = serializers.IntegerField()


class Choice(serializers.Serializer):
    index = serializers.IntegerField()
    message = ChatMessage(required=False, help_text="chat completions")
    text = serializers.CharField(required=False, help_text="text completions")
    finish_reason = serializers.CharField(allow_null=True)


class CompletionAnswer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(help_text="chat.completion or text_completion")
    created = serializers.IntegerField()
    model = serializers.CharField()
    choices = Choice(many=True)
    usage = Usage()


class Embedding(serializers.Serializer):
    object = serializers.CharField(default="embedding")
    index = serializers.IntegerField()
    embedding = serializers.ListField(child=serializers.FloatField())


class EmbeddingAnswer(serializers.Serializer):
    object = serializers.CharField(default="list")
    data = Embedding(many=True)
    model = serializers.CharField()
    usage = Usage()


class ModelListView(OpenAIView):
    @extend_schema(
        tags=TAGS, summary="The services you may call (your own and those shared with you), as OpenAI models",
        responses={200: ModelList}, operation_id="v1_models_list",
    )
    def get(self, request):
        return Response(ModelList({"data": selectors.callable_services(request.user)}).data)


class ModelDetailView(OpenAIView):
    @extend_schema(tags=TAGS, summary="One service as an OpenAI model", responses={200: OpenAIModel})
    def get(self, request, model):
        for row in selectors.callable_services(request.user):
            if row["name"] == model:
                return Response(OpenAIModel(row).data)
        raise gateway.ModelError(f"The model `{model}` does not exist or you do not have access to it.",
                                 status_code=404, param="model", code="model_not_found")


class ChatCompletionView(OpenAIView):
    @extend_schema(tags=TAGS, summary="Chat completion (stream: true for server-sent events)", request=ChatRequest,
                   responses={200: CompletionAnswer})
    def post(self, request):
        data = self.body(request, CHAT_KEYS)
        options = self.sampling(data, 128, 1.0)
        result = services.chat_completion(user=request.user, model=data["model"], messages=data.get("messages"),
                                          **options)
        return sse(result) if options["stream"] else Response(result)


class CompletionView(OpenAIView):
    @extend_schema(tags=TAGS, summary="Text completion (stream: true for server-sent events)",
                   request=CompletionRequest, responses={200: CompletionAnswer})
    def post(self, request):
        data = self.body(request, COMPLETION_KEYS)
        if "prompt" not in data:
            raise gateway.ModelError("you must provide a prompt", param="prompt")
        options = self.sampling(data, 16, 1.0)
        result = services.completion(user=request.user, model=data["model"], prompt=data["prompt"], **options)
        return sse(result) if options["stream"] else Response(result)


class EmbeddingView(OpenAIView):
    @extend_schema(tags=TAGS, summary="Embeddings (mean-pooled sentence vectors)", request=EmbeddingRequest,
                   responses={200: EmbeddingAnswer})
    def post(self, request):
        data = self.body(request, EMBEDDING_KEYS)
        if data.get("dimensions") is not None:
            raise gateway.ModelError("dimensions is not supported: the model's own size is returned",
                                     param="dimensions")
        result = services.embeddings(user=request.user, model=data["model"], input=data.get("input"),
                                     encoding_format=data.get("encoding_format") or "float")
        return Response(result, status=status.HTTP_200_OK)


urlpatterns = [
    path("v1/models", ModelListView.as_view(), name="openai-models"),
    path("v1/models/<path:model>", ModelDetailView.as_view(), name="openai-model"),
    path("v1/chat/completions", ChatCompletionView.as_view(), name="openai-chat"),
    path("v1/completions", CompletionView.as_view(), name="openai-completions"),
    path("v1/embeddings", EmbeddingView.as_view(), name="openai-embeddings"),
]
