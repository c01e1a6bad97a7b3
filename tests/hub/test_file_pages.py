"""The hub's file page (first rows of a dataset file, text, images) and the model card editor."""

import pytest

from hub.models import Repository
from tests.hub.factories import make_repo

pytestmark = pytest.mark.django_db

CSV = b"question,answer\nWhat is 2+2?,4\n<script>alert(1)</script>,x\n"


def test_a_dataset_file_shows_its_first_rows_escaped(client, user):
    make_repo(user, "qa", type="dataset", files={"train/data.csv": CSV, "README.md": b"# QA\n"})
    client.force_login(user)
    listing = client.get("/hub/dataset/alice/qa/?path=train").content.decode()
    assert 'href="/hub/dataset/alice/qa/blob/train/data.csv?rev=main"' in listing
    html = client.get("/hub/dataset/alice/qa/blob/train/data.csv").content.decode()
    assert 'data-testid="preview-table"' in html and "<th>question</th>" in html and "<td class=\"small\">4</td>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)</script>" not in html
    assert "/datasets/alice/qa/resolve/main/train/data.csv" in html  # the download link


def test_a_private_repository_file_is_hidden_from_others(client, user, other_user):
    make_repo(user, "secret", private=True, files={"notes.txt": b"private notes"})
    client.force_login(other_user)
    assert client.get("/hub/model/alice/secret/blob/notes.txt").status_code == 404
    client.logout()
    assert client.get("/hub/model/alice/secret/blob/notes.txt").status_code == 404
    client.force_login(user)
    assert "private notes" in client.get("/hub/model/alice/secret/blob/notes.txt").content.decode()
    assert client.get("/hub/model/alice/secret/blob/missing.txt").status_code == 404
    assert client.get("/hub/model/alice/secret/blob/../../etc/passwd").status_code == 404


def test_the_owner_edits_the_card_and_its_header_sets_the_tags(client, user, other_user):
    make_repo(user, "tiny", files={"README.md": b"# Tiny\n"})
    client.force_login(other_user)
    assert client.get("/hub/model/alice/tiny/edit/README.md").status_code == 403
    assert client.post("/hub/model/alice/tiny/edit/README.md", {"text": "# mine"}).status_code == 403
    client.force_login(user)
    form = client.get("/hub/model/alice/tiny/edit/README.md").content.decode()
    assert "# Tiny" in form
    card = "---\npipeline_tag: text-generation\nlanguage: [en]\nlicense: mit\n---\n# Tiny\n\nNow with a card.\n"
    response = client.post("/hub/model/alice/tiny/edit/README.md", {"text": card, "message": "Describe it"})
    assert response.status_code == 302
    repo = Repository.objects.get(full_name="alice/tiny")
    assert repo.last_message == "Describe it" and repo.commits.count() == 2 and repo.license == "mit"
    assert set(repo.tags.values_list("name", flat=True)) == {"Text Generation", "English"}
    page = client.get("/hub/model/alice/tiny/").content.decode()
    assert "Now with a card." in page and "Text Generation" in page


def test_materialize_copies_a_revision_and_stays_inside_its_folder(user, other_user, tmp_path):
    from core.errors import DomainError
    from hub import selectors
    from hub.models import Repository

    repo = make_repo(user, "weights", files={"config.json": b"{}", "sub/a.txt": b"one"})
    first = repo.head
    from tests.hub.factories import upload
    upload(repo, user, {"sub/a.txt": b"two"})
    repo = Repository.objects.get(pk=repo.pk)
    out = selectors.materialize(repo, tmp_path / "head")
    assert (out / "sub/a.txt").read_bytes() == b"two" and (out / "config.json").read_bytes() == b"{}"
    old = selectors.materialize(repo, tmp_path / "old", commit=first)
    assert (old / "sub/a.txt").read_bytes() == b"one"
    private = make_repo(user, "private", private=True, files={"x.txt": b"x"})
    with pytest.raises(DomainError):
        selectors.materialize_repository(other_user, private.full_name, tmp_path / "stolen")
    with pytest.raises(DomainError, match="has no commits"):
        selectors.materialize(make_repo(user, "empty"), tmp_path / "empty")
