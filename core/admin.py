from django import forms
from django.conf import settings
from django.contrib import admin, messages

from .models import DiagnosticJob, WorkerHeartbeat
from .services import enqueue_job, request_cancel

JOB_RECORD_FIELDS = (
    "status",
    "progress",
    "worker",
    "attempts",
    "max_attempts",
    "cancel_requested",
    "created_at",
    "started_at",
    "heartbeat_at",
    "finished_at",
    "error",
    "log",
)


class DiagnosticJobAddForm(forms.ModelForm):
    """Adding a diagnostic job in the admin enqueues it on the chosen queue."""

    queue = forms.ChoiceField(choices=[(q, q) for q in settings.JOB_QUEUES], initial="default")
    seconds = forms.FloatField(min_value=0.0, max_value=3600.0, initial=1.0, help_text="How long the job waits.")

    class Meta:
        model = DiagnosticJob
        fields = ("seconds", "queue")


@admin.register(DiagnosticJob)
class DiagnosticJobAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "progress", "seconds", "queue", "owner", "worker", "attempts", "created_at", "heartbeat_at")
    list_filter = ("status", "queue", "created_at")
    search_fields = ("worker", "error", "owner__username")
    list_select_related = ("owner",)
    readonly_fields = ("owner", "seconds", "queue", *JOB_RECORD_FIELDS)
    actions = ["enqueue_copy", "cancel"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = DiagnosticJobAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return DiagnosticJobAddForm.Meta.fields if obj is None else ("owner", "seconds", "queue", *JOB_RECORD_FIELDS)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        # The record is written by the worker; the admin only reads it (and cancels via the action).
        return False if obj is not None else super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        obj.owner = request.user
        super().save_model(request, obj, form, change)
        enqueue_job(obj)  # sent when the admin's transaction commits
        messages.info(request, f"Diagnostic job #{obj.pk} enqueued on queue {obj.queue}.")

    @admin.action(description="Enqueue a new diagnostic job like the selected ones")
    def enqueue_copy(self, request, queryset):
        for job in queryset:
            copy = DiagnosticJob.objects.create(owner=request.user, seconds=job.seconds, queue=job.queue)
            enqueue_job(copy)
        self.message_user(request, f"{queryset.count()} diagnostic job(s) enqueued.", messages.SUCCESS)

    @admin.action(description="Cancel selected jobs")
    def cancel(self, request, queryset):
        for job in queryset:
            request_cancel(job)
        self.message_user(request, "Cancellation requested.", messages.SUCCESS)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "pid", "queues", "sandbox", "started_at", "last_seen")
    list_filter = ("last_seen", "started_at")
    search_fields = ("hostname", "queues")
    readonly_fields = ("hostname", "pid", "queues", "sandbox", "started_at", "last_seen")

    def has_add_permission(self, request):
        return False  # workers write their own heartbeats
