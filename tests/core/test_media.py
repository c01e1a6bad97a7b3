"""Stored files never go out from /media/ (only avatars do): with DEBUG on, as `bin/up` runs,
an anonymous caller (or another researcher) asking for a private object's storage name
under /media/ gets a 404, while its owner still downloads it through its checked view."""

import importlib

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import clear_url_caches
from rest_framework.test import APIClient

import config.urls
from accounts.services import issue_tokens
from files.models import FileNode, Space
from files.services import save_file
from hub.models import Blob
from sgt.services import weights_storage_name
from tests.experiments.helpers import finished_run
from tests.hub.factories import make_repo

pytestmark = pytest.mark.django_db

SECRET = b"alice's unpublished results\n"


@pytest.fixture(autouse=True)
def debug_urls(settings, tmp_path):
    """The URLs as a DEBUG instance builds them (bin/up's default)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.DEBUG = True
    importlib.reload(config.urls)
    clear_url_caches()
    yield
    settings.DEBUG = False
    importlib.reload(config.urls)
    clear_url_caches()


def jwt_client(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user)[0]}")
    return client


def assert_not_served(name, *clients):
    assert default_storage.exists(name)
    for client in clients:
        response = client.get(f"/media/{name}")
        assert response.status_code == 404, (name, response.status_code)


def test_a_private_hub_blob_is_not_under_media(user, other_user):
    make_repo(user, "secret-model", private=True, files={"weights.bin": SECRET})
    blob = Blob.objects.get()
    assert_not_served(blob.storage_name, Client(), jwt_client(other_user))
    # alice downloads it through the hub's resolve view, which checks her right.
    response = jwt_client(user).get("/alice/secret-model/resolve/main/weights.bin")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == SECRET
    assert jwt_client(other_user).get("/alice/secret-model/resolve/main/weights.bin").status_code in (401, 404)


def test_a_file_space_upload_is_not_under_media(user, other_user):
    node = save_file(owner=user, space=Space.PRIVATE, path="notes/secret.txt", content=ContentFile(SECRET))
    assert FileNode.objects.filter(pk=node.pk).exists()
    assert_not_served(node.storage_name, Client(), jwt_client(other_user))
    response = jwt_client(user).get("/api/v1/files/download", {"path": "/notes/secret.txt"})
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == SECRET


def test_sgt_weights_are_not_under_media_and_their_names_are_not_guessable(user):
    name = default_storage.save(weights_storage_name(7, 1), ContentFile(b"weights"))
    assert name.startswith("sgt/weights/7/v1-") and name.endswith(".safetensors")
    assert weights_storage_name(7, 1) != weights_storage_name(7, 1)
    # The old, guessable name of the issue.
    old = default_storage.save("sgt/weights/7/v1.safetensors", ContentFile(b"weights"))
    assert_not_served(name, Client())
    assert_not_served(old, Client())


def test_a_run_video_is_not_under_media(user, other_user):
    run = finished_run(user, video=SECRET)
    assert_not_served(run.video.name, Client(), jwt_client(other_user))
    response = jwt_client(user).get(f"/download_video?task_id={run.pk}")
    assert response.status_code == 200
    assert SECRET in b"".join(response.streaming_content)
    assert jwt_client(other_user).get(f"/download_video?task_id={run.pk}").status_code == 404


def test_avatars_are_still_served(user, client):
    name = default_storage.save("avatars/0123abcd.png", ContentFile(b"\x89PNG\r\n\x1a\n"))
    response = Client().get(f"/media/{name}")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
