"""Conversations, their messages, the prompt library and the OpenAI-compatible backends."""

from django.conf import settings
from django.db import models


class Conversation(models.Model):
    """One chat of one user. `chat_id` is the client's id for it (chat-api.md), unique per user."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    chat_id = models.CharField(max_length=64)
    title = models.CharField(max_length=200)
    # The model picked for the conversation ("backend:<name>" or "serving:<name>"), "" for the default.
    model_key = models.CharField(max_length=200, blank=True, default="")
    # Sent first as the "system" message of every request of this conversation ("" for none).
    system_prompt = models.TextField(blank=True, default="", max_length=4000)
    # The sampling temperature of this conversation's answers; None: the model's own.
    temperature = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["owner", "chat_id"], name="chat_conversation_owner_chat_id")]
        indexes = [models.Index(fields=["owner", "title"]), models.Index(fields=["owner", "-updated_at"])]

    def __str__(self):
        return f"{self.title} ({self.owner_id}:{self.chat_id})"


class Message(models.Model):
    # The spec's history names the assistant "chatcar".
    USER = "user"
    ASSISTANT = "chatcar"
    ROLES = [(USER, "user"), (ASSISTANT, "chatcar (assistant)")]

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=ROLES)
    content = models.TextField()
    # Which model wrote an assistant message ("" for user messages and recorded replies).
    model_key = models.CharField(max_length=200, blank=True, default="")
    # For an assistant message: what was left out of the conversation to fit the model's window,
    # or that the answer itself was cut ("" when nothing was).
    notice = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return f"{self.role}: {self.content[:40]}"


class PromptExample(models.Model):
    """A prompt of the library. Public ones (seeded, or made public in admin) are everyone's;
    the others are seen only by their owner."""

    title = models.CharField(max_length=100)
    text = models.TextField(max_length=4000)
    language = models.CharField(max_length=8, choices=[("zh", "中文"), ("en", "English")], default="zh")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="chat_prompts"
    )
    is_public = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "title"], name="chat_prompt_owner_title"),
            models.UniqueConstraint(
                fields=["title"], condition=models.Q(owner__isnull=True), name="chat_prompt_library_title"
            ),
        ]

    def __str__(self):
        return self.title


class ChatBackend(models.Model):
    """An OpenAI-compatible chat completions endpoint (vLLM, Ollama, llama.cpp, OpenAI...)."""

    name = models.SlugField(max_length=64, unique=True)
    base_url = models.URLField(max_length=500, help_text="Up to /v1, e.g. http://127.0.0.1:8001/v1")
    # Kept as given (the endpoint needs it verbatim); never shown back in admin or pages.
    api_key = models.CharField(max_length=500, blank=True, default="")
    model_name = models.CharField(max_length=200, help_text="The `model` sent in each request")
    context_window = models.PositiveIntegerField(default=4096, help_text="Tokens the model reads (prompt + reply)")
    max_tokens = models.PositiveIntegerField(default=512, help_text="Longest reply, in tokens")
    temperature = models.FloatField(default=0.7)
    timeout_seconds = models.PositiveIntegerField(default=120)
    is_default = models.BooleanField(default=False, help_text="Answers when a conversation names no model")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_default", "name"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        # One default at most: marking this one unmarks the others.
        super().save(*args, **kwargs)
        if self.is_default:
            ChatBackend.objects.exclude(pk=self.pk).filter(is_default=True).update(is_default=False)
