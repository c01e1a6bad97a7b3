"""The clean API's repository list: a django-filter FilterSet and DRF's page-number pagination."""

import pytest

from .factories import make_repo

pytestmark = pytest.mark.django_db

URL = "/api/v1/hub/repos"


def names(client, **params):
    return [row["full_name"] for row in client.get(URL, params).json()["results"]]


def test_pages_of_thirty_with_links(api_client, other_user):
    for i in range(31):
        make_repo(other_user, f"r{i:02d}")
    first = api_client.get(URL, {"sort": "name"}).json()
    assert first["count"] == 31 and len(first["results"]) == 30 and first["previous"] is None
    assert first["results"][0]["full_name"] == "bob/r00" and first["results"][0]["head"] is None
    second = api_client.get(first["next"]).json()
    assert [row["full_name"] for row in second["results"]] == ["bob/r30"] and second["next"] is None
    assert api_client.get(URL, {"page": 3}).status_code == 404


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
