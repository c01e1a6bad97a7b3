from django import forms
from django.contrib import admin

from .models import ChatBackend, Conversation, Message, PromptExample


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("role", "content", "model_key", "notice", "created_at")
    readonly_fields = ("created_at",)
    extra = 0


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("title", "chat_id", "owner", "model_key", "temperature", "created_at", "updated_at")
    list_filter = ("created_at", "updated_at")
    search_fields = ("title", "chat_id", "owner__username")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "role", "short_content", "model_key", "created_at")
    list_filter = ("role", "created_at")
    search_fields = ("content", "conversation__title", "conversation__owner__username")
    list_select_related = ("conversation",)
    raw_id_fields = ("conversation",)

    @admin.display(description="content")
    def short_content(self, obj):
        return obj.content[:80]


@admin.register(PromptExample)
class PromptExampleAdmin(admin.ModelAdmin):
    list_display = ("title", "language", "is_public", "owner", "created_at")
    list_filter = ("language", "is_public", "created_at")
    search_fields = ("title", "text", "owner__username")
    list_editable = ("is_public",)
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)


class ChatBackendForm(forms.ModelForm):
    """The API key is write-only: never rendered back; left empty, the stored key is kept."""

    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Sent as `Authorization: Bearer <key>`. Leave empty to keep the stored key.",
    )
    clear_api_key = forms.BooleanField(required=False, help_text="Remove the stored key")

    class Meta:
        model = ChatBackend
        fields = "__all__"

    def clean_api_key(self):
        key = self.cleaned_data.get("api_key", "")
        if not key and self.instance.pk:
            return self.instance.api_key
        return key

    def save(self, commit=True):
        if self.cleaned_data.get("clear_api_key"):
            self.instance.api_key = ""
            self.cleaned_data["api_key"] = ""
        backend = super().save(commit=False)
        if self.cleaned_data.get("clear_api_key"):
            backend.api_key = ""
        if commit:
            backend.save()
        return backend


@admin.register(ChatBackend)
class ChatBackendAdmin(admin.ModelAdmin):
    form = ChatBackendForm
    list_display = ("name", "base_url", "model_name", "has_api_key", "context_window", "max_tokens", "is_default",
                    "is_active", "updated_at")
    list_filter = ("is_default", "is_active")
    search_fields = ("name", "base_url", "model_name")

    @admin.display(boolean=True, description="API key")
    def has_api_key(self, obj):
        return bool(obj.api_key)
