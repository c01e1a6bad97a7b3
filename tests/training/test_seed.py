import io

import pytest

from tests.factories import UserFactory
from training import seed
from training.models import LlmTask

pytestmark = pytest.mark.django_db


def test_seed_without_the_demo_hub_model_reports_and_creates_nothing():
    out = io.StringIO()
    seed.run(out)
    assert "no demo researcher" in out.getvalue()
    UserFactory(username="researcher")
    seed.run(out)
    assert "not created" in out.getvalue() and not LlmTask.objects.exists()


def test_seed_queues_one_demo_run(training_space, monkeypatch):
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(pk=training_space.pk).update(username="researcher")
    monkeypatch.setattr(seed, "DEMO_NAME", "demo")
    from training import services

    real = services.create_finetune

    def with_local_model(*, base_model, **arguments):  # the hub repository is not seeded here: use /Model
        return real(**arguments, base_folder="Model")

    monkeypatch.setattr(services, "create_finetune", with_local_model)
    out = io.StringIO()
    seed.run(out)
    seed.run(out)
    assert LlmTask.objects.filter(name="demo").count() == 1
    assert "queued" in out.getvalue() and "already there" in out.getvalue()
