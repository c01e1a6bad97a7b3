"""Reads: a user's conversations and history, the prompt library, the models a user may chat with."""

import functools
from pathlib import Path

from django.db.models import Q

from core.errors import InvalidInput, NotFound

from .llm import ChatModel, ModelUnavailable, estimate_tokens
from .models import ChatBackend, Conversation, Message, PromptExample

PROMPT_SAMPLE_SIZE = 8
# Served models tell their window when they can; otherwise this is assumed.
DEFAULT_SERVING_WINDOW = 1024
DEFAULT_SERVING_MAX_TOKENS = 128


def conversations_of(user, query=""):
    conversations = Conversation.objects.filter(owner=user)
    query = (query or "").strip()
    if query:
        conversations = conversations.filter(
            Q(title__icontains=query) | Q(messages__content__icontains=query)
        ).distinct()
    return conversations


def conversation_by_chat_id(user, chat_id):
    conversation = Conversation.objects.filter(owner=user, chat_id=chat_id).first()
    if conversation is None:
        raise NotFound(f"对话不存在: chat_id {chat_id}")
    return conversation


def conversation_by_title(user, title):
    """The user's latest conversation with this title (titles need not be unique)."""
    conversation = Conversation.objects.filter(owner=user, title=title).order_by("-updated_at", "-pk").first()
    if conversation is None:
        raise NotFound(f"对话不存在: chat_title {title}")
    return conversation


def history_pairs(conversation):
    return [[role, content] for role, content in conversation.messages.values_list("role", "content")]


def openai_messages(conversation):
    """The conversation in OpenAI form: its system prompt first (if any), chatcar becomes assistant."""
    system = [{"role": "system", "content": conversation.system_prompt}] if conversation.system_prompt.strip() else []
    return system + [
        {"role": "assistant" if role == "chatcar" else "user", "content": content}
        for role, content in conversation.messages.values_list("role", "content")
    ]


def last_reply(conversation):
    """The conversation's newest assistant message, or None."""
    return conversation.messages.filter(role=Message.ASSISTANT).order_by("-pk").first()


def prompts_visible_to(user):
    return PromptExample.objects.filter(Q(is_public=True) | Q(owner=user))


def random_prompts(user, count=PROMPT_SAMPLE_SIZE):
    return list(prompts_visible_to(user).order_by("?")[:count])


def spec_prompt_string(prompts):
    """get_prompt_fuction's answer: each prompt as a Python list repr, concatenated."""
    return "".join(str([prompt.title, prompt.text]) for prompt in prompts)


# --- models ---------------------------------------------------------------------------


def _backend_model(backend):
    return ChatModel(
        key=f"backend:{backend.name}",
        label=f"{backend.name} ({backend.model_name})",
        context_window=backend.context_window,
        max_tokens=backend.max_tokens,
        temperature=backend.temperature,
        backend=backend,
    )


@functools.lru_cache(maxsize=16)
def _tokenizer_counter(folder):
    """A token counter from the tokenizer saved in `folder`, or None."""
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder)
    except Exception:  # noqa: BLE001 - any unreadable folder means: estimate instead
        return None
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _serving_window_and_counter(service_id):
    """The smallest context of the service's running versions, and their tokenizer's counter."""
    from serving.models import ServiceVersion

    versions = ServiceVersion.objects.filter(service__uid=service_id, status="running").order_by("number")
    window, counter = None, None
    for version in versions:
        if version.max_context:
            window = min(window or version.max_context, version.max_context)
        for folder in (version.model_dir, version.base_dir):
            if counter is None and folder and any(
                (Path(folder) / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json")
            ):
                counter = _tokenizer_counter(folder)
    return window or DEFAULT_SERVING_WINDOW, counter or estimate_tokens


def _serving_models(user):
    """The running chat services of the serving app the user may call: their own first, then
    those shared with them (with everyone or their team), called `owner/name`."""
    from serving import selectors as serving_selectors

    models = []
    for service in serving_selectors.callable_services(user):
        if service["kind"] != "chat" or service["status"] != "running":
            continue
        window, counter = _serving_window_and_counter(service["id"])
        label = f"{service['name']} (served)" if service["own"] else f"{service['name']} (shared by {service['owner']})"
        models.append(
            ChatModel(
                key=f"serving:{service['name']}",
                label=label,
                context_window=window,
                max_tokens=min(DEFAULT_SERVING_MAX_TOKENS, max(16, window // 4)),
                serving_model=service["name"],
                user=user,
                count_tokens=counter,
            )
        )
    return models


def available_models(user):
    """Every model the user may pick: configured backends (default first), then served models."""
    backends = [_backend_model(b) for b in ChatBackend.objects.filter(is_active=True)]
    return backends + _serving_models(user)


def resolve_model(user, key=""):
    """The model for `key` ("backend:<name>" or "serving:<name>"), or the default one.

    Default: the active backend marked default, else the user's own first running served model,
    else the first one shared with them, else any active backend.
    """
    models = available_models(user)
    if key:
        for model in models:
            if model.key == key:
                return model
        raise InvalidInput(f"unknown or unavailable model: {key}")
    defaults = [m for m in models if m.backend is not None and m.backend.is_default]
    if defaults:
        return defaults[0]
    serving = [m for m in models if m.backend is None]
    if serving:
        return serving[0]
    if models:
        return models[0]
    raise ModelUnavailable(
        "没有可用的模型 (no model available): deploy one in Serving or configure a chat backend in admin; "
        "the message was saved"
    )


# --- export ---------------------------------------------------------------------------

ROLE_NAMES = {"user": "User", "chatcar": "Assistant"}


def export_data(conversation):
    return {
        "chat_id": conversation.chat_id,
        "title": conversation.title,
        "model": conversation.model_key,
        "system_prompt": conversation.system_prompt,
        "temperature": conversation.temperature,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
        "messages": [
            {"role": m.role, "content": m.content, "model": m.model_key, "created_at": m.created_at.isoformat(),
             **({"notice": m.notice} if m.notice else {})}
            for m in conversation.messages.all()
        ],
    }


def export_markdown(conversation):
    lines = [f"# {conversation.title}", "", f"- chat_id: `{conversation.chat_id}`"]
    if conversation.model_key:
        lines.append(f"- model: `{conversation.model_key}`")
    lines.append(f"- exported from Crucible, {conversation.updated_at:%Y-%m-%d %H:%M} UTC")
    for message in conversation.messages.all():
        lines += ["", f"## {ROLE_NAMES.get(message.role, message.role)}", "", message.content]
        if message.notice:
            lines += ["", f"> {message.notice}"]
    return "\n".join(lines) + "\n"
