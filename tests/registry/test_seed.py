import io

import pytest

from hub import services as hub_services
from hub.seed import namespace
from registry import seed
from registry.models import AiApplication, VersionStatus
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_seed_registers_the_demo_hub_models_once(tiny_model_dir, tiny_parameter_count):
    researcher = UserFactory(username="researcher")
    owner = namespace("crucible")
    repo = hub_services.create_repository(owner=owner, name="tiny-gpt2")
    hub_services.commit_local_folder(repo=repo, author=owner, folder=tiny_model_dir, message="Add tiny GPT-2")
    out = io.StringIO()
    seed.run(out)
    app = AiApplication.objects.get(owner=researcher, name="tiny-gpt2")
    version = app.versions.get()
    assert version.status == VersionStatus.IMPORTED and version.parameter_count == tiny_parameter_count
    assert app.repository.owner == researcher and app.repository.private
    assert "all-MiniLM-L6-v2 is not in the hub; skipped" in out.getvalue()
    seed.run(out)
    assert AiApplication.objects.filter(owner=researcher).count() == 1 and app.versions.count() == 1
