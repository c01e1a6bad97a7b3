"""Keep ListGeneration moving with every change that can alter a list's membership, so
cached list counts (hub.selectors.cached_count) are never stale."""

from django.db.models import F
from django.db.models.signals import m2m_changed, post_delete, post_save

from .models import ListGeneration, Repository

# Saves that only touch these fields leave every list's membership as it was.
NEUTRAL_FIELDS = {"head", "last_modified", "last_message", "license", "downloads"}


def bump_list_generation():
    if not ListGeneration.objects.filter(pk=1).update(value=F("value") + 1):
        ListGeneration.objects.get_or_create(pk=1)


def repository_saved(sender, instance, created, update_fields=None, raw=False, **kwargs):
    if raw:
        return
    if created or update_fields is None or not set(update_fields) <= NEUTRAL_FIELDS:
        bump_list_generation()


def repository_deleted(sender, instance, **kwargs):
    bump_list_generation()


def tags_changed(sender, action, **kwargs):
    if action in ("post_add", "post_remove", "post_clear"):
        bump_list_generation()


def connect():
    post_save.connect(repository_saved, sender=Repository, dispatch_uid="hub.repository_saved")
    post_delete.connect(repository_deleted, sender=Repository, dispatch_uid="hub.repository_deleted")
    m2m_changed.connect(tags_changed, sender=Repository.tags.through, dispatch_uid="hub.tags_changed")
