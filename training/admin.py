from django.contrib import admin

from .models import CodeTask, LlmTask, MetricRow


class MetricInline(admin.TabularInline):
    model = MetricRow
    extra = 0
    can_delete = False
    fields = ("step", "epoch", "loss", "eval_loss", "learning_rate", "tokens_per_second", "time")
    readonly_fields = fields


@admin.register(LlmTask)
class LlmTaskAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "owner", "is_pretrain", "strategy", "status", "progress", "attempts", "produced_version", "created_at")
    list_filter = ("status", "is_pretrain", "strategy", "model_source", "data_source")
    search_fields = ("name", "owner__username", "model_ref", "data_ref")
    readonly_fields = ("log", "checkpoints", "heartbeat_at", "worker", "started_at", "finished_at")
    inlines = [MetricInline]


@admin.register(MetricRow)
class MetricRowAdmin(admin.ModelAdmin):
    list_display = ("task", "step", "epoch", "loss", "eval_loss", "learning_rate", "tokens_per_second")
    list_filter = ("task__status",)
    search_fields = ("task__name",)


@admin.register(CodeTask)
class CodeTaskAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "owner", "type", "status", "exit_code", "memory_exceeded", "backend", "created_at")
    list_filter = ("status", "type", "backend", "memory_exceeded")
    search_fields = ("name", "owner__username", "command", "image")
    readonly_fields = ("log", "manifest", "outputs", "heartbeat_at", "worker", "started_at", "finished_at")
