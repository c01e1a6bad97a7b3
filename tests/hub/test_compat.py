"""hub-api.md: /api/modelLabel, /modelList, /api/model (GET, POST), /api/filesTable."""

import re

import pytest
from django.utils import timezone

from hub.models import Repository, Tag
from tests.factories import UserFactory

from .factories import make_repo, upload, vocabulary

pytestmark = pytest.mark.django_db


def test_model_label_lists_the_vocabulary_from_the_database_without_login(api_client):
    vocabulary({"task": ["Robotics", "Feature Extraction"], "language": ["English"], "other": ["Has a Space"]})
    response = api_client.get("/api/modelLabel")
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 0 and body["msg"] == "no login"
    assert body["data"] == {
        "task": ["Robotics", "Feature Extraction"],
        "library": [],
        "dataset": [],
        "language": ["English"],
        "other": ["Has a Space"],
    }


def test_model_label_says_success_when_logged_in(auth_client):
    assert auth_client.get("/api/modelLabel").json()["msg"] == "success"


def test_model_list_shape_paging_and_visibility(api_client, auth_client, user, other_user):
    for i in range(32):
        make_repo(other_user, f"public-{i:02d}")
    make_repo(other_user, "bob-secret", private=True)
    make_repo(user, "alice-secret", private=True)

    anonymous = api_client.get("/modelList").json()
    assert anonymous["code"] == 0 and anonymous["msg"] == "no login"
    assert anonymous["data"]["numTotalItems"] == 32
    rows = anonymous["data"]["modelList"]
    assert len(rows) == 30
    first = rows[0]
    assert set(first) == {"_id", "name", "author", "lastModified", "type", "downloads"}
    assert re.fullmatch(r"[0-9a-f]{24}", first["_id"])
    assert first["author"] == "bob" and first["type"] == "model" and first["downloads"] == 0
    assert re.fullmatch(r"\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{2}", first["lastModified"])
    page2 = api_client.get("/modelList", {"pageIndex": 2}).json()["data"]["modelList"]
    assert len(page2) == 2
    assert not {r["name"] for r in rows} & {r["name"] for r in page2}

    names = {r["name"] for r in auth_client.get("/modelList", {"pageIndex": 2}).json()["data"]["modelList"]}
    everything = auth_client.get("/modelList").json()["data"]
    assert everything["numTotalItems"] == 33
    assert "alice/alice-secret" in names | {r["name"] for r in everything["modelList"]}
    assert "bob/bob-secret" not in names | {r["name"] for r in everything["modelList"]}


def test_model_list_date_format_matches_the_example(api_client, other_user):
    repo = make_repo(other_user, "dated")
    Repository.objects.filter(pk=repo.pk).update(
        last_modified=timezone.make_aware(timezone.datetime(2023, 5, 9, 7, 5), timezone.get_default_timezone())
    )
    assert api_client.get("/modelList").json()["data"]["modelList"][0]["lastModified"] == "2023/5/9 7:05"


def test_model_list_filters_search_and_sort(api_client, other_user):
    make_repo(other_user, "bert-ner", tags={"task": ["Token Classification"], "language": ["English"]})
    make_repo(other_user, "bert-de", tags={"task": ["Token Classification"], "language": ["German"]})
    make_repo(other_user, "yolos-tiny", tags={"task": ["Object Detection"], "library": ["Timm"]})
    make_repo(other_user, "wiki-text", type="dataset", tags={"dataset": ["wikipedia"]})
    Repository.objects.filter(name="bert-de").update(downloads=50)
    Repository.objects.filter(name="yolos-tiny").update(downloads=10)

    def names(**params):
        return [r["name"] for r in api_client.get("/modelList", params).json()["data"]["modelList"]]

    assert set(names(task="Token Classification")) == {"bob/bert-ner", "bob/bert-de"}
    assert names(task="Token Classification", language="English") == ["bob/bert-ner"]
    assert names(library="Timm") == ["bob/yolos-tiny"]
    assert names(dataset="wikipedia") == ["bob/wiki-text"]
    assert names(name="BERT", sortType="name") == ["bob/bert-de", "bob/bert-ner"]
    assert names(sortType="downloads")[:2] == ["bob/bert-de", "bob/yolos-tiny"]
    assert names(sortType="recent")[0] == "bob/wiki-text"
    assert names(type="dataset") == ["bob/wiki-text"]
    assert names(task="No Such Task") == []


