"""Container images: a named image with several tags, each tag one imported tarball.

A tag's import reads a `docker save` archive or an OCI image layout from the owner's
file space, verifies every digest and stores the config and layers, content addressed,
in the image store (settings.IMAGES_STORE_DIR/blobs/sha256/<hex>).
"""

import uuid

from django.conf import settings
from django.db import models

from core.models import Job
from core.scoping import ScopedQuerySet


def new_uid():
    """32 hex characters, the shape of the spec's ids."""
    return uuid.uuid4().hex


class ImageStatus(models.IntegerChoices):
    """`imageStatus` of the spec (1 成功 as in its example)."""

    EMPTY = 0, "未上传"
    SUCCESS = 1, "成功"
    IMPORTING = 2, "上传中"
    FAILED = 3, "失败"


class ArchiveFormat(models.TextChoices):
    DOCKER = "docker-save", "docker save"
    OCI = "oci", "OCI image layout"


class ImageQuerySet(ScopedQuerySet):
    """Images are private to their owner."""


class Image(models.Model):
    uid = models.CharField(max_length=32, unique=True, default=new_uid, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="images")
    name = models.CharField(max_length=128)
    icon = models.CharField(max_length=500, blank=True, default="")
    overview = models.CharField(max_length=2000, blank=True, default="")
    labels = models.JSONField(default=list, blank=True)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)


    objects = ImageQuerySet.as_manager()
    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="images_image_unique_owner_name")]

    def __str__(self):
        return self.name


class ImageTag(models.Model):
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="tags")
    tag = models.CharField(max_length=128)
    status = models.PositiveSmallIntegerField(choices=ImageStatus.choices, default=ImageStatus.IMPORTING)
    reason = models.TextField(blank=True, default="", help_text="why the import failed")
    file_url = models.CharField(max_length=1024, help_text="tarball path in the owner's private file space")
    archive_format = models.CharField(max_length=16, choices=ArchiveFormat.choices, blank=True, default="")
    # From the image config.
    config_digest = models.CharField(max_length=71, blank=True, default="", help_text="sha256:<hex>, the image id")
    manifest_digest = models.CharField(max_length=71, blank=True, default="")
    architecture = models.CharField(max_length=32, blank=True, default="")
    os = models.CharField(max_length=32, blank=True, default="")
    variant = models.CharField(max_length=32, blank=True, default="")
    entrypoint = models.JSONField(default=list, blank=True)
    cmd = models.JSONField(default=list, blank=True)
    env = models.JSONField(default=list, blank=True)
    exposed_ports = models.JSONField(default=list, blank=True)
    working_dir = models.CharField(max_length=1024, blank=True, default="")
    repo_tags = models.JSONField(default=list, blank=True, help_text="tags recorded in the archive")
    size = models.PositiveBigIntegerField(default=0, help_text="config plus layers, bytes")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["image", "tag"], name="images_tag_unique_image_tag")]

    def __str__(self):
        return f"{self.image.name}:{self.tag}"


class ImageLayer(models.Model):
    image_tag = models.ForeignKey(ImageTag, on_delete=models.CASCADE, related_name="layers")
    position = models.PositiveIntegerField()
    digest = models.CharField(max_length=71, help_text="sha256:<hex> of the layer as stored")
    diff_id = models.CharField(max_length=71, blank=True, default="", help_text="sha256 of the uncompressed layer")
    size = models.PositiveBigIntegerField()
    media_type = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["image_tag_id", "position"]
        constraints = [models.UniqueConstraint(fields=["image_tag", "position"], name="images_layer_unique_position")]

    def __str__(self):
        return f"{self.digest[:19]} ({self.size} bytes)"


class ImageImportJob(Job):
    """Reads one tarball into one tag. The limits are copied from settings when it is created."""

    task_name = "images.import_image"

    image_tag = models.OneToOneField(ImageTag, on_delete=models.CASCADE, related_name="import_job")
    max_members = models.PositiveIntegerField()
    max_member_bytes = models.PositiveBigIntegerField()
    max_total_bytes = models.PositiveBigIntegerField()

    class Meta(Job.Meta):
        verbose_name = "image import job"

    def __str__(self):
        return f"import {self.image_tag} ({self.status})"
