"""Reads of the images app: visibility, the paged list, display helpers."""

import re

from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone

from core.errors import InvalidInput, NotFound

from .models import Image, ImageStatus, ImageTag

UID_RE = re.compile(r"^[0-9a-f]{32}\Z")
PAGE_SIZE_DEFAULT = 10
PAGE_SIZE_MAX = 100


def visible_images(user):
    """Images are private: a user sees their own (platform admins see all)."""
    return Image.objects.select_related("owner").visible_to(user)


def with_latest_tag(qs):
    latest = ImageTag.objects.filter(image=OuterRef("pk")).order_by("-created_at", "-id")
    return qs.annotate(
        tag_count=Count("tags", distinct=True),
        latest_tag=Subquery(latest.values("tag")[:1]),
        latest_status=Subquery(latest.values("status")[:1]),
        latest_size=Subquery(latest.values("size")[:1]),
    )


def get_image_for_user(user, image_id):
    if not isinstance(image_id, (str, int)) or isinstance(image_id, bool):
        raise InvalidInput("must be a string", field="image_id")
    value = str(image_id).strip()
    qs = with_latest_tag(visible_images(user))
    if UID_RE.match(value):
        image = qs.filter(uid=value).first()
    elif value.isdigit() and len(value) < 19:
        image = qs.filter(pk=int(value)).first()
    else:
        raise InvalidInput("not an image id", field="image_id")
    if image is None:
        raise NotFound(f"image {value} not found")
    return image


def search_images(user, names=()):
    """Newest first; `names` are substrings, any of which may match the name."""
    qs = with_latest_tag(visible_images(user))
    if names:
        query = Q()
        for name in names:
            query |= Q(name__icontains=name)
        qs = qs.filter(query)
    return qs.order_by("-created_at", "-id")


def tags_of(image):
    return list(image.tags.prefetch_related("layers").order_by("-created_at", "-id"))


def find_tag(user, reference):
    """A successfully imported tag by "name:tag" (tag default latest) or "<image id>:<tag>"."""
    if not isinstance(reference, str) or not reference.strip():
        raise InvalidInput("image: is required")
    name, _, tag = reference.strip().rpartition(":")
    if not name or "/" in tag:
        name, tag = reference.strip(), "latest"
    images = visible_images(user)
    image = images.filter(uid=name).first() if UID_RE.match(name) else images.filter(name=name).first()
    if image is None:
        raise InvalidInput(f"image: no image {name} of yours")
    found = image.tags.filter(tag=tag).first()
    if found is None or found.status != ImageStatus.SUCCESS:
        raise InvalidInput(f"image: {image.name}:{tag} is not an imported image")
    return found


def human_size(count):
    """1153434 -> "1.1MB"."""
    if count is None:
        return "0B"
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{int(size)}B" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.1f}TB"


def spec_time(value):
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else None
