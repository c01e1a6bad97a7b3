from django.contrib import admin

from .models import AiApplication, AiApplicationVersion, VersionImportJob


class VersionInline(admin.TabularInline):
    model = AiApplicationVersion
    fields = ["number", "version", "source", "status", "size_bytes", "scale", "commit"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(AiApplication)
class AiApplicationAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "type", "developer", "repository", "created_at"]
    list_filter = ["type", "created_at"]
    search_fields = ["name", "uid", "owner__username", "developer", "repository__full_name"]
    raw_id_fields = ["owner", "repository"]
    readonly_fields = ["uid", "created_at", "modified_at"]
    inlines = [VersionInline]


@admin.register(AiApplicationVersion)
class AiApplicationVersionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "number", "source", "status", "size_bytes", "parameter_count", "scale", "created_at"]
    list_filter = ["source", "status", "save_type", "created_at"]
    search_fields = ["uid", "version", "application__name", "application__owner__username", "model_structure"]
    raw_id_fields = ["application", "image", "image_tag", "commit", "created_by"]
    readonly_fields = ["uid", "number", "commit", "files", "size_bytes", "parameter_count", "created_at", "modified_at"]


@admin.register(VersionImportJob)
class VersionImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "version", "owner", "status", "progress", "created_at", "finished_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["version__application__name", "version__version", "owner__username", "error"]
    raw_id_fields = ["owner", "version"]
    readonly_fields = ["log", "error", "worker", "heartbeat_at", "started_at", "finished_at"]
