from django.contrib import admin

from .models import EvaluationTask, MetricValue


class MetricValueInline(admin.TabularInline):
    model = MetricValue
    extra = 0
    can_delete = False
    fields = ("name", "value")
    readonly_fields = fields


@admin.register(EvaluationTask)
class EvaluationTaskAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "owner", "kind", "status", "progress", "model_source", "model_ref", "data_ref", "created_at")
    list_filter = ("status", "kind", "model_source", "data_source")
    search_fields = ("name", "uid", "owner__username", "model_ref", "data_ref", "command")
    readonly_fields = ("uid", "log", "results", "details", "outputs", "heartbeat_at", "worker", "started_at", "finished_at")
    inlines = [MetricValueInline]


@admin.register(MetricValue)
class MetricValueAdmin(admin.ModelAdmin):
    list_display = ("task", "name", "value")
    list_filter = ("name", "task__kind")
    search_fields = ("name", "task__name")
