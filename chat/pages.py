"""The chat pages under /chat/: conversations in a sidebar, answers streamed as server-sent events."""

import json
import uuid

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST

from core.errors import DomainError, InvalidInput, NotFound
from core.parsers import parse_json

from . import selectors, services
from .llm import Notice
from .markdown import HIGHLIGHT_CSS, render_answer
from .models import Message

STARTER_CARDS = 6
NEW_TITLE_CHARS = 40


def _conversation(request, chat_id):
    try:
        return selectors.conversation_by_chat_id(request.user, chat_id)
    except NotFound as exc:
        raise Http404("conversation not found") from exc


def _chat_words():
    """The page script's words, in the page's language (written with json_script)."""
    return {
        "edit": _("Edit"), "regenerate": _("Regenerate"), "you": _("You"), "assistant": _("Assistant"),
        "error": _("Error"), "requestFailed": _("request failed"),
        "stopped": _("The answer was stopped before it was complete."), "saveSend": _("Save & send"),
        "cancel": _("Cancel"), "newTitle": _("New title"),
    }


def _page(request, conversation=None):
    query = request.GET.get("q", "")[:200]
    models = selectors.available_models(request.user)
    try:
        default_key = selectors.resolve_model(request.user).key
    except DomainError:
        default_key = ""
    selected = (conversation.model_key if conversation else "") or default_key
    messages_list = list(conversation.messages.all()) if conversation else []
    for message in messages_list:
        message.html = render_answer(message.content) if message.role == Message.ASSISTANT else ""
    return render(
        request,
        "chat/chat.html",
        {
            "conversations": selectors.conversations_of(request.user, query)[:200],
            "conversation": conversation,
            "messages_list": messages_list,
            "query": query,
            "models": models,
            "selected_model": selected,
            "starters": selectors.random_prompts(request.user, STARTER_CARDS) if conversation is None else [],
            "prefill": _prompt_text(request),
            "highlight_css": HIGHLIGHT_CSS,
            "chat_words": _chat_words(),
        },
    )


def _prompt_text(request):
    """The text of the library prompt `?prompt=<id>` (one the user can see), to start a message with."""
    value = request.GET.get("prompt", "")
    if not value.isdigit():
        return ""
    prompt = selectors.prompts_visible_to(request.user).filter(pk=int(value)).first()
    return prompt.text if prompt else ""


@login_required
def index(request):
    return _page(request)


class PromptForm(forms.Form):
    title = forms.CharField(max_length=100, label=_lazy("Title"))
    text = forms.CharField(max_length=4000, label=_lazy("Prompt"), widget=forms.Textarea(attrs={"rows": 4}))


@login_required
def prompt_library(request):
    """The prompt library: browse and search the public prompts and one's own, add one, use one."""
    form = PromptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.add_prompt(request.user, form.cleaned_data["title"], form.cleaned_data["text"])
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("The prompt was added to your library."))
            return redirect("chat:prompts")
    query = request.GET.get("q", "").strip()[:200]
    prompts = selectors.prompts_visible_to(request.user).order_by("-owner_id", "title", "pk")
    if query:
        prompts = prompts.filter(Q(title__icontains=query) | Q(text__icontains=query))
    return render(request, "chat/prompts.html", {"form": form, "prompts": prompts[:500], "query": query})


@login_required
def conversation_page(request, chat_id):
    return _page(request, _conversation(request, chat_id))


def sse(event, data):
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _error(status, message):
    return JsonResponse({"code": status, "msg": message}, status=status)


def _reply_events(conversation, model_key):
    """`model` {key, label}, `notice` {text} when something was cut, `delta` {text} pieces, then
    `done` {model, message_id, html, notice} or `error` {message, code}."""
    try:
        model = services.model_for(conversation, model_key)
    except DomainError as exc:
        yield sse("error", {"message": exc.message, "code": exc.status_code})
        return
    yield sse("model", {"key": model.key, "label": model.label})
    try:
        for piece in services.stream_reply(conversation, model):
            if isinstance(piece, Notice):
                yield sse("notice", {"text": piece.text})
            else:
                yield sse("delta", {"text": piece})
    except DomainError as exc:
        yield sse("error", {"message": exc.message, "code": exc.status_code})
        return
    answer = selectors.last_reply(conversation)
    yield sse("done", {"model": model.key, "message_id": answer.pk, "html": render_answer(answer.content),
                       "notice": answer.notice})


