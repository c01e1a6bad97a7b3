from django.conf import settings
from django.db import models


class Space(models.TextChoices):
    PRIVATE = "private", "Private"
    PUBLIC = "public", "Public"


class FileNode(models.Model):
    """One file or folder in a user's file space.

    `path` is normalised (files.paths.normalize_path): relative to the space root, "/"
    separated, no leading or trailing slash. The root itself has no row. A file's
    bytes live in Django's default storage under `storage_name`; a folder has none.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="file_nodes")
    space = models.CharField(max_length=8, choices=Space.choices, default=Space.PRIVATE)
    path = models.CharField(max_length=1024)
    name = models.CharField(max_length=255)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    is_dir = models.BooleanField(default=False)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    storage_name = models.CharField(max_length=512, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField()

    class Meta:
        ordering = ["owner_id", "space", "path"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "space", "path"], name="files_node_unique_path"),
        ]
        indexes = [models.Index(fields=["owner", "space", "parent"], name="files_node_listing")]

    def __str__(self):
        return f"{self.owner_id}:{self.space}:/{self.path}{'/' if self.is_dir else ''}"
