from django.contrib import admin

from .models import Image, ImageImportJob, ImageLayer, ImageTag


class ImageTagInline(admin.TabularInline):
    model = ImageTag
    fields = ["tag", "status", "archive_format", "size", "config_digest", "reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "created_at", "updated_at"]
    list_filter = ["created_at"]
    search_fields = ["name", "uid", "owner__username", "description"]
    raw_id_fields = ["owner"]
    readonly_fields = ["uid", "created_at", "updated_at"]
    inlines = [ImageTagInline]


class ImageLayerInline(admin.TabularInline):
    model = ImageLayer
    fields = ["position", "digest", "diff_id", "size", "media_type"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(ImageTag)
class ImageTagAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "archive_format", "architecture", "os", "size", "created_at"]
    list_filter = ["status", "archive_format", "architecture", "os"]
    search_fields = ["image__name", "tag", "config_digest", "file_url"]
    raw_id_fields = ["image"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [ImageLayerInline]


@admin.register(ImageLayer)
class ImageLayerAdmin(admin.ModelAdmin):
    list_display = ["digest", "image_tag", "position", "size", "media_type"]
    list_filter = ["media_type"]
    search_fields = ["digest", "diff_id", "image_tag__image__name"]
    raw_id_fields = ["image_tag"]


@admin.register(ImageImportJob)
class ImageImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "image_tag", "owner", "status", "progress", "created_at", "finished_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["image_tag__image__name", "image_tag__tag", "owner__username", "error"]
    raw_id_fields = ["owner", "image_tag"]
    readonly_fields = ["log", "error", "worker", "heartbeat_at", "started_at", "finished_at"]
