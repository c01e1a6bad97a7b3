"""Writes of the images app: create images, start tag imports, run an import."""

import re

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.selectors import storage_status
from core.errors import Conflict, InvalidInput, NotFound, QuotaExceeded, TooLarge
from core.services import enqueue_job
from files.paths import normalize_path
from files.selectors import get_file, open_file

from . import tarball
from .models import Image, ImageImportJob, ImageLayer, ImageStatus, ImageTag
from .selectors import get_image_for_user

# A docker repository name: lowercase components separated by "/", each made of
# letters and digits joined by ".", "_", "__" or "-" runs ("dzq/45", "zjm/a", "my-org/base.cuda").
NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*\Z")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
NAME_MAX = 128
LABELS_MAX = 20
LABEL_MAX = 50


def clean_text(value, field, max_length):
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput("must be a string", field=field)
    value = value.strip()
    if len(value) > max_length:
        raise InvalidInput(f"at most {max_length} characters", field=field)
    if "\x00" in value:
        raise InvalidInput("must not contain NUL", field=field)
    return value


def clean_name(value, field="name"):
    name = clean_text(value, field, NAME_MAX)
    if not name:
        raise InvalidInput("is required", field=field)
    if not NAME_RE.match(name):
        raise InvalidInput(
            f"{field}: lowercase letters and digits, separated by '.', '_', '-' or '/' (like dzq/45), "
            f"at most {NAME_MAX} characters"
        )
    return name


def clean_tag(value):
    tag = clean_text(value, "tag", 128) or "latest"
    if not TAG_RE.match(tag):
        raise InvalidInput("letters, digits, '_', '.' and '-', not starting with '.' or '-', at most 128", field="tag")
    return tag


def clean_labels(value):
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or len(value) > LABELS_MAX:
        raise InvalidInput(f"a list of at most {LABELS_MAX} labels", field="labels")
    labels = []
    for item in value:
        label = clean_text(item, "labels", LABEL_MAX)
        if label and label not in labels:
            labels.append(label)
    return labels


def create_image(*, owner, name, icon="", overview="", labels=None, description=""):
    name = clean_name(name)
    fields = {
        "icon": clean_text(icon, "icon", 500),
        "overview": clean_text(overview, "overview", 2000),
        "labels": clean_labels(labels),
        "description": clean_text(description, "description", 5000),
    }
    try:
        with transaction.atomic():
            return Image.objects.create(owner=owner, name=name, **fields)
    except IntegrityError:
        raise Conflict(f"you already have an image named {name}") from None


def start_import(*, owner, image, file_url, tag):
    """Create (or retry a failed) tag of `image` from the tarball at `file_url` in the owner's
    private file space, and enqueue its import job."""
    tag = clean_tag(tag)
    if not isinstance(file_url, str) or not file_url.strip():
        raise InvalidInput("is required (a tarball in your private file space)", field="file_url")
    path = normalize_path(file_url, field="file_url")
    try:
        node = get_file(owner, "private", path)
    except NotFound:
        raise InvalidInput(f"no file /{path} in your private file space", field="file_url") from None
    if node.size > settings.IMAGES_MAX_TARBALL_BYTES:
        raise TooLarge(f"/{path} has {node.size} bytes; the limit is {settings.IMAGES_MAX_TARBALL_BYTES}", field="file_url")
    quota_left = storage_status(owner)["bytes_remain"]
    if quota_left is not None and node.size > quota_left:
        raise QuotaExceeded(
            f"importing /{path} stages at least its {node.size} bytes; "
            f"your storage quota has {quota_left} bytes left", field="file_url",
        )
    with transaction.atomic():
        Image.objects.select_for_update().get(pk=image.pk)
        existing = ImageTag.objects.filter(image=image, tag=tag).first()
        if existing is not None:
            if existing.status != ImageStatus.FAILED:
                raise Conflict(f"{image.name}:{tag} already exists ({existing.get_status_display()})")
            existing.delete()
        image_tag = ImageTag.objects.create(image=image, tag=tag, file_url=path, status=ImageStatus.IMPORTING)
        job = ImageImportJob.objects.create(
            owner=owner,
            image_tag=image_tag,
            max_members=settings.IMAGES_MAX_MEMBERS,
            max_member_bytes=settings.IMAGES_MAX_MEMBER_BYTES,
            max_total_bytes=settings.IMAGES_MAX_TOTAL_BYTES,
        )
        image.save(update_fields=["updated_at"])
        enqueue_job(job)
    return image_tag


def image_for_upload(*, owner, image_id=None, name=None):
    """The image an import names: by id, else by name (created if new)."""
    if image_id not in (None, ""):
        image = get_image_for_user(owner, image_id)
        if image.owner_id != owner.pk:
            raise NotFound(f"image {image_id} not found")
        return image
    if name in (None, ""):
        raise InvalidInput("an image id or a name is required", field="image_id")
    if isinstance(name, list):  # one name in a list
        if len(name) != 1:
            raise InvalidInput("one name", field="name")
        name = name[0]
    name = clean_name(name)
    image = Image.objects.filter(owner=owner, name=name).first()
    return image or create_image(owner=owner, name=name)


def fail_tag(image_tag, reason):
    ImageTag.objects.filter(pk=image_tag.pk, status=ImageStatus.IMPORTING).update(
        status=ImageStatus.FAILED, reason=str(reason)[:4000]
    )


def run_import(job, handle):
    """The body of images.import_image: read the tarball, verify it, record the tag."""
    image_tag = ImageTag.objects.select_related("image__owner").get(pk=job.image_tag_id)
    owner = image_tag.image.owner
    store = tarball.ImageStore(settings.IMAGES_STORE_DIR)
    handle.log(f"importing /{image_tag.file_url} as {image_tag}")
    try:
        archive_bytes = get_file(owner, "private", image_tag.file_url).size
        limits = tarball.Limits(
            job.max_members,
            job.max_member_bytes,
            job.max_total_bytes,
            max_stream_bytes=tarball.expansion_cap(archive_bytes, settings.IMAGES_MAX_EXPANSION_RATIO),
            # Staging stays within the owner's storage quota (None: no quota).
            quota_bytes=storage_status(owner)["bytes_remain"],
        )
        with open_file(owner, "private", image_tag.file_url) as fileobj:
            info = tarball.import_archive(fileobj, store, limits, log=handle.log)
    except tarball.ArchiveError as exc:
        fail_tag(image_tag, exc)
        raise
    except NotFound as exc:
        fail_tag(image_tag, f"the tarball is gone: {exc.message}")
        raise
    except Exception as exc:
        fail_tag(image_tag, f"internal error: {type(exc).__name__}: {exc}")
        raise
    with transaction.atomic():
        ImageLayer.objects.bulk_create(
            ImageLayer(image_tag=image_tag, position=index, **layer) for index, layer in enumerate(info["layers"], 1)
        )
        ImageTag.objects.filter(pk=image_tag.pk).update(
            status=ImageStatus.SUCCESS,
            reason="",
            archive_format=info["format"],
            config_digest=info["config_digest"],
            manifest_digest=info["manifest_digest"],
            architecture=info["architecture"],
            os=info["os"],
            variant=info["variant"],
            entrypoint=info["entrypoint"],
            cmd=info["cmd"],
            env=info["env"],
            exposed_ports=info["exposed_ports"],
            working_dir=info["working_dir"],
            repo_tags=info["repo_tags"],
            size=info["size"],
        )
    handle.log(f"{image_tag}: {len(info['layers'])} layers, {info['size']} bytes, {info['config_digest']}")
    return info["config_digest"]