@pytest.mark.parametrize(
    "params",
    [{"pageIndex": "0"}, {"pageIndex": "x"}, {"sortType": "best"}, {"type": "space"}, {"name": "x" * 300}],
)
def test_model_list_bad_input_is_a_400_in_the_hub_envelope(api_client, params):
    response = api_client.get("/modelList", params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 400 and body["data"] == "" and body["msg"]


def test_get_model_answers_filters_and_options(auth_client, user):
    make_repo(user, "tiny", tags={"task": ["Text Generation"], "library": ["Transformers"]}, files={"a.txt": b"x"})
    response = auth_client.get("/api/model", {"name": "alice/tiny"})
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 0 and body["msg"] == "success"
    data = body["data"]
    assert data["activeFilters"] == {
        "task": ["Text Generation"],
        "library": ["Transformers"],
        "dataset": [],
        "language": [],
        "other": [],
    }
    options = data["options"]
    assert options["name"] == "alice/tiny" and options["author"] == "alice" and options["type"] == "model"
    assert options["isPrivate"] is False and options["downloads"] == 0
    assert options["lastModifiedInformation"] == "Add files"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", options["lastModified"])
    assert options["avatar"] and re.fullmatch(r"[0-9a-f]{24}", options["id"])


def test_get_model_needs_login_and_hides_other_users_private_repositories(api_client, auth_client, other_user):
    make_repo(other_user, "hidden", private=True)
    assert api_client.get("/api/model", {"name": "bob/hidden"}).json()["code"] == 401
    response = auth_client.get("/api/model", {"name": "bob/hidden"})
    assert response.status_code == 404 and response.json()["code"] == 404
    assert auth_client.get("/api/model", {"name": "bob/none"}).status_code == 404


@pytest.mark.parametrize("params", [{}, {"name": "no-slash"}, {"name": "a/b/c"}, {"name": "bob/x", "type": "space"}])
def test_get_model_bad_input(auth_client, params):
    response = auth_client.get("/api/model", params)
    assert response.status_code == 400 and response.json()["code"] == 400


def test_post_model_creates_a_repository_with_a_card(auth_client, user):
    response = auth_client.post(
        "/api/model",
        {
            "name": "my-model",
            "type": "model",
            "isPrivate": True,
            "tags": {"task": ["Text Generation"], "language": ["English"]},
            "license": "mit",
            "description": "A model of mine.",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["code"] == 0
    assert body["data"]["options"]["name"] == "alice/my-model"
    assert body["data"]["options"]["isPrivate"] is True
    assert body["data"]["activeFilters"]["task"] == ["Text Generation"]
    repo = Repository.objects.get(full_name="alice/my-model")
    assert repo.private and repo.license == "mit" and repo.head is not None
    assert set(repo.head.entries.values_list("path", flat=True)) == {"README.md"}
    assert Tag.objects.filter(category="task", name="Text Generation").exists()
    # A dataset can share the name.
    again = auth_client.post("/api/model", {"name": "alice/my-model", "type": "dataset"}, format="json")
    assert again.status_code == 200 and again.json()["data"]["options"]["type"] == "dataset"


@pytest.mark.parametrize(
    "body,status",
    [
        ({}, 400),
        ({"name": "bad name"}, 400),
        ({"name": "-x"}, 400),
        ({"name": "a/b/c"}, 400),
        ({"name": "a--b"}, 400),
        ({"name": "x", "type": "space"}, 400),
        ({"name": "x", "isPrivate": "maybe"}, 400),
        ({"name": "x", "tags": {"colour": ["red"]}}, 400),
        ({"name": "x", "tags": ["red"]}, 400),
        ({"name": "x", "tags": {"task": ["a" * 200]}}, 400),
        ({"name": "x", "license": "not a license"}, 400),
        ({"name": "bob/x"}, 403),
    ],
)
def test_post_model_bad_input(auth_client, body, status):
    response = auth_client.post("/api/model", body, format="json")
    assert response.status_code == status, response.content
    assert response.json()["code"] == status and response.json()["data"] == ""


def test_post_model_conflict_and_login(api_client, auth_client, user):
    make_repo(user, "taken")
    response = auth_client.post("/api/model", {"name": "taken"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == 409
    assert api_client.post("/api/model", {"name": "anon"}, format="json").json()["code"] == 401


def test_files_table_rows(auth_client, user):
    repo = make_repo(user, "files", files={"config.json": b"{}", "data/train.jsonl": b'{"text": "a"}\n'})
    upload(repo, user, {"data/test.jsonl": b'{"text": "b"}\n'}, message="Add test split")
    response = auth_client.get("/api/filesTable", {"name": "alice/files", "type": "model"})
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 0
    rows = body["data"]["filesTable"]
    assert [r["fileName"] for r in rows] == ["data", "config.json"]
    folder, config = rows
    assert folder["isAFolder"] is True and "size" not in folder
    assert folder["lastModifiedInformation"] == "Add test split"
    assert config == {
        "key": "config.json",
        "fileName": "config.json",
        "isAFolder": False,
        "lastModified": config["lastModified"],
        "lastModifiedInformation": "Add files",
        "size": 2,
        "fileURL": "http://testserver/alice/files/resolve/main/config.json",
    }
    inner = auth_client.get("/api/filesTable", {"name": "alice/files", "path": "data"}).json()["data"]["filesTable"]
    assert [(r["key"], r["size"]) for r in inner] == [("data/test.jsonl", 14), ("data/train.jsonl", 14)]
    # An older revision has no test split.
    first = repo.commits.order_by("created_at", "id").first().oid
    old = auth_client.get("/api/filesTable", {"name": "alice/files", "path": "data", "revision": first[:10]})
    assert [r["key"] for r in old.json()["data"]["filesTable"]] == ["data/train.jsonl"]


def test_files_table_for_datasets_links_to_dataset_routes(auth_client, user):
    make_repo(user, "corpus", type="dataset", files={"train/a.jsonl": b"{}\n"})
    rows = auth_client.get("/api/filesTable", {"name": "alice/corpus", "type": "dataset", "path": "train"}).json()
    assert rows["data"]["filesTable"][0]["fileURL"] == "http://testserver/datasets/alice/corpus/resolve/main/train/a.jsonl"


def test_files_table_of_an_empty_repository_is_empty(auth_client, user):
    make_repo(user, "empty")
    assert auth_client.get("/api/filesTable", {"name": "alice/empty"}).json()["data"] == {"filesTable": []}


@pytest.mark.parametrize(
    "params,status",
    [
        ({}, 400),
        ({"name": "alice/files", "type": "space"}, 400),
        ({"name": "alice/files", "path": "../etc"}, 400),
        ({"name": "alice/files", "path": "nope"}, 404),
        ({"name": "alice/files", "revision": "0123456789abcdef"}, 404),
        ({"name": "alice/missing"}, 404),
    ],
)
def test_files_table_bad_input(auth_client, user, params, status):
    make_repo(user, "files", files={"a.txt": b"a"})
    response = auth_client.get("/api/filesTable", params)
    assert response.status_code == status and response.json()["code"] == status


def test_files_table_of_another_users_private_repository_is_404(auth_client, api_client):
    carol = UserFactory(username="carol")
    make_repo(carol, "private-files", private=True, files={"a.txt": b"a"})
    assert auth_client.get("/api/filesTable", {"name": "carol/private-files"}).status_code == 404
    assert api_client.get("/api/filesTable", {"name": "carol/private-files"}).status_code == 401
