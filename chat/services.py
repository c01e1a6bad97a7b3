"""Writes: conversations and messages, assistant replies, the prompt library."""

import re

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, Forbidden, InvalidInput

from . import selectors
from .llm import ModelUnavailable, Notice
from .models import Conversation, Message, PromptExample

# chat_tpye of /myapp/add_chat/ (docs/chat.md).
TYPE_ASK = 0  # a user message; the assistant replies, and the reply is stored as "chatcar"
TYPE_RECORD_REPLY = 1  # an assistant ("chatcar") message the client already has: stored as given
TYPE_RECORD_USER = 2  # a user message stored without asking the model
CHAT_TYPES = (TYPE_ASK, TYPE_RECORD_REPLY, TYPE_RECORD_USER)

CHAT_ID_RE = re.compile(r"^[\w.:-]{1,64}\Z")
MAX_TITLE = 200
MAX_CONTENT = 32000
MAX_REPLY_CHARS = 200_000
MAX_SYSTEM_PROMPT = 4000
STOPPED_NOTICE = "The answer was stopped before it was complete."


def check_username(user, username):
    """A username in a body is a check, never a switch of user."""
    if username is not None and username != user.get_username():
        raise Forbidden("username does not match the logged-in user")


def validate_chat_id(chat_id):
    chat_id = str(chat_id).strip()
    if not CHAT_ID_RE.match(chat_id):
        raise InvalidInput("chat_id: 1 to 64 letters, digits, '_', '-', '.' or ':'")
    return chat_id


def clean_title(title):
    title = " ".join(str(title).split())
    if not title:
        raise InvalidInput("chat_title must not be blank")
    if len(title) > MAX_TITLE:
        raise InvalidInput(f"chat_title is longer than {MAX_TITLE} characters")
    return title


def get_or_create_conversation(user, chat_id, title, model_key=None):
    """The user's conversation `chat_id`, created with `title` if new (renamed if it differs)."""
    chat_id = validate_chat_id(chat_id)
    title = clean_title(title)
    try:
        with transaction.atomic():
            conversation, created = Conversation.objects.get_or_create(
                owner=user, chat_id=chat_id, defaults={"title": title, "model_key": model_key or ""}
            )
    except IntegrityError:  # created by a concurrent request
        conversation, created = Conversation.objects.get(owner=user, chat_id=chat_id), False
    changed = []
    if not created and conversation.title != title:
        conversation.title = title
        changed.append("title")
    if not created and model_key is not None and conversation.model_key != model_key:
        conversation.model_key = model_key
        changed.append("model_key")
    if changed:
        conversation.save(update_fields=changed + ["updated_at"])
    return conversation


def add_message(conversation, role, content, model_key="", notice=""):
    if len(content) > MAX_CONTENT and role == Message.USER:
        raise InvalidInput(f"chat_content is longer than {MAX_CONTENT} characters")
    message = Message.objects.create(
        conversation=conversation, role=role, content=content, model_key=model_key, notice=notice[:500]
    )
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
    return message


def clean_temperature(value):
    """None (the model's own), or a number from 0 to 2."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise InvalidInput("temperature must be a number from 0 to 2") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 2:
        raise InvalidInput("temperature must be a number from 0 to 2")
    return float(value)


def update_settings(conversation, *, system_prompt=None, temperature=...):
    """The conversation's system prompt and temperature (None: the model's own); a value not
    given (system_prompt None, temperature ...) is left as it is."""
    changed = []
    if system_prompt is not None:
        if not isinstance(system_prompt, str):
            raise InvalidInput("system_prompt must be a string")
        if len(system_prompt) > MAX_SYSTEM_PROMPT:
            raise InvalidInput(f"system_prompt is longer than {MAX_SYSTEM_PROMPT} characters")
        if system_prompt.strip() != conversation.system_prompt:
            conversation.system_prompt = system_prompt.strip()
            changed.append("system_prompt")
    if temperature is not ...:
        temperature = clean_temperature(temperature)
        if temperature != conversation.temperature:
            conversation.temperature = temperature
            changed.append("temperature")
    if changed:
        conversation.save(update_fields=changed + ["updated_at"])
    return conversation


def model_for(conversation, key=""):
    """The model asked for, else the conversation's own (if still available), else the default."""
    user = conversation.owner
    if key:
        return selectors.resolve_model(user, key)
    if conversation.model_key:
        try:
            return selectors.resolve_model(user, conversation.model_key)
        except InvalidInput:
            pass  # the conversation's model is gone: answer with the default
    return selectors.resolve_model(user)


