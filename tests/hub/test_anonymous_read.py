"""hub-api.md asks no login to read a repository: /api/model, /api/filesTable and the repository
page answer public repositories to anonymous callers; private ones stay hidden."""

import pytest

from .factories import make_repo

pytestmark = pytest.mark.django_db

FILES = {"config.json": b"{}", "data/train.jsonl": b'{"text": "a"}\n'}


def test_anonymous_callers_read_public_repositories(api_client, user):
    make_repo(user, "open", files=FILES)
    model = api_client.get("/api/model", {"name": "alice/open"})
    assert model.status_code == 200, model.content
    assert model.json()["code"] == 0
    options = model.json()["data"]["options"]
    assert options["name"] == "alice/open" and options["isPrivate"] is False
    table = api_client.get("/api/filesTable", {"name": "alice/open"})
    assert table.status_code == 200, table.content
    rows = table.json()["data"]["filesTable"]
    assert [row["fileName"] for row in rows] == ["data", "config.json"]
    assert rows[1]["fileURL"] == "http://testserver/alice/open/resolve/main/config.json"
    inner = api_client.get("/api/filesTable", {"name": "alice/open", "path": "data"}).json()["data"]["filesTable"]
    assert [row["key"] for row in inner] == ["data/train.jsonl"]
    # The file the row points at downloads without login too, and so does the page.
    assert api_client.get("/alice/open/resolve/main/config.json").status_code == 200
    page = api_client.get("/hub/model/alice/open/")
    assert page.status_code == 200 and "config.json" in page.content.decode()


def test_private_repositories_stay_hidden(api_client, auth_client, user, other_user):
    make_repo(other_user, "secret", private=True, files=FILES)
    for path in ("/api/model", "/api/filesTable"):
        anonymous = api_client.get(path, {"name": "bob/secret"})
        assert anonymous.status_code == 401 and anonymous.json()["code"] == 401
        missing = api_client.get(path, {"name": "bob/nothing"})
        assert missing.status_code == 401  # anonymous callers learn nothing about private names
        signed_in = auth_client.get(path, {"name": "bob/secret"})
        assert signed_in.status_code == 404 and signed_in.json()["code"] == 404
    assert api_client.get("/hub/model/bob/secret/").status_code == 404


def test_creating_still_needs_login(api_client):
    response = api_client.post("/api/model", {"name": "anon"}, format="json")
    assert response.status_code == 401 and response.json()["code"] == 401
