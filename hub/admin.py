from django.contrib import admin

from .models import Blob, Commit, Repository, Tag, TreeEntry


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "category"]
    list_filter = ["category"]
    search_fields = ["name"]


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    list_display = ["full_name", "type", "private", "downloads", "last_modified", "last_message"]
    list_filter = ["type", "private", "tags__category"]
    search_fields = ["full_name", "owner__username"]
    autocomplete_fields = ["tags"]
    raw_id_fields = ["owner", "head"]
    readonly_fields = ["uid", "created_at"]


@admin.register(Commit)
class CommitAdmin(admin.ModelAdmin):
    list_display = ["oid", "repo", "message", "author", "created_at"]
    list_filter = ["repo__type"]
    search_fields = ["oid", "message", "repo__full_name"]
    raw_id_fields = ["repo", "parent", "author"]


@admin.register(Blob)
class BlobAdmin(admin.ModelAdmin):
    list_display = ["sha256", "size", "storage_name", "created_at"]
    search_fields = ["sha256", "git_oid"]
    list_filter = ["created_at"]


@admin.register(TreeEntry)
class TreeEntryAdmin(admin.ModelAdmin):
    list_display = ["path", "commit", "blob", "last_commit"]
    search_fields = ["path", "commit__oid", "commit__repo__full_name"]
    list_filter = ["commit__repo__type"]
    raw_id_fields = ["commit", "blob", "last_commit"]
