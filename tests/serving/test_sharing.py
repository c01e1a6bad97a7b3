"""Shared services: private by default, shared with everyone or the owner's team by its owner
(clean API, service page, admin); callable by others through /v1 as owner/name; never managed by them."""

import pytest

from serving import selectors, services
from serving.models import ModelService, ServiceEvent
from tests.factories import UserFactory

from .conftest import client_for, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_service(user, tiny_gpt2_dir):
    app_version = register(user, "tiny-app", tiny_gpt2_dir)
    service, _ = services.create_service(owner=user, name="tiny",
                                         versions=[services.VersionSpec(registry_version=app_version.uid, rate=100)])
    return service


def chat(client, model):
    return client.post("/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "hi"}]},
                       format="json")


def test_a_service_is_private_by_default(user, other_user, alice_service):
    assert alice_service.sharing == "private"
    bob = client_for(other_user)
    assert bob.get("/v1/models").json()["data"] == []
    for name in ("tiny", "alice/tiny"):
        response = chat(bob, name)
        assert response.status_code == 404, response.content
        assert response.json()["error"]["code"] == "model_not_found"
    assert bob.get("/v1/models/alice/tiny").status_code == 404
    # Bob can neither read nor share it.
    assert bob.get(f"/api/v1/serving/services/{alice_service.uid}").status_code == 404
    assert bob.patch(f"/api/v1/serving/services/{alice_service.uid}", {"sharing": "everyone"},
                     format="json").status_code == 404
    alice_service.refresh_from_db()
    assert alice_service.sharing == "private"


def test_shared_with_everyone_through_the_clean_api(user, other_user, alice_service):
    alice = client_for(user)
    response = alice.patch(f"/api/v1/serving/services/{alice_service.uid}", {"sharing": "everyone"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["sharing"] == "everyone" and response.json()["shared_team"] is None
    assert ServiceEvent.objects.filter(service=alice_service, message__startswith="shared with everyone").exists()

    bob = client_for(other_user)
    models = bob.get("/v1/models").json()["data"]
    assert [(m["id"], m["owned_by"], m["shared"]) for m in models] == [("alice/tiny", "alice", True)]
    assert bob.get("/v1/models/alice/tiny").json()["id"] == "alice/tiny"
    # Found (it is not running, so 503), by owner/name and by its plain name.
    for name in ("alice/tiny", "tiny"):
        response = chat(bob, name)
        assert response.status_code == 503 and "no running replica" in response.json()["error"]["message"]
    # Alice still calls it by its name and sees it as hers.
    assert [(m["id"], m["shared"]) for m in alice.get("/v1/models").json()["data"]] == [("tiny", False)]
    # Bob still cannot manage it.
    assert bob.post(f"/api/v1/serving/services/{alice_service.uid}/stop").status_code == 404
    assert client_for(other_user).get(f"/serving/{alice_service.uid}/").status_code in (302, 404)

    # Bob's own service of the same name wins over the shared one for the plain name.
    assert selectors.get_callable_service(other_user, "tiny") == alice_service
    bobs = ModelService.objects.create(owner=other_user, name="tiny")
    assert selectors.get_callable_service(other_user, "tiny") == bobs
    assert selectors.get_callable_service(other_user, "alice/tiny") == alice_service

    assert alice.patch(f"/api/v1/serving/services/{alice_service.uid}", {"sharing": "private"},
                       format="json").status_code == 200
    assert chat(bob, "alice/tiny").status_code == 404


def test_shared_with_the_owners_team(user, other_user, alice_service):
    carol = UserFactory(username="carol", team=user.team)
    assert services.set_sharing(actor=user, service=alice_service, sharing="team").shared_team == user.team
    assert [r["name"] for r in selectors.callable_services(carol)] == ["alice/tiny"]
    assert selectors.callable_services(other_user) == []  # bob is in another team
    assert chat(client_for(other_user), "alice/tiny").status_code == 404
    assert chat(client_for(carol), "alice/tiny").status_code == 503  # found; not running


@pytest.mark.parametrize("body", [{"sharing": "world"}, {"sharing": 1}, {}, {"sharing": "everyone", "x": 1}])
def test_bad_sharing_is_400(user, alice_service, body):
    response = client_for(user).patch(f"/api/v1/serving/services/{alice_service.uid}", body, format="json")
    assert response.status_code == 400, response.content
    alice_service.refresh_from_db()
    assert alice_service.sharing == "private"


def test_team_sharing_needs_a_team(user, alice_service):
    user.team = None
    user.save()
    response = client_for(user).patch(f"/api/v1/serving/services/{alice_service.uid}", {"sharing": "team"},
                                      format="json")
    assert response.status_code == 400 and "no team" in response.content.decode()


def test_create_shared_through_the_clean_api(user, other_user, tiny_gpt2_dir):
    app_version = register(user, "tiny-app", tiny_gpt2_dir)
    response = client_for(user).post("/api/v1/serving/services", {
        "name": "open", "versions": [{"registry_version": app_version.uid}], "deploy": False, "sharing": "everyone",
    }, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["sharing"] == "everyone"
    assert [r["name"] for r in selectors.callable_services(other_user)] == ["alice/open"]


def test_the_service_page_shares_it(user, other_user, alice_service, client):
    client.force_login(user)
    page = client.get(f"/serving/{alice_service.uid}/").content.decode()
    assert 'data-testid="sharing"' in page and "Private (only the owner)" in page
    response = client.post(f"/serving/{alice_service.uid}/sharing", {"sharing": "everyone"})
    assert response.status_code == 302
    alice_service.refresh_from_db()
    assert alice_service.sharing == "everyone"
    assert "Now: Everyone on the platform" in client.get(f"/serving/{alice_service.uid}/").content.decode()
    client.post(f"/serving/{alice_service.uid}/sharing", {"sharing": "nonsense"})
    alice_service.refresh_from_db()
    assert alice_service.sharing == "everyone"

    client.force_login(other_user)
    assert client.post(f"/serving/{alice_service.uid}/sharing", {"sharing": "private"}).status_code == 404
    playground = client.get("/serving/playground/").content.decode()
    assert '<option value="alice/tiny"' in playground and "shared by alice" in playground


def test_admin_sets_sharing(user, alice_service, client):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    listing = client.get("/admin/serving/modelservice/").content.decode()
    assert "Sharing" in listing
    page = client.get(f"/admin/serving/modelservice/{alice_service.pk}/change/").content.decode()
    assert 'name="sharing"' in page
