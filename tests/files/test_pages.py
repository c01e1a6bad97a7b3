"""The /files/ pages rendered by Django (the browser test drives them for real)."""

import pytest

from .helpers import UPLOAD_FOLDER, UPLOAD_PUBLIC, a_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_files(auth_client, user):
    auth_client.post(UPLOAD_FOLDER, {"file": a_file("secret.txt"), "currentPath": "/Data/train"})
    auth_client.post(UPLOAD_PUBLIC, {"file": a_file("shared.txt"), "publicUserId": user.username, "currentPath": "/"})
    return user


def test_private_space_page_lists_folders_with_breadcrumbs(client, alice_files):
    client.force_login(alice_files)
    response = client.get("/files/private/Data/train")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-name="secret.txt"' in html
    assert 'href="/files/private/Data"' in html  # breadcrumb
    assert "/api/v1/files/download?space=private&amp;owner=alice&amp;path=%2FData%2Ftrain%2Fsecret.txt" in html
    assert 'data-testid="mkdir-name"' in html
    # htmx asks for the listing alone.
    partial = client.get("/files/private/Data/train", HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<div id="file-listing">')


def test_other_users_public_space_is_read_only_and_private_is_hidden(client, alice_files, other_user):
    client.force_login(other_user)
    response = client.get("/files/public/alice/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-name="shared.txt"' in html
    assert "(read-only)" in html
    assert 'data-testid="upload-files"' not in html and 'data-action="delete"' not in html
    assert 'href="/files/public/alice/"' in client.get("/files/public/").content.decode()
    assert "secret.txt" not in client.get("/files/").content.decode()
    assert client.get("/files/private/Data").status_code == 404
    assert client.get("/files/public/nobody/").status_code == 404
    assert client.get("/files/public/alice/missing").status_code == 404


def test_pages_need_login(client):
    response = client.get("/files/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
