"""The clean API's repository list: a django-filter FilterSet and the clean API's limit/offset pages."""

import pytest

from .factories import make_repo

pytestmark = pytest.mark.django_db

URL = "/api/v1/hub/repos"


def names(client, **params):
    return [row["full_name"] for row in client.get(URL, params).json()["results"]]


def test_pages_of_twenty_with_links(api_client, other_user):
    for i in range(21):
        make_repo(other_user, f"r{i:02d}")
    first = api_client.get(URL, {"sort": "name"}).json()
    assert first["count"] == 21 and len(first["results"]) == 20 and first["previous"] is None
    assert first["results"][0]["full_name"] == "bob/r00" and first["results"][0]["head"] is None
    second = api_client.get(first["next"]).json()
    assert [row["full_name"] for row in second["results"]] == ["bob/r20"] and second["next"] is None
    assert api_client.get(URL, {"offset": 40}).json()["results"] == []


def test_filters(api_client, auth_client, user, other_user):
    make_repo(other_user, "bert-en", tags={"task": ["Token Classification"], "language": ["English"]})
    make_repo(other_user, "bert-de", tags={"task": ["Token Classification"], "language": ["German"]})
    make_repo(other_user, "corpus", type="dataset", tags={"language": ["English"]})
    make_repo(user, "mine", private=True)
    assert names(api_client, task="Token Classification", sort="name") == ["bob/bert-de", "bob/bert-en"]
    assert names(api_client, task="Token Classification", language="en") == ["bob/bert-en"]  # any spelling
    assert names(api_client, language="English,German") == []  # comma separated: all of them
    assert names(api_client, type="dataset") == ["bob/corpus"]
    assert names(api_client, search="BERT-E") == ["bob/bert-en"]
    assert names(api_client, task="Nothing") == []
    assert "alice/mine" not in names(api_client) and "alice/mine" in names(auth_client)
    for bad in ({"type": "space"}, {"sort": "best"}, {"search": "x" * 201}):
        assert api_client.get(URL, bad).status_code == 400, bad
