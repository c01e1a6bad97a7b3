from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.html import format_html

from core.errors import DomainError

from . import services
from .forms import ThrottledAdminAuthenticationForm
from .models import ApiKey, ResourceQuota, StorageQuota, Team, TeamInvitation, User

# The admin login goes through the same login throttle as every other way in.
admin.site.login_form = ThrottledAdminAuthenticationForm


class ResourceQuotaInline(admin.StackedInline):
    model = ResourceQuota
    can_delete = True
    extra = 0
    max_num = 1


class StorageQuotaInline(admin.StackedInline):
    model = StorageQuota
    can_delete = True
    extra = 0
    max_num = 1


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Crucible", {"fields": ("role", "team", "avatar", "avatar_preview")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions"), "classes": ("collapse",)},
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "password1", "password2", "role", "team")}),
    )
    readonly_fields = ("avatar_preview", "last_login", "date_joined")
    list_display = ("username", "role", "team", "email", "is_staff", "is_active", "date_joined", "last_login")
    list_filter = ("role", "team", "is_staff", "is_superuser", "is_active")
    search_fields = ("username", "email", "first_name", "last_name", "team__name")
    list_select_related = ("team",)
    inlines = [ResourceQuotaInline, StorageQuotaInline]
    actions = ["approve"]

    @admin.action(description="Approve (activate) selected accounts")
    def approve(self, request, queryset):
        # REGISTRATION=approval: new accounts wait inactive until approved here.
        count = queryset.filter(is_active=False).update(is_active=True)
        self.message_user(request, f"{count} account{'s' if count != 1 else ''} approved.", messages.SUCCESS)

    @admin.display(description="Avatar")
    def avatar_preview(self, obj):
        return format_html('<img src="{}" alt="" style="width:64px;height:64px;border-radius:50%">', obj.avatar_url)

    def save_model(self, request, obj, form, change):
        # An avatar uploaded here goes through the same Pillow check and thumbnail as on the pages.
        upload = form.cleaned_data.get("avatar") if "avatar" in form.changed_data else None
        if upload:
            try:
                processed = services.process_avatar(upload)
            except DomainError as exc:
                messages.error(request, f"Avatar not changed: {exc.message}")
                obj.avatar = form.initial.get("avatar") or ""
            else:
                obj.avatar.save(processed.name, processed, save=False)
        super().save_model(request, obj, form, change)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "member_count", "created_at")
    search_fields = ("name",)
    list_filter = ("created_at",)
    filter_horizontal = ("admins",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_members=Count("members"))

    @admin.display(description="Members", ordering="n_members")
    def member_count(self, obj):
        return obj.n_members


class ApiKeyAddForm(forms.ModelForm):
    """Creating a key in the admin: the secret key is generated and shown once in a message."""

    class Meta:
        model = ApiKey
        fields = ("user", "description", "end_time")

    def clean_end_time(self):
        end_time = self.cleaned_data.get("end_time")
        if end_time is not None and end_time <= timezone.now():
            raise forms.ValidationError("The end time must be in the future.")
        return end_time


class KeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(is_active=True).exclude(end_time__lte=now)
        if self.value() == "expired":
            return queryset.filter(is_active=True, end_time__lte=now)
        if self.value() == "revoked":
            return queryset.filter(is_active=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "secret_id", "user", "scope", "description", "is_active", "expired", "end_time", "created_at", "last_used_at"
    )
    list_filter = (KeyStateFilter, "is_active", "scope", "created_at")
    search_fields = ("secret_id", "description", "user__username")
    list_select_related = ("user",)
    readonly_fields = ("secret_id", "user", "scope", "secret_key_hash", "created_at", "last_used_at")
    fields = (
        "secret_id", "user", "scope", "description", "end_time", "is_active", "secret_key_hash", "created_at",
        "last_used_at",
    )
    actions = ["deactivate"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ApiKeyAddForm.Meta.fields if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    @admin.display(boolean=True, description="Expired")
    def expired(self, obj):
        return obj.is_expired

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        key, secret = services.create_api_key(
            form.cleaned_data["user"], description=form.cleaned_data["description"], end_time=form.cleaned_data["end_time"]
        )
        obj.pk, obj.secret_id, obj.secret_key_hash, obj.created_at = key.pk, key.secret_id, key.secret_key_hash, key.created_at
        messages.warning(
            request,
            f"Secret id {key.secret_id}, secret key {secret} — copy it now, it is stored only as a hash and not shown again.",
        )

    @admin.action(description="Deactivate (revoke) selected keys")
    def deactivate(self, request, queryset):
        count = queryset.filter(is_active=True).update(is_active=False)
        services.forget_cached_keys()
        self.message_user(request, f"{count} key{'s' if count != 1 else ''} deactivated.", messages.SUCCESS)


@admin.register(ResourceQuota)
class ResourceQuotaAdmin(admin.ModelAdmin):
    list_display = ("user", "cpu", "gpu", "memory_gb", "job_slots", "mig", "vgpu", "start_time", "end_time")
    list_filter = ("user__team", "gpu", "end_time")
    search_fields = ("user__username", "user__team__name")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)


@admin.register(StorageQuota)
class StorageQuotaAdmin(admin.ModelAdmin):
    list_display = ("user", "space", "inodes_quota", "start_time", "end_time")
    list_filter = ("user__team", "end_time")
    search_fields = ("user__username", "user__team__name")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)

    @admin.display(description="Space", ordering="bytes_quota")
    def space(self, obj):
        return filesizeformat(obj.bytes_quota)


@admin.register(TeamInvitation)
class TeamInvitationAdmin(admin.ModelAdmin):
    list_display = ("user", "team", "invited_by", "created_at")
    list_filter = ("team",)
    search_fields = ("user__username", "team__name")
    list_select_related = ("user", "team", "invited_by")
    raw_id_fields = ("user", "invited_by")
