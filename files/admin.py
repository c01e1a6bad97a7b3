from django.contrib import admin

from .models import FileNode


@admin.register(FileNode)
class FileNodeAdmin(admin.ModelAdmin):
    list_display = ("path", "owner", "space", "is_dir", "size", "modified_at")
    list_filter = ("space", "is_dir", "modified_at")
    search_fields = ("path", "owner__username", "sha256", "storage_name")
    list_select_related = ("owner",)
    raw_id_fields = ("owner", "parent")
    readonly_fields = ("sha256", "storage_name", "created_at")
    date_hierarchy = "modified_at"
