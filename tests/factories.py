import time
from pathlib import Path

import factory
from django.core.files.base import ContentFile
from django.db import OperationalError
from django.contrib.auth import get_user_model

from accounts.models import Team

PASSWORD = "correct-horse-battery-staple"


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"team-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    role = "researcher"
    team = factory.SubFactory(TeamFactory)
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def upload_tree(user, contents, attempts=5):
    """{path: bytes} into the user's private space in one batch. On SQLite a write that races
    the worker's heartbeat can meet "database is locked" at once; the batch is all or
    nothing, so it is simply tried again."""
    from files import services as files

    uploads = [files.Upload(path, ContentFile(data, name=Path(path).name)) for path, data in contents.items()]
    for attempt in range(attempts):
        try:
            return files.upload_files(actor=user, owner=user, space="private", folder="", uploads=uploads)
        except OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)
            for upload in uploads:
                upload.content.seek(0)
