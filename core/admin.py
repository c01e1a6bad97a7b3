from django.contrib import admin

from .models import DiagnosticJob, WorkerHeartbeat


@admin.register(DiagnosticJob)
class DiagnosticJobAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "progress", "seconds", "queue", "worker", "attempts", "created_at", "heartbeat_at")
    list_filter = ("status", "queue")
    search_fields = ("worker", "error")


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "pid", "queues", "started_at", "last_seen")
    search_fields = ("hostname",)
