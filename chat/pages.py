"""The chat pages under /chat/: conversations in a sidebar, answers streamed as server-sent events."""

import json
import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from core.errors import DomainError, InvalidInput, NotFound
from core.parsers import parse_json

from . import selectors, services
from .models import Message

STARTER_CARDS = 6
NEW_TITLE_CHARS = 40


def _conversation(request, chat_id):
    try:
        return selectors.conversation_by_chat_id(request.user, chat_id)
    except NotFound as exc:
        raise Http404("conversation not found") from exc


def _page(request, conversation=None):
    query = request.GET.get("q", "")[:200]
    models = selectors.available_models(request.user)
    try:
        default_key = selectors.resolve_model(request.user).key
    except DomainError:
        default_key = ""
    selected = (conversation.model_key if conversation else "") or default_key
    return render(
        request,
        "chat/chat.html",
        {
            "conversations": selectors.conversations_of(request.user, query)[:200],
            "conversation": conversation,
            "messages_list": conversation.messages.all() if conversation else [],
            "query": query,
            "models": models,
            "selected_model": selected,
            "starters": selectors.random_prompts(request.user, STARTER_CARDS) if conversation is None else [],
        },
    )


@login_required
def index(request):
    return _page(request)


@login_required
def conversation_page(request, chat_id):
    return _page(request, _conversation(request, chat_id))


def sse(event, data):
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _reply_events(conversation, model):
    try:
        for piece in services.stream_reply(conversation, model):
            yield sse("delta", {"text": piece})
    except DomainError as exc:
        yield sse("error", {"message": exc.message, "code": exc.status_code})
        return
    yield sse("done", {"model": model.key})


@require_POST
def send(request):
    """POST JSON {chat_id?, content, model?} -> text/event-stream.

    Events: `conversation` {chat_id, title, url} first, then `delta` {text} pieces, then
    `done` {model}, or `error` {message, code}. The question is stored before the model is
    asked, so a failing model loses nothing.
    """
    if not request.user.is_authenticated:
        return JsonResponse({"code": 401, "msg": "login required"}, status=401)
    try:
        body = parse_json(request.body or b"{}")
    except InvalidInput as exc:
        return JsonResponse({"code": 400, "msg": exc.message}, status=400)
    if not isinstance(body, dict):
        return JsonResponse({"code": 400, "msg": "the body must be a JSON object"}, status=400)
    content = body.get("content")
    chat_id = body.get("chat_id") or uuid.uuid4().hex[:16]
    model_key = body.get("model") or ""
    if not isinstance(content, str) or not content.strip():
        return JsonResponse({"code": 400, "msg": "content must be a non-empty string"}, status=400)
    if not isinstance(chat_id, str) or not isinstance(model_key, str):
        return JsonResponse({"code": 400, "msg": "chat_id and model must be strings"}, status=400)
    try:
        existing = selectors.conversations_of(request.user).filter(chat_id=chat_id).first()
        title = existing.title if existing else " ".join(content.split())[:NEW_TITLE_CHARS]
        if model_key:
            selectors.resolve_model(request.user, model_key)
        conversation = services.get_or_create_conversation(request.user, chat_id, title, model_key=model_key or None)
        services.add_message(conversation, Message.USER, content)
    except DomainError as exc:
        return JsonResponse({"code": exc.status_code, "msg": exc.message}, status=exc.status_code)

    def events():
        yield sse(
            "conversation",
            {
                "chat_id": conversation.chat_id,
                "title": conversation.title,
                "url": reverse("chat:conversation", args=[conversation.chat_id]),
            },
        )
        try:
            model = services.model_for(conversation, model_key)
        except DomainError as exc:
            yield sse("error", {"message": exc.message, "code": exc.status_code})
            return
        yield sse("model", {"key": model.key, "label": model.label})
        yield from _reply_events(conversation, model)

    response = StreamingHttpResponse(events(), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass the events on as they come
    return response


@login_required
@require_POST
def rename(request, chat_id):
    try:
        conversation = services.rename_chat(request.user, chat_id, request.POST.get("title", ""))
    except NotFound as exc:
        raise Http404("conversation not found") from exc
    except DomainError as exc:
        return JsonResponse({"code": exc.status_code, "msg": exc.message}, status=exc.status_code)
    return JsonResponse({"code": 0, "msg": "renamed", "title": conversation.title})


@login_required
@require_POST
def delete(request, chat_id):
    try:
        services.delete_chat(request.user, chat_id)
    except NotFound as exc:
        raise Http404("conversation not found") from exc
    return redirect("chat:index")


@login_required
def export(request, chat_id, fmt):
    if fmt not in ("md", "json"):
        raise Http404("export as .md or .json")
    conversation = _conversation(request, chat_id)
    filename = f"chat-{conversation.chat_id}"
    if fmt == "json":
        body = json.dumps(selectors.export_data(conversation), ensure_ascii=False, indent=2)
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
    else:
        response = HttpResponse(selectors.export_markdown(conversation), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response


urlpatterns = [
    path("chat/", index, name="index"),
    path("chat/send", send, name="send"),
    path("chat/c/<str:chat_id>/", conversation_page, name="conversation"),
    path("chat/c/<str:chat_id>/rename", rename, name="rename"),
    path("chat/c/<str:chat_id>/delete", delete, name="delete"),
    path("chat/c/<str:chat_id>/export.<str:fmt>", export, name="export"),
]
