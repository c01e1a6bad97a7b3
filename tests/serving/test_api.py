"""The clean API (/api/v1/serving/) and the domain services under it: snake_case shapes, a FilterSet
and the REST framework's paginator for the list, errors naming the domain's fields."""

import pytest

from core.errors import InvalidInput
from serving import services
from serving.services import VersionSpec

from .conftest import client_for, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def app_version(user, tiny_gpt2_dir):
    return register(user, "tiny-app", tiny_gpt2_dir)


def test_create_filter_and_page(user, other_user, app_version):
    client = client_for(user)
    for name in ("alpha", "beta", "alphabet"):
        response = client.post("/api/v1/serving/services", {
            "name": name, "deploy": False,
            "versions": [{"registry_version": app_version.uid, "rate": 70, "min_replicas": 1, "max_replicas": 2}],
        }, format="json")
        assert response.status_code == 201, response.content
    created = response.json()
    assert created["name"] == "alphabet" and created["owner"] == "alice" and created["status"] == "saved"
    version = created["versions"][0]
    assert (version["registry_version"], version["rate"], version["min_replicas"], version["max_replicas"]) == (
        app_version.uid, 70, 1, 2)

    listing = client.get("/api/v1/serving/services", {"name": "alpha"}).json()
    assert listing["count"] == 2 and [s["name"] for s in listing["results"]] == ["alphabet", "alpha"]
    first = client.get("/api/v1/serving/services", {"limit": 1, "offset": 1}).json()
    assert first["count"] == 3 and [s["name"] for s in first["results"]] == ["beta"] and first["next"]
    assert client_for(other_user).get("/api/v1/serving/services").json()["count"] == 0


def test_bad_input_names_the_domain_field(user, app_version):
    client = client_for(user)
    response = client.post("/api/v1/serving/services", {
        "name": "x", "versions": [{"registry_version": app_version.uid, "min_replicas": 2, "max_replicas": 1}],
    }, format="json")
    assert response.status_code == 400 and "versions.max_replicas" in response.json()["detail"]
    assert client.post("/api/v1/serving/services", {"name": "x", "versions": []}, format="json").status_code == 400
    for name, spec, field in [("x", VersionSpec(registry_version=app_version, rate=101), "versions.rate"),
                              ("x", VersionSpec(app_version.uid, req_method="grpc"), "versions.req_method"),
                              ("x", VersionSpec(app_version.uid, threshold=0), "versions.threshold"),
                              ("../x", VersionSpec(app_version.uid), "name")]:
        with pytest.raises(InvalidInput) as refused:
            services.create_service(owner=user, name=name, versions=[spec])
        assert refused.value.field == field and refused.value.message.startswith(f"{field}: ")


def test_deploy_a_registry_version_as_a_canary(user, other_user, app_version):
    service, first = services.deploy_registry_version(actor=user, name="tiny", version=VersionSpec(app_version.uid),
                                                      deploy=False)
    _, canary = services.deploy_registry_version(actor=user, service=service, version=VersionSpec(app_version, rate=10),
                                                 deploy=False)
    assert (first.number, canary.number, canary.rate) == (1, 2, 10)
    with pytest.raises(Exception, match="already have a service named tiny"):
        services.deploy_registry_version(actor=user, name="tiny", version=VersionSpec(app_version.uid))
    with pytest.raises(Exception, match="not found"):
        services.deploy_registry_version(actor=other_user, service=service, version=VersionSpec(app_version.uid))
