"""The model registry: applications (a model with a history of versions) backed by the hub.

An application is one hub Repository (type model, owned by the application's owner);
each version is one hub Commit of it. The registry adds what the platform spec knows
about a version: where it came from, its framework, hyper-parameters, size, parameter
count and import status.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.models import Job
from core.scoping import ScopedQuerySet


def new_uid():
    """32 hex characters, the shape of the spec's ids ("3131d20c8b7e5d3d018b8ce8a04b0005")."""
    return uuid.uuid4().hex


class VersionSource(models.IntegerChoices):
    TRAINING = 1, _("Training result")
    IMAGE = 2, _("Custom image")
    LOCAL = 3, _("Local files")


def hyper_parameter(*, name, value="", type="string", value_range=(), editable=True, description=""):
    """One entry of a version's hyper_parameters, in the format the column has always stored (the
    HyperParameterDTO that section 3 answers)."""
    return {"paramName": name, "type": type, "value": value, "valueRange": list(value_range), "edit": editable,
            "description": description}


class VersionQuerySet(ScopedQuerySet):
    owner_field = "application__owner"


class VersionStatus(models.IntegerChoices):
    IMPORTING = 1, "Importing"
    IMPORTED = 2, "Imported"
    FAILED = 3, "Failed"


class SaveType(models.IntegerChoices):
    OBJECT_STORAGE = 1, "Object storage"
    LOCAL = 2, "Local storage"


class AiApplication(models.Model):
    uid = models.CharField(max_length=32, unique=True, default=new_uid, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ai_applications")
    name = models.CharField(max_length=96)
    type = models.CharField(max_length=32, blank=True, default="", help_text="model type, e.g. LLM")
    description = models.TextField(blank=True, default="")
    developer = models.CharField(max_length=100, blank=True, default="", help_text="model vendor")
    repository = models.OneToOneField(
        "hub.Repository", on_delete=models.PROTECT, related_name="ai_application", help_text="the hub model it is"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    objects = ScopedQuerySet.as_manager()  # the owner's applications (all of them for platform admins)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="registry_app_unique_owner_name")]

    def __str__(self):
        return f"{self.owner.username}/{self.name}"


class AiApplicationVersion(models.Model):
    """One immutable version. Only the import job fills in its results, once."""

    uid = models.CharField(max_length=32, unique=True, default=new_uid, editable=False)
    application = models.ForeignKey(AiApplication, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(help_text="1, 2, 3... per application, in creation order")
    version = models.CharField(max_length=32, help_text='dotted version, e.g. "0.0.1"')
    description = models.TextField(blank=True, default="")
    source = models.PositiveSmallIntegerField(choices=VersionSource.choices)
    status = models.PositiveSmallIntegerField(choices=VersionStatus.choices, default=VersionStatus.IMPORTING)
    error = models.TextField(blank=True, default="")
    # Where the files came from.
    save_type = models.PositiveSmallIntegerField(choices=SaveType.choices, default=SaveType.LOCAL)
    save_path = models.CharField(max_length=1024, blank=True, default="", help_text="folder in the private file space")
    config_save_type = models.PositiveSmallIntegerField(choices=SaveType.choices, default=SaveType.LOCAL)
    config_path = models.CharField(max_length=1024, blank=True, default="")
    image = models.ForeignKey(
        "images.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions"
    )
    image_tag = models.ForeignKey(
        "images.ImageTag", null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions"
    )
    image_ref = models.CharField(max_length=300, blank=True, default="", help_text="image as given (id or name:tag)")
    image_type = models.PositiveSmallIntegerField(null=True, blank=True, help_text="0 serving-framework image, 1 custom")
    train_task_version_id = models.CharField(max_length=64, blank=True, default="")
    llm_fine_tune_task_id = models.CharField(max_length=64, blank=True, default="")
    framework = models.IntegerField(null=True, blank=True)
    framework_style = models.IntegerField(null=True, blank=True)
    label = models.CharField(max_length=100, blank=True, default="")
    hyper_parameters = models.JSONField(default=list, blank=True)
    pre_deploy_label = models.CharField(max_length=32, default=new_uid)
    # Filled by the import.
    commit = models.ForeignKey("hub.Commit", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    files = models.JSONField(default=list, blank=True, help_text="[{path, size, sha256}] of this version's files")
    size_bytes = models.PositiveBigIntegerField(default=0)
    parameter_count = models.PositiveBigIntegerField(null=True, blank=True)
    scale = models.CharField(max_length=32, blank=True, default="", help_text='parameter scale, e.g. "124M"')
    model_structure = models.CharField(max_length=200, blank=True, default="")
    model_type = models.CharField(max_length=64, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    objects = VersionQuerySet.as_manager()  # scoped by the application's owner

    class Meta:
        ordering = ["application_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["application", "number"], name="registry_version_unique_number"),
            models.UniqueConstraint(fields=["application", "version"], name="registry_version_unique_version"),
        ]

    def __str__(self):
        return f"{self.application} {self.version}"

    @property
    def size_kb(self):
        return self.size_bytes / 1024


class VersionImportJob(Job):
    """Snapshots a version's files (from the file space, or an image's metadata) into the hub."""

    task_name = "registry.import_version"

    version = models.OneToOneField(AiApplicationVersion, on_delete=models.CASCADE, related_name="import_job")

    class Meta(Job.Meta):
        verbose_name = "version import job"

    def __str__(self):
        return f"import {self.version} ({self.status})"
