import io

import pytest

from serving import seed
from serving.models import ModelService, ServingJob
from tests.factories import UserFactory

from .conftest import register

pytestmark = pytest.mark.django_db


def test_seed_deploys_the_demo_models_once(tiny_gpt2_dir, minilm_dir):
    researcher = UserFactory(username="researcher")
    register(researcher, "tiny-gpt2", tiny_gpt2_dir)
    register(researcher, "all-MiniLM-L6-v2", minilm_dir)
    out = io.StringIO()
    seed.run(out)
    services = {s.name: s for s in ModelService.objects.filter(owner=researcher)}
    assert set(services) == {"tiny-gpt2", "minilm"}
    assert (services["tiny-gpt2"].kind, services["minilm"].kind) == ("generate", "embedding")
    # The chat model is shared with everyone (every new user can chat with it); the other stays private.
    assert (services["tiny-gpt2"].sharing, services["minilm"].sharing) == ("everyone", "private")
    assert "researcher/tiny-gpt2 is shared with everyone" in out.getvalue()
    assert ServingJob.objects.filter(action="deploy", status="queued").count() == 2
    assert all(v.predict_max_replicas == 1 for s in services.values() for v in s.versions.all())
    ModelService.objects.filter(name="tiny-gpt2").update(sharing="private")  # as an older seed left it
    seed.run(out)
    assert ModelService.objects.count() == 2 and ServingJob.objects.count() == 2
    assert ModelService.objects.get(name="tiny-gpt2").sharing == "everyone"
    assert "2 demo services (0 new" in out.getvalue()


def test_seed_without_the_researcher_does_nothing():
    out = io.StringIO()
    seed.run(out)
    assert "skipped" in out.getvalue() and not ModelService.objects.exists()
