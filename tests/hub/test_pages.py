"""Hub pages rendered through the Django test client."""

import pytest

from hub.models import Repository

from .factories import make_repo

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def test_browse_with_facets_search_sort_and_htmx_partial(client, user, other_user):
    make_repo(other_user, "bert-ner", tags={"task": ["Token Classification"]})
    make_repo(other_user, "yolos", tags={"task": ["Object Detection"]})
    make_repo(other_user, "hidden", private=True, tags={"task": ["Object Detection"]})
    page = client.get("/hub/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "bob/bert-ner" in html and "bob/yolos" in html and "bob/hidden" not in html
    assert 'data-name="Object Detection">Object Detection <span class="count">1</span>' in html
    filtered = client.get("/hub/", {"task": "Object Detection"}, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in filtered and "bob/yolos" in filtered and "bob/bert-ner" not in filtered
    assert "tag task active" in filtered
    searched = client.get("/hub/", {"q": "BERT", "sort": "name"}).content.decode()
    assert "bob/bert-ner" in searched and "bob/yolos" not in searched
    # Bad parameters fall back to defaults instead of failing.
    assert client.get("/hub/", {"page": "x", "sort": "??", "type": "space"}).status_code == 200


def test_browse_pages(client, other_user):
    for i in range(31):
        make_repo(other_user, f"r{i:02d}")
    first = client.get("/hub/", {"sort": "name"}).content.decode()
    assert "Page 1 of 2" in first and "bob/r29" in first and "bob/r30" not in first
    second = client.get("/hub/", {"sort": "name", "page": 2}).content.decode()
    assert "bob/r30" in second


def test_repository_page_card_files_revisions_and_snippet(logged_in, user):
    repo = make_repo(
        user,
        "tiny",
        files={
            "README.md": b"---\npipeline_tag: text-generation\n---\n# Tiny\n\n<script>alert(1)</script>\n",
            "weights/model.bin": b"x" * 2048,
        },
    )
    html = logged_in.get("/hub/model/alice/tiny/").content.decode()
    assert "<h1>Tiny</h1>" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html
    assert "Text Generation" in html and "weights" in html and "Upload files" in html
    assert 'snapshot_download("alice/tiny")' in html and "HF_ENDPOINT=http://testserver" in html
    assert repo.head.oid[:8] in html
    inner = logged_in.get("/hub/model/alice/tiny/", {"path": "weights"}).content.decode()
    assert "model.bin" in inner and "2.0\xa0KB" in inner and "/alice/tiny/resolve/main/weights/model.bin" in inner
    assert "not found" in logged_in.get("/hub/model/alice/tiny/", {"path": "nope"}).content.decode()


def test_private_repository_pages_are_404_for_others(client, other_user, user):
    make_repo(other_user, "secret", private=True)
    assert client.get("/hub/model/bob/secret/").status_code == 404
    client.force_login(user)
    assert client.get("/hub/model/bob/secret/").status_code == 404
    assert client.get("/hub/model/bob/secret/upload/").status_code == 404
    assert client.get("/hub/space/bob/secret/").status_code == 404


def test_create_page(logged_in, user):
    assert logged_in.get("/hub/new/").status_code == 200
    response = logged_in.post(
        "/hub/new/", {"name": "fresh", "type": "dataset", "task": "Text Generation, Robotics", "license": "mit"}
    )
    assert response.status_code == 302 and response["Location"] == "/hub/dataset/alice/fresh/"
    repo = Repository.objects.get(full_name="alice/fresh", type="dataset")
    assert sorted(repo.tags.values_list("name", flat=True)) == ["Robotics", "Text Generation"]
    again = logged_in.post("/hub/new/", {"name": "fresh", "type": "dataset"})
    assert again.status_code == 200 and "already exists" in again.content.decode()
    bad = logged_in.post("/hub/new/", {"name": "bad name", "type": "model"})
    assert bad.status_code == 200 and "name must be" in bad.content.decode()


def test_create_and_upload_pages_need_login_and_ownership(client, logged_in, other_user):
    make_repo(other_user, "theirs")
    assert logged_in.get("/hub/model/bob/theirs/upload/").status_code == 403
    assert logged_in.get("/hub/model/bob/theirs/").status_code == 200
    client.logout()
    assert client.get("/hub/new/").status_code == 302
    assert client.get("/hub/model/bob/theirs/upload/").status_code == 302


def test_upload_page_renders_for_the_owner(logged_in, user):
    make_repo(user, "mine")
    html = logged_in.get("/hub/model/alice/mine/upload/").content.decode()
    assert 'data-batch-url="/alice/mine.git/info/lfs/objects/batch"' in html and 'id="upload-bar"' in html
    assert 'data-commit-url="/api/models/alice/mine/commit/main"' in html
