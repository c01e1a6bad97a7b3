"""Importing an image from the images page: the tarball uploaded by the form, stored in the
researcher's files, verified by the worker, shown on the image page."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from files.models import FileNode
from images.builders import build_docker_save, demo_files
from images.models import ImageImportJob, ImageStatus, ImageTag
from tests.worker import wait_until


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_alice_imports_a_docker_save_tarball_from_the_page(celery_worker, client, user):
    data, details = build_docker_save(demo_files())
    client.force_login(user)
    page = client.get("/images/").content.decode()
    assert 'data-testid="image-import-form"' in page and "upload-progress.js" in page
    response = client.post("/images/import/", {
        "name": "lab/server", "tag": "1.0", "tarball": SimpleUploadedFile("server.tar", data)})
    tag = ImageTag.objects.get(image__name="lab/server", tag="1.0")
    assert response.status_code == 302 and response["Location"] == f"/images/{tag.image.uid}/"
    assert FileNode.objects.get(owner=user, space="private", path="images/lab_server-1.0.tar").size == len(data)
    importing = client.get(response["Location"]).content.decode()
    assert 'hx-trigger="every 2s"' in importing or "Ready" in importing or "成功" in importing
    job = ImageImportJob.objects.get(image_tag=tag)
    wait_until(lambda: ImageImportJob.objects.get(pk=job.pk).is_finished, timeout=60, message="image import")
    tag.refresh_from_db()
    assert tag.status == ImageStatus.SUCCESS and tag.config_digest == details["config_digest"]
    done = client.get(response["Location"]).content.decode()
    assert details["config_digest"] in done and 'hx-trigger="every 2s"' not in done


@pytest.mark.django_db
def test_the_form_explains_what_is_wrong_and_imports_nothing(client, user, other_user, settings):
    client.force_login(user)
    response = client.post("/images/import/", {"name": "lab/x", "tag": "1.0",
                                               "tarball": SimpleUploadedFile("notes.txt", b"hello")})
    assert response.status_code == 400 and "choose a .tar, .tar.gz or .tgz file" in response.content.decode()
    response = client.post("/images/import/", {"name": "bad name!", "tag": "1.0",
                                               "tarball": SimpleUploadedFile("x.tar", b"x")})
    assert response.status_code == 400 and "imageName" not in response.content.decode().split("errorlist")[0]
    settings.FILES_MAX_UPLOAD_BYTES = 10
    response = client.post("/images/import/", {"name": "lab/y", "tag": "1.0",
                                               "tarball": SimpleUploadedFile("y.tar", b"x" * 100)})
    assert response.status_code == 400 and "larger than the limit" in response.content.decode()
    assert not ImageTag.objects.exists() and not ImageImportJob.objects.exists()
    client.logout()
    assert client.post("/images/import/", {"name": "lab/z", "tag": "1"}).status_code == 302  # to the login page


@pytest.mark.django_db
def test_the_import_form_needs_the_csrf_token(user):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    response = strict.post("/images/import/", {"name": "lab/x", "tag": "1.0",
                                               "tarball": SimpleUploadedFile("x.tar", b"x")})
    assert response.status_code == 403 and not ImageTag.objects.exists()
