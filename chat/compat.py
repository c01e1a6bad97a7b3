"""chat-api.md under /myapp/ (register and login live in accounts.compat).

Bodies are form-encoded or JSON. Success answers follow the spec; errors come out as
{"code": <HTTP status>, "msg": "..."} (envelope "chat", core.envelopes).

CSRF: the spec's clients post with the session cookie from /myapp/login/ and no CSRF
token. These views accept that session without a token and rely on the session cookie's
SameSite=Lax (Django's default), which keeps browsers from sending it on cross-site POSTs.
JWT and API keys work as everywhere else.
"""

from django.urls import path
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import ApiKeyAuthentication, BearerJWTAuthentication
from core.envelopes import ok
from core.parsers import JSONParser

from . import selectors, services


class SameSiteSessionAuthentication(SessionAuthentication):
    """The Django session without DRF's CSRF check; SameSite=Lax guards against cross-site use."""

    def enforce_csrf(self, request):
        return None


class SameSiteSessionScheme(SessionScheme):
    target_class = "chat.compat.SameSiteSessionAuthentication"
    name = "chatSession"

    def get_security_definition(self, auto_schema):
        definition = super().get_security_definition(auto_schema)
        definition["description"] = "The session cookie of /myapp/login/; no CSRF token (SameSite=Lax cookie)"
        return definition


class ChatFacadeView(APIView):
    envelope = "chat"
    authentication_classes = [BearerJWTAuthentication, ApiKeyAuthentication, SameSiteSessionAuthentication]
    parser_classes = [JSONParser, FormParser, MultiPartParser]


def validated(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class AddChatSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, help_text="Must be the logged-in user's name")
    chat_id = serializers.CharField(max_length=64, help_text="The client's id for the conversation, unique per user")
    chat_title = serializers.CharField(max_length=services.MAX_TITLE)
    chat_content = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=services.MAX_CONTENT,
        help_text="The message; empty: only create (or rename) the conversation",
    )
    chat_tpye = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=2,
        help_text="0 (default): a user message, the assistant replies (stored as chatcar); "
        "1: record an assistant (chatcar) message as given; 2: record a user message without a reply",
    )
    model = serializers.CharField(
        required=False, allow_blank=True, max_length=200,
        help_text='Extension: "backend:<name>", "serving:<name>" or "serving:<owner>/<name>" (a service shared '
        "with you); the conversation keeps it",
    )


class ChatIdSerializer(serializers.Serializer):
    chat_id = serializers.CharField(max_length=64)
    username = serializers.CharField(max_length=150, required=False, help_text="Checked against the logged-in user")


class PromptSerializer(serializers.Serializer):
    prompt_title = serializers.CharField(max_length=100)
    prompt_text = serializers.CharField(max_length=4000)


class HistorySerializer(serializers.Serializer):
    chat_title = serializers.CharField(max_length=services.MAX_TITLE)


CHAT_BODY = inline_serializer(
    "ChatMyappResult",
    fields={"code": serializers.IntegerField(help_text="0 on success, the HTTP status on error"), "msg": serializers.CharField()},
)
CHAT_ERROR = OpenApiResponse(CHAT_BODY, description="Error: code = HTTP status")
ADD_CHAT_BODY = inline_serializer(
    "ChatAddChatResult",
    fields={
        "code": serializers.IntegerField(),
        "msg": serializers.CharField(),
        "reply": serializers.CharField(required=False, help_text="Extension: the assistant's answer (chat_tpye 0)"),
        "notice": serializers.CharField(
            required=False,
            help_text="Extension: what was left out to fit the model's window (earlier messages, the start of "
            "a long message), when anything was",
        ),
    },
)
ERRORS = {400: CHAT_ERROR, 401: CHAT_ERROR, 403: CHAT_ERROR, 404: CHAT_ERROR}


def body_formats(serializer):
    return {"application/x-www-form-urlencoded": serializer, "application/json": serializer}


