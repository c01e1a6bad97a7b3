import io

import pytest

from images import seed
from images.models import ImageStatus, ImageTag
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_seed_imports_the_demo_image_once():
    UserFactory(username="researcher")
    out = io.StringIO()
    seed.run(out)
    tag = ImageTag.objects.get(image__name=seed.IMAGE_NAME, tag="1.0")
    assert tag.status == ImageStatus.SUCCESS, tag.reason
    assert tag.layers.count() == 1 and tag.entrypoint == ["/app/run.sh"] and tag.import_job.status == "succeeded"
    seed.run(out)
    assert ImageTag.objects.filter(image__name=seed.IMAGE_NAME).count() == 1
    assert "present" in out.getvalue()
