from django.contrib import admin

from .models import SgtModel, SgtTrainingJob, TrainChunk


class TrainChunkInline(admin.TabularInline):
    model = TrainChunk
    fields = ("rows", "width", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(SgtModel)
class SgtModelAdmin(admin.ModelAdmin):
    list_display = (
        "name", "app_name", "owner", "user_unique_id", "model_type", "in_size", "out_size", "is_public",
        "train_state", "sample_count", "last_loss", "epochs_trained", "weights_version", "updated_at",
    )
    list_filter = ("model_type", "is_public", "train_state", "app_name")
    search_fields = ("name", "app_name", "user_unique_id", "owner__username")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    readonly_fields = ("weights_version", "weights_path", "loss_history", "trained_at", "created_at", "updated_at")
    inlines = [TrainChunkInline]


@admin.register(TrainChunk)
class TrainChunkAdmin(admin.ModelAdmin):
    list_display = ("id", "sgt_model", "rows", "width", "created_at")
    list_filter = ("created_at",)
    search_fields = ("sgt_model__name", "sgt_model__app_name", "sgt_model__user_unique_id")
    list_select_related = ("sgt_model",)
    exclude = ("data",)
    readonly_fields = ("sgt_model", "rows", "width", "created_at")


@admin.register(SgtTrainingJob)
class SgtTrainingJobAdmin(admin.ModelAdmin):
    list_display = ("id", "sgt_model", "owner", "status", "progress", "samples", "epochs", "final_loss", "seconds",
                    "created_at", "finished_at")
    list_filter = ("status", "created_at")
    search_fields = ("sgt_model__name", "sgt_model__app_name", "owner__username", "worker", "error")
    list_select_related = ("sgt_model", "owner")
    raw_id_fields = ("sgt_model", "owner")
    readonly_fields = ("log", "error", "started_at", "finished_at", "heartbeat_at", "worker", "attempts")
