import pytest

from images import services
from images.models import ImageLayer, ImageStatus, ImageTag

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported(user):
    image = services.create_image(owner=user, name="crucible/serve", labels=["demo"], overview="A serving image")
    tag = ImageTag.objects.create(
        image=image, tag="1.0", file_url="Image/serve.tar", status=ImageStatus.SUCCESS, archive_format="docker-save",
        config_digest="sha256:" + "c" * 64, architecture="amd64", os="linux", entrypoint=["/app/run.sh"],
        cmd=["--serve"], env=["MODEL_DIR=/models"], exposed_ports=["8080/tcp"], size=4096,
    )
    ImageLayer.objects.create(image_tag=tag, position=1, digest="sha256:" + "a" * 64, size=4000, media_type="tar")
    ImageTag.objects.create(image=image, tag="broken", file_url="x.tar", status=ImageStatus.FAILED, reason="truncated archive")
    return image


def test_list_and_detail(client, user, imported):
    client.force_login(user)
    page = client.get("/images/").content.decode()
    assert "crucible/serve" in page and "/registry/" in page
    detail = client.get(f"/images/{imported.uid}/").content.decode()
    for text in ("amd64", "/app/run.sh", "8080/tcp", "MODEL_DIR=/models", "sha256:aaaaaaaa", "truncated archive", "broken"):
        assert text in detail, text


def test_pages_are_private(client, other_user, imported):
    assert client.get("/images/").status_code == 302  # login first
    client.force_login(other_user)
    assert "crucible/serve" not in client.get("/images/").content.decode()
    assert client.get(f"/images/{imported.uid}/").status_code == 404
