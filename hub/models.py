"""The model and dataset hub: repositories, their commits, and content-addressed files.

A repository's history is a chain of commits; each commit holds a full snapshot of its
tree as TreeEntry rows (path -> blob), so any revision can be listed without walking the
chain. Blobs are stored once per sha256 through Django's default storage.
"""

import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.scoping import ScopedQuerySet


class RepoType(models.TextChoices):
    MODEL = "model", _("Model")
    DATASET = "dataset", _("Dataset")


class TagCategory(models.TextChoices):
    TASK = "task", _("Task")
    LIBRARY = "library", _("Library")
    DATASET = "dataset", _("Dataset")
    LANGUAGE = "language", _("Language")
    OTHER = "other", _("Other")


class Tag(models.Model):
    """One label of the /api/modelLabel vocabulary: its Hugging Face id (`slug`: `text-generation`,
    `en`) and its display name (`name`: `Text Generation`, `English`); hub.vocabulary maps either
    spelling to the one tag."""

    category = models.CharField(max_length=16, choices=TagCategory.choices)
    slug = models.CharField(max_length=100)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["category", "id"]
        constraints = [
            models.UniqueConstraint(fields=["category", "name"], name="hub_tag_unique_category_name"),
            models.UniqueConstraint(fields=["category", "slug"], name="hub_tag_unique_category_slug"),
        ]

    def __str__(self):
        return f"{self.category}:{self.name}"


def new_uid():
    """A 24-hex public id, the shape of the spec's `_id` examples."""
    return secrets.token_hex(12)


LIST_INCLUDE = ["private", "type", "owner"]


class RepositoryQuerySet(ScopedQuerySet):
    public = {"private": False}


class Repository(models.Model):
    uid = models.CharField(max_length=24, unique=True, default=new_uid, editable=False)
    type = models.CharField(max_length=8, choices=RepoType.choices, default=RepoType.MODEL)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="hub_repositories")
    name = models.CharField(max_length=96)
    # "owner/name", kept with the row so that search and sort by name need no join.
    full_name = models.CharField(max_length=250)
    private = models.BooleanField(default=False)
    license = models.CharField(max_length=64, blank=True, default="")
    tags = models.ManyToManyField(Tag, blank=True, related_name="repositories")
    downloads = models.PositiveBigIntegerField(default=0)
    head = models.ForeignKey(
        "Commit", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Head of branch main"
    )
    last_modified = models.DateTimeField()
    last_message = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)


    objects = RepositoryQuerySet.as_manager()
    class Meta:
        verbose_name_plural = "repositories"
        ordering = ["full_name"]
        constraints = [
            models.UniqueConstraint(fields=["type", "owner", "name"], name="hub_repo_unique_type_owner_name"),
        ]
        indexes = [
            # One index per sort of the list (selectors.SORTS), in its exact order, so a page
            # is read off the index without sorting; on PostgreSQL they also carry the
            # visibility columns, so the ids of a deep page are found by an index-only scan
            # (selectors.page_of).
            models.Index(fields=["type", "full_name"], name="hub_repo_type_full_name"),
            models.Index(fields=["full_name", "id"], name="hub_repo_full_name_id", include=LIST_INCLUDE),
            models.Index(
                fields=["-downloads", "-last_modified", "-id"], name="hub_repo_downloads_id", include=LIST_INCLUDE
            ),
            models.Index(fields=["-last_modified", "-id"], name="hub_repo_last_modified_id", include=LIST_INCLUDE),
            models.Index(fields=["-created_at", "-id"], name="hub_repo_created_id", include=LIST_INCLUDE),
        ]

    def __str__(self):
        return f"{self.type}:{self.full_name}"

    @property
    def url_prefix(self):
        """Path prefix of the Hugging Face style routes: "" for models, "datasets/" for datasets."""
        return "datasets/" if self.type == RepoType.DATASET else ""


class Commit(models.Model):
    repo = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="commits")
    # 40 hex: sha1 over the tree, parent, author, time and message (see hub.services.commit_id).
    oid = models.CharField(max_length=40, db_index=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    message = models.CharField(max_length=500)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["repo", "oid"], name="hub_commit_unique_repo_oid")]

    def __str__(self):
        return f"{self.oid[:8]} {self.message}"


class Blob(models.Model):
    """File content, stored once per sha256 under `storage_name` in default_storage."""

    sha256 = models.CharField(max_length=64, unique=True)
    # What Hugging Face calls the oid: the git blob id of the content ("blob <size>\\0<bytes>"),
    # or for LFS-sized files (hub.storage.LFS_THRESHOLD) the git blob id of the LFS pointer.
    git_oid = models.CharField(max_length=40)
    size = models.PositiveBigIntegerField()
    storage_name = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.sha256[:12]} ({self.size} bytes)"


class TreeEntry(models.Model):
    """One file of one commit's snapshot."""

    commit = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="entries")
    path = models.CharField(max_length=1000)
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="entries")
    # The commit that last changed this path (for "last modified" columns).
    last_commit = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["path"]
        verbose_name_plural = "tree entries"
        constraints = [models.UniqueConstraint(fields=["commit", "path"], name="hub_entry_unique_commit_path")]

    def __str__(self):
        return self.path


class RefKind(models.TextChoices):
    BRANCH = "branch", "Branch"
    TAG = "tag", "Tag"


class Ref(models.Model):
    """A branch or tag other than main (main is `Repository.head`): a name pointing at a commit.

    A commit to a branch moves it; a tag stays where it was made."""

    repo = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="refs")
    kind = models.CharField(max_length=8, choices=RefKind.choices)
    name = models.CharField(max_length=200)
    commit = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="refs")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [models.UniqueConstraint(fields=["repo", "kind", "name"], name="hub_ref_unique_repo_kind_name")]

    def __str__(self):
        return f"{self.kind}:{self.name}"


class LfsObject(models.Model):
    """Content given to a repository through the LFS batch API, so a commit may name it by
    sha256 before any commit holds it. Blobs no commit holds are orphans
    (`manage.py hub_orphan_blobs`)."""

    repo = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="lfs_objects")
    blob = models.ForeignKey(Blob, on_delete=models.CASCADE, related_name="lfs_objects")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repo", "blob"], name="hub_lfsobject_unique_repo_blob")]


class LfsUpload(models.Model):
    """A multipart LFS upload in progress: parts land at their offset in one temporary file
    (`temp_name`, under MEDIA_ROOT), so an interrupted upload resumes with the missing parts."""

    repo = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="lfs_uploads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    part_size = models.PositiveBigIntegerField()
    temp_name = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repo", "sha256", "size"], name="hub_lfsupload_unique_repo_oid_size")
        ]

    @property
    def part_count(self):
        return max(1, -(-self.size // self.part_size))

    def part_length(self, number):
        if number < self.part_count:
            return self.part_size
        return self.size - self.part_size * (self.part_count - 1)


class LfsPart(models.Model):
    """One stored part of an LfsUpload; `etag` names the write that stored it (random)."""

    upload = models.ForeignKey(LfsUpload, on_delete=models.CASCADE, related_name="parts")
    number = models.PositiveIntegerField()
    etag = models.CharField(max_length=64)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["upload", "number"], name="hub_lfspart_unique_upload_number")]


class ListGeneration(models.Model):
    """One row whose `value` grows whenever a change could alter which repositories a list
    holds (a repository created or deleted, made private or public, renamed, retagged).
    Cached list counts are keyed by it, so a count is never served after such a change,
    in any process (hub.selectors.cached_count)."""

    value = models.PositiveBigIntegerField(default=0)