class AddChatView(ChatFacadeView):
    @extend_schema(
        tags=["chat"],
        summary="Add a conversation and its message; a user message (chat_tpye 0) gets the assistant's reply",
        request=body_formats(AddChatSerializer),
        responses={
            200: ADD_CHAT_BODY, **ERRORS, 502: CHAT_ERROR,
            503: OpenApiResponse(CHAT_BODY, description="No model available; the user message is stored"),
        },
    )
    def post(self, request):
        data = validated(AddChatSerializer, request)
        conversation, reply = services.add_chat(
            request.user,
            username=data["username"],
            chat_id=data["chat_id"],
            chat_title=data["chat_title"],
            chat_content=data.get("chat_content", ""),
            chat_tpye=data.get("chat_tpye"),
            model_key=data.get("model") or None,
        )
        body = {"code": 0, "msg": "对话加入成功"}
        if reply is not None:
            body["reply"] = reply
            answer = selectors.last_reply(conversation)
            if answer is not None and answer.notice:
                body["notice"] = answer.notice
        return Response(body)


class DeleteChatView(ChatFacadeView):
    @extend_schema(
        tags=["chat"], summary="Delete a conversation and its messages",
        request=body_formats(ChatIdSerializer), responses={200: CHAT_BODY, **ERRORS},
    )
    def post(self, request):
        data = validated(ChatIdSerializer, request)
        services.delete_chat(request.user, data["chat_id"], username=data.get("username"))
        return ok("chat", message="对话删除成功")


class GetPromptView(ChatFacadeView):
    @extend_schema(
        tags=["chat"],
        summary="8 random prompt examples, as one string of \"['title', 'text']\" items",
        request={"application/json": OpenApiTypes.OBJECT, "application/x-www-form-urlencoded": OpenApiTypes.OBJECT},
        responses={
            200: OpenApiResponse(OpenApiTypes.STR, description="e.g. \"['标题', '内容']['title', 'text']\""),
            401: CHAT_ERROR,
        },
    )
    def post(self, request):
        return Response(selectors.spec_prompt_string(selectors.random_prompts(request.user)))


class AddPromptView(ChatFacadeView):
    @extend_schema(
        tags=["chat"],
        summary="Add a prompt example (the user's own)",
        request=body_formats(PromptSerializer),
        responses={
            200: inline_serializer(
                "ChatAddPromptResult",
                fields={
                    "code": serializers.IntegerField(),
                    "prompt_title": serializers.CharField(),
                    "prompt_text": serializers.CharField(),
                    "prompt_msg": serializers.CharField(),
                },
            ),
            400: CHAT_ERROR, 401: CHAT_ERROR, 409: CHAT_ERROR,
        },
    )
    def post(self, request):
        data = validated(PromptSerializer, request)
        prompt = services.add_prompt(request.user, data["prompt_title"], data["prompt_text"])
        return Response(
            {"code": 0, "prompt_title": prompt.title, "prompt_text": prompt.text, "prompt_msg": "示例promp存储成功"}
        )


class HistoryView(ChatFacadeView):
    @extend_schema(
        tags=["chat"],
        summary="A conversation's messages as [role, content] pairs (role user or chatcar), by title",
        request=body_formats(HistorySerializer),
        responses={
            200: inline_serializer(
                "ChatHistoryResult",
                fields={
                    "code": serializers.IntegerField(),
                    "历史信息列表": serializers.ListField(
                        child=serializers.ListField(child=serializers.CharField(), min_length=2, max_length=2)
                    ),
                },
            ),
            **ERRORS,
        },
    )
    def post(self, request):
        data = validated(HistorySerializer, request)
        conversation = selectors.conversation_by_title(request.user, " ".join(data["chat_title"].split()))
        return Response({"code": 0, "历史信息列表": selectors.history_pairs(conversation)})


urlpatterns = [
    path("myapp/add_chat/", AddChatView.as_view(), name="compat-add-chat"),
    path("myapp/delete_chat/", DeleteChatView.as_view(), name="compat-delete-chat"),
    path("myapp/get_prompt_fuction/", GetPromptView.as_view(), name="compat-get-prompt"),
    path("myapp/add_prompt_fuction/", AddPromptView.as_view(), name="compat-add-prompt"),
    path("myapp/get_history_chat/", HistoryView.as_view(), name="compat-history"),
]