def _event_stream(events):
    response = StreamingHttpResponse(events, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass the events on as they come
    return response


def _json_body(request):
    """(body, None) or (None, an error response): the body must be a JSON object."""
    if not request.user.is_authenticated:
        return None, _error(401, _("login required"))
    try:
        body = parse_json(request.body or b"{}")
    except InvalidInput as exc:
        return None, _error(400, exc.message)
    if not isinstance(body, dict):
        return None, _error(400, _("the body must be a JSON object"))
    model_key = body.get("model") or ""
    if not isinstance(model_key, str):
        return None, _error(400, _("model must be a string"))
    return body, None


def _apply_settings(request, conversation, body, model_key):
    """The model, system prompt and temperature a request names, kept by the conversation."""
    if model_key:
        selectors.resolve_model(request.user, model_key)
        if conversation.model_key != model_key:
            conversation.model_key = model_key
            conversation.save(update_fields=["model_key", "updated_at"])
    services.update_settings(
        conversation,
        system_prompt=body.get("system_prompt"),
        temperature=body["temperature"] if "temperature" in body else ...,
    )


@require_POST
def send(request):
    """POST JSON {chat_id?, content, model?, system_prompt?, temperature?} -> text/event-stream.

    Events: `conversation` {chat_id, title, url, message_id} first, then those of _reply_events.
    The question is stored before the model is asked, so a failing model loses nothing.
    """
    body, error = _json_body(request)
    if error:
        return error
    content = body.get("content")
    chat_id = body.get("chat_id") or uuid.uuid4().hex[:16]
    model_key = body.get("model") or ""
    if not isinstance(content, str) or not content.strip():
        return _error(400, _("content must be a non-empty string"))
    if not isinstance(chat_id, str):
        return _error(400, _("chat_id and model must be strings"))
    try:
        existing = selectors.conversations_of(request.user).filter(chat_id=chat_id).first()
        title = existing.title if existing else " ".join(content.split())[:NEW_TITLE_CHARS]
        if model_key:
            selectors.resolve_model(request.user, model_key)
        services.clean_temperature(body.get("temperature"))
        with transaction.atomic():
            conversation = services.get_or_create_conversation(request.user, chat_id, title,
                                                               model_key=model_key or None)
            _apply_settings(request, conversation, body, model_key)
            question = services.add_message(conversation, Message.USER, content)
    except DomainError as exc:
        return _error(exc.status_code, exc.message)

    def events():
        yield sse(
            "conversation",
            {
                "chat_id": conversation.chat_id,
                "title": conversation.title,
                "url": reverse("chat:conversation", args=[conversation.chat_id]),
                "message_id": question.pk,
            },
        )
        yield from _reply_events(conversation, model_key)

    return _event_stream(events())


def _answer_again(request, chat_id, prepare):
    """The conversation's settings from the JSON body, `prepare(conversation, body)` (which drops the
    messages to answer again), then the model's new answer streamed as _reply_events."""
    body, error = _json_body(request)
    if error:
        return error
    try:
        conversation = selectors.conversation_by_chat_id(request.user, chat_id)
        with transaction.atomic():
            _apply_settings(request, conversation, body, body.get("model") or "")
            prepare(conversation, body)
    except NotFound:
        return _error(404, _("conversation not found"))
    except DomainError as exc:
        return _error(exc.status_code, exc.message)
    return _event_stream(_reply_events(conversation, body.get("model") or ""))


@require_POST
def regenerate(request, chat_id):
    """POST JSON {model?, system_prompt?, temperature?}: the last answer is replaced by a new one."""
    return _answer_again(request, chat_id, lambda conversation, body: services.prepare_regenerate(conversation))


@require_POST
def edit(request, chat_id):
    """POST JSON {message_id, content, model?, system_prompt?, temperature?}: one of the user's
    messages gets the new text, every message after it goes, and the model answers again."""
    return _answer_again(request, chat_id, lambda conversation, body: services.prepare_edit(
        conversation, body.get("message_id"), body.get("content")))


@login_required
@require_POST
def rename(request, chat_id):
    try:
        conversation = services.rename_chat(request.user, chat_id, request.POST.get("title", ""))
    except NotFound as exc:
        raise Http404("conversation not found") from exc
    except DomainError as exc:
        return JsonResponse({"code": exc.status_code, "msg": exc.message}, status=exc.status_code)
    return JsonResponse({"code": 0, "msg": _("renamed"), "title": conversation.title})


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
    path("chat/prompts/", prompt_library, name="prompts"),
    path("chat/send", send, name="send"),
    path("chat/c/<str:chat_id>/", conversation_page, name="conversation"),
    path("chat/c/<str:chat_id>/rename", rename, name="rename"),
    path("chat/c/<str:chat_id>/regenerate", regenerate, name="regenerate"),
    path("chat/c/<str:chat_id>/edit", edit, name="edit"),
    path("chat/c/<str:chat_id>/delete", delete, name="delete"),
    path("chat/c/<str:chat_id>/export.<str:fmt>", export, name="export"),
]