def stream_reply(conversation, model):
    """Ask `model` to answer the conversation; yield the reply's pieces (str), after a Notice when
    part of the conversation was left out to fit the model's window; then store it as chatcar,
    with that notice.

    A reply cut short by the client going away (or stopping it) is stored as far as it got, and
    says so; one longer than MAX_REPLY_CHARS is cut there, and says so. A model that fails raises
    ModelUnavailable (the question stays stored).
    """
    pieces = []
    notices = []
    size = 0
    try:
        for piece in model.stream(selectors.openai_messages(conversation), temperature=conversation.temperature):
            if isinstance(piece, Notice):
                notices.append(piece.text)
                yield piece
                continue
            if size + len(piece) > MAX_REPLY_CHARS:
                cut = Notice(f"The answer was cut at {MAX_REPLY_CHARS:,} characters.")
                notices.append(cut.text)
                yield cut
                break
            pieces.append(piece)
            size += len(piece)
            yield piece
    except GeneratorExit:
        partial = "".join(pieces)
        if partial.strip():
            add_message(conversation, Message.ASSISTANT, partial, model_key=model.key,
                        notice=" ".join([*notices, STOPPED_NOTICE]))
        raise
    reply = "".join(pieces)
    if not reply.strip():
        raise ModelUnavailable(f"{model.label} answered nothing", status_code=502)
    add_message(conversation, Message.ASSISTANT, reply, model_key=model.key, notice=" ".join(notices))


def reply_text(pieces):
    """The text of stream_reply's pieces (the notices are stored with the reply)."""
    return "".join(piece for piece in pieces if isinstance(piece, str))


def ask(conversation, content, model_key=""):
    """Store the user's message, then the assistant's reply; return the reply message text."""
    add_message(conversation, Message.USER, content)
    model = model_for(conversation, model_key)  # after storing: nothing is lost without a model
    return reply_text(stream_reply(conversation, model))


def prepare_regenerate(conversation):
    """Delete the conversation's last answer so that it can be asked again (regenerate).

    The conversation must end with a question, or with an answer to one."""
    messages = list(conversation.messages.order_by("-pk")[:1])
    if not messages:
        raise InvalidInput("the conversation has no message to answer")
    if messages[0].role == Message.ASSISTANT:
        previous = conversation.messages.filter(pk__lt=messages[0].pk).order_by("-pk").first()
        if previous is None or previous.role != Message.USER:
            raise InvalidInput("the last answer follows no question")
        messages[0].delete()
    return conversation


def prepare_edit(conversation, message_id, content):
    """Replace the text of one of the user's messages and delete every message after it, so that
    the conversation continues from the edited question (edit and resend)."""
    if isinstance(message_id, bool) or not isinstance(message_id, (int, str)) or not str(message_id).isdigit():
        raise InvalidInput("message_id must be the id of one of your messages")
    if not isinstance(content, str) or not content.strip():
        raise InvalidInput("content must be a non-empty string")
    if len(content) > MAX_CONTENT:
        raise InvalidInput(f"content is longer than {MAX_CONTENT} characters")
    message = conversation.messages.filter(pk=int(message_id), role=Message.USER).first()
    if message is None:
        raise InvalidInput("message_id must be the id of one of your messages in this conversation")
    with transaction.atomic():
        conversation.messages.filter(pk__gt=message.pk).delete()
        message.content = content
        message.save(update_fields=["content"])
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
    return message


def add_chat(user, *, chat_id, chat_title, chat_content="", chat_tpye=None, username=None, model_key=None):
    """/myapp/add_chat/: create (or rename) the conversation and add its message.

    Returns (conversation, reply) where reply is the assistant's answer for chat_tpye 0.
    """
    check_username(user, username)
    if chat_tpye is not None and chat_tpye not in CHAT_TYPES:
        raise InvalidInput("chat_tpye must be 0 (ask), 1 (record a chatcar reply) or 2 (record a user message)")
    if model_key:
        selectors.resolve_model(user, model_key)  # an unknown model is a 400 before anything is stored
    conversation = get_or_create_conversation(user, chat_id, chat_title, model_key=model_key)
    content = chat_content or ""
    if not content.strip():
        return conversation, None
    kind = TYPE_ASK if chat_tpye is None else chat_tpye
    if kind == TYPE_RECORD_REPLY:
        add_message(conversation, Message.ASSISTANT, content)
        return conversation, None
    if kind == TYPE_RECORD_USER:
        add_message(conversation, Message.USER, content)
        return conversation, None
    return conversation, ask(conversation, content, model_key or "")


def delete_chat(user, chat_id, username=None):
    check_username(user, username)
    conversation = selectors.conversation_by_chat_id(user, validate_chat_id(chat_id))
    conversation.delete()


def rename_chat(user, chat_id, title):
    conversation = selectors.conversation_by_chat_id(user, validate_chat_id(chat_id))
    conversation.title = clean_title(title)
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


def add_prompt(user, title, text):
    """/myapp/add_prompt_fuction/: a prompt of the user's own (public ones are set in admin)."""
    title = " ".join(str(title).split())
    text = str(text).strip()
    if not title or not text:
        raise InvalidInput("prompt_title and prompt_text must not be blank")
    if len(title) > 100:
        raise InvalidInput("prompt_title is longer than 100 characters")
    if len(text) > 4000:
        raise InvalidInput("prompt_text is longer than 4000 characters")
    language = "zh" if re.search(r"[\u4e00-\u9fff]", title + text) else "en"
    try:
        with transaction.atomic():
            return PromptExample.objects.create(title=title, text=text, owner=user, language=language)
    except IntegrityError as exc:
        raise Conflict(f"you already have a prompt titled {title!r}") from exc
