"""List totals are cached per query, and stay exact: every change of which repositories a
list holds moves the list generation on."""

from hub import services
from hub.models import Repository
from tests.hub.factories import make_repo, upload


def total(client, **params):
    return client.get("/modelList", params).json()["data"]["numTotalItems"]


def test_cached_totals_follow_every_change(api_client, user, other_user, django_assert_max_num_queries):
    make_repo(user, "one", tags={"task": ["Robotics"]})
    make_repo(other_user, "two")
    assert total(api_client) == 2 and total(api_client, task="Robotics") == 1
    with django_assert_max_num_queries(4):  # the generation, the page, owners, tags: no count
        assert total(api_client) == 2

    three = make_repo(other_user, "three", tags={"task": ["Robotics"]})
    assert total(api_client) == 3 and total(api_client, task="Robotics") == 2
    three.private = True
    three.save()
    assert total(api_client) == 2 and total(api_client, task="Robotics") == 1
    # A README that changes the tags changes the filtered total.
    upload(Repository.objects.get(name="one"), user, {"README.md": b"---\npipeline_tag: Other\n---\n"})
    assert total(api_client, task="Robotics") == 0 and total(api_client, task="Other") == 1
    # A commit that leaves the tags alone keeps the cached total.
    upload(Repository.objects.get(name="two"), other_user, {"weights.bin": b"w"})
    assert total(api_client) == 2
    services.delete_repository(repo=Repository.objects.get(name="two"), user=other_user)
    assert total(api_client) == 1


def test_tag_filters_need_every_tag(api_client, user, other_user):
    make_repo(user, "a", tags={"task": ["Robotics"], "language": ["English"]})
    make_repo(user, "b", tags={"task": ["Robotics"]})
    make_repo(other_user, "c", tags={"task": ["Robotics"], "language": ["English"]})
    make_repo(other_user, "d", tags={"language": ["English"]})

    def names(**params):
        body = api_client.get("/modelList", {"sortType": "name", **params}).json()["data"]
        return [r["name"] for r in body["modelList"]], body["numTotalItems"]

    expected = (["alice/a", "bob/c"], 2)
    assert names(task="Robotics", language="English") == expected
    assert names(language="English", task="Robotics", sortType="recent")[1] == 2
    assert names(task="Robotics") == (["alice/a", "alice/b", "bob/c"], 3)
    assert names(task="Nope") == ([], 0)
