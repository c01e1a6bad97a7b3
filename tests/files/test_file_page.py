"""A file of a file space opens as a page with its first rows (core.preview) and a download link."""

import pytest

from .helpers import UPLOAD_FOLDER, a_file

pytestmark = pytest.mark.django_db


def test_a_file_page_previews_rows_and_stays_private(client, auth_client, user, other_user):
    rows = b'{"text": "hello", "label": 1}\n{"text": "<b>bold</b>", "label": 0}\n'
    auth_client.post(UPLOAD_FOLDER, {"file": a_file("train.jsonl", rows), "currentPath": "/Data"})
    client.force_login(user)
    listing = client.get("/files/private/Data").content.decode()
    assert 'href="/files/private/Data/train.jsonl" data-testid="view-file"' in listing
    html = client.get("/files/private/Data/train.jsonl").content.decode()
    assert 'data-kind="table"' in html and "<th>text</th>" in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "/api/v1/files/download?space=private&amp;owner=alice&amp;path=%2FData%2Ftrain.jsonl" in html
    client.force_login(other_user)
    assert "hello" not in client.get("/files/private/Data/train.jsonl").content.decode()
    assert client.get("/files/public/alice/Data/train.jsonl").status_code == 404
